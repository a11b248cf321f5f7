/**
 * Resources: the state of a job (flyteidl `Resource`), as plain objects.
 *
 *   return running('waiting for the export');
 *   return succeeded({ rows: 42, path: 's3://bucket/out.csv' });
 *   return failed('the export was cancelled', { code: 'Cancelled' });
 *
 * Outputs are a plain object of name -> JSON value; the host converts them
 * with the output types the task declares. `toWitResource` turns one into
 * the WIT `resource` record.
 */

import { NonRecoverableError } from './errors.js';
import { parseJson, stringifyJson } from './json.js';

/** Phases an agent may report, as the WIT `phase` enum spells them. */
export const PHASES = Object.freeze([
  'queued',
  'waiting-for-resources',
  'initializing',
  'running',
  'succeeded',
  'aborted',
  'failed',
  'retryable-failed',
]);

/** Phases after which propeller stops polling. */
export const TERMINAL_PHASES = Object.freeze(['succeeded', 'aborted', 'failed', 'retryable-failed']);

/**
 * @typedef {object} ResourceOptions
 * @property {string} [message] shown to users
 * @property {Array<{name: string, uri: string}>} [logLinks] links to the job's logs or console
 * @property {object} [customInfo] JSON-able details shown to users
 */

/**
 * A resource in any phase.
 * @param {string} phase one of PHASES
 * @param {ResourceOptions & {outputs?: object | Uint8Array}} [options]
 */
export function resource(phase, { message = '', outputs, logLinks = [], customInfo } = {}) {
  return { phase, message, outputs, logLinks, customInfo };
}

/**
 * The job finished. `outputs`: a plain object (name -> value), or the bytes
 * of a protobuf `flyteidl.core.LiteralMap` passed on as is.
 * @param {object | Uint8Array} [outputs]
 * @param {ResourceOptions} [options]
 */
export function succeeded(outputs = {}, options = {}) {
  return resource('succeeded', { ...options, outputs });
}

/** The job is still going. @param {string} [message] @param {ResourceOptions} [options] */
export function running(message = '', options = {}) {
  return resource('running', { ...options, message });
}

/** The job waits to start. @param {string} [message] @param {ResourceOptions} [options] */
export function queued(message = '', options = {}) {
  return resource('queued', { ...options, message });
}

/** The job failed for good. @param {string} message @param {ResourceOptions} [options] */
export function failed(message, options = {}) {
  return resource('failed', { ...options, message });
}

/** The job failed; propeller may retry it. @param {string} message @param {ResourceOptions} [options] */
export function retryableFailed(message, options = {}) {
  return resource('retryable-failed', { ...options, message });
}

function badResource(what) {
  return new NonRecoverableError(
    `the agent returned ${what}: return a Resource such as succeeded(outputs), running(message) or failed(message)`,
    'BadResource',
  );
}

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** JSON text of `value`, or a NonRecoverableError naming `what` and why. */
export function toJsonText(value, what) {
  let text;
  try {
    text = stringifyJson(value);
  } catch (e) {
    throw new NonRecoverableError(`${what} is not JSON-serialisable: ${e.message}`, 'NotJson');
  }
  if (text === undefined) {
    throw new NonRecoverableError(`${what} is not JSON-serialisable (${typeof value})`, 'NotJson');
  }
  return text;
}

/**
 * The WIT `resource` record for what an agent returned; throws a
 * NonRecoverableError (BadResource / NotJson) for anything else.
 */
export function toWitResource(value) {
  if (!isPlainObject(value)) {
    throw badResource(value === undefined ? 'nothing' : `${typeof value} ${safeString(value)}`);
  }
  const { phase, message = '', outputs, logLinks = [], customInfo } = value;
  if (!PHASES.includes(phase)) {
    throw badResource(`a resource with phase ${JSON.stringify(phase)} (phases: ${PHASES.join(', ')})`);
  }
  let witOutputs;
  if (phase === 'succeeded' && outputs !== undefined && outputs !== null) {
    if (outputs instanceof Uint8Array) {
      witOutputs = { tag: 'literal-map', val: outputs };
    } else if (isPlainObject(outputs)) {
      witOutputs = { tag: 'json', val: toJsonText(outputs, 'outputs') };
    } else {
      throw new NonRecoverableError(
        `outputs must be a plain object of output name -> value (or LiteralMap bytes), not ${safeString(outputs)}`,
        'BadOutputs',
      );
    }
  }
  if (!Array.isArray(logLinks)) throw badResource('logLinks that are not an array of {name, uri}');
  return {
    phase,
    message: String(message),
    outputs: witOutputs,
    logLinks: logLinks.map((link) => ({ name: String(link?.name ?? ''), uri: String(link?.uri ?? '') })),
    customInfo: customInfo === undefined || customInfo === null ? undefined : toJsonText(customInfo, 'customInfo'),
  };
}

/** The WIT record back as a Resource with parsed outputs (test helper). */
export function fromWitResource(record) {
  let outputs;
  if (record.outputs?.tag === 'json') outputs = parseJson(record.outputs.val);
  else if (record.outputs?.tag === 'literal-map') outputs = record.outputs.val;
  return {
    phase: record.phase,
    message: record.message,
    outputs,
    logLinks: record.logLinks,
    customInfo: record.customInfo === undefined ? undefined : parseJson(record.customInfo),
  };
}

function safeString(value) {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
