/**
 * The task an agent receives, as native values: `inputs` and `custom`
 * parsed from the JSON the host sends, config as an object, metadata with
 * labels/annotations/env as objects. `fromWitTask` builds it from the WIT
 * `task` record.
 */

import { NonRecoverableError } from './errors.js';
import { parseJson } from './json.js';

function parseJsonObject(text, what) {
  if (text === undefined || text === null || text === '') return {};
  let value;
  try {
    value = parseJson(text);
  } catch (e) {
    throw new NonRecoverableError(`the host sent ${what} that is not JSON (${e.message})`, 'BadJson');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new NonRecoverableError(`the host sent ${what} that is not a JSON object`, 'BadJson');
  }
  return value;
}

/**
 * WIT key-value pairs as an object. An indexed loop, not `Object.fromEntries`:
 * that walks an array iterator, and in a component SpiderMonkey set up the
 * array iterator's prototype again on every call (a tenth of a reused echo
 * call's time, measured with a profile; it is not kept from pre-init).
 */
function pairsToObject(pairs) {
  const object = {};
  if (!pairs) return object;
  for (let i = 0; i < pairs.length; i++) {
    const { key, value } = pairs[i];
    // As Object.fromEntries would: an own property, never the prototype.
    if (key === '__proto__') Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
    else object[key] = value;
  }
  return object;
}

/**
 * A WIT identifier's fields, copied one by one rather than spread: a spread
 * runs SpiderMonkey's self-hosted property copy, measurably dearer per call in
 * a reused component (with the short-text check in json.js: 1.1% of a JS echo
 * call's instructions).
 */
function copyIdentifier(id) {
  return { project: id.project, domain: id.domain, name: id.name, version: id.version, org: id.org };
}

function fromWitMetadata(meta) {
  if (!meta) return undefined;
  const id = meta.taskExecutionId;
  return {
    taskExecutionId: {
      task: copyIdentifier(id.task),
      nodeId: id.nodeId,
      executionProject: id.executionProject,
      executionDomain: id.executionDomain,
      executionName: id.executionName,
      retryAttempt: id.retryAttempt,
    },
    namespace: meta.namespace,
    labels: pairsToObject(meta.labels),
    annotations: pairsToObject(meta.annotations),
    k8sServiceAccount: meta.k8sServiceAccount,
    environmentVariables: pairsToObject(meta.environmentVariables),
  };
}

const MISSING = Symbol('missing');

/** One task, as an agent sees it. */
export class Task {
  constructor(fields) {
    Object.assign(this, fields);
  }

  /**
   * Input `name`; without a fallback a missing input is a NonRecoverableError
   * (code MissingInput) naming the inputs that are there.
   * @param {string} name
   * @param {unknown} [fallback]
   */
  input(name, fallback = MISSING) {
    if (Object.hasOwn(this.inputs, name)) return this.inputs[name];
    if (fallback !== MISSING) return fallback;
    const known = Object.keys(this.inputs);
    throw new NonRecoverableError(
      `the task has no input "${name}" (inputs: ${known.length ? known.join(', ') : 'none'})`,
      'MissingInput',
    );
  }
}

/** The WIT `task` record as a Task. */
export function fromWitTask(task) {
  const template = task.template;
  return new Task({
    taskType: template.category.name,
    category: { name: template.category.name, version: template.category.version },
    id: copyIdentifier(template.id),
    inputs: parseJsonObject(task.inputs, 'inputs'),
    custom: parseJsonObject(template.custom, 'TaskTemplate.custom'),
    config: pairsToObject(template.config),
    sql: template.sql ?? undefined,
    outputPrefix: task.outputPrefix,
    metadata: fromWitMetadata(task.metadata ?? undefined),
    idempotencyKey: task.idempotencyKey,
    templateRaw: template.raw,
    inputsRaw: task.inputsRaw,
  });
}
