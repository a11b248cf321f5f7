/**
 * The task an agent receives, as native values: `inputs` and `custom`
 * parsed from the JSON the host sends, config as an object, metadata with
 * labels/annotations/env as objects. `fromWitTask` wraps the WIT `task`
 * record; each field is converted when the agent first reads it.
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

/** Where a Task made by `fromWitTask` keeps the WIT record it reads from. */
const SOURCE = Symbol('wit task');

/**
 * Each field of a Task but `inputs`, and how it is read from the WIT `task`
 * record. These are converted on first read, not when the task arrives: on
 * QuickJS every step of the conversion is interpreted, and an agent that
 * reads only `inputs` (most do) would otherwise pay for the metadata,
 * config, custom and identifiers on every call (docs/performance.md, "The
 * JS SDK's per-call work on QuickJS"). `inputs` is parsed when the task
 * arrives, as a plain property: nearly every agent reads it, and a getter
 * would cost more than it saves.
 */
const FIELDS = {
  taskType: (t) => t.template.category.name,
  category: (t) => ({ name: t.template.category.name, version: t.template.category.version }),
  id: (t) => copyIdentifier(t.template.id),
  custom: (t) => parseJsonObject(t.template.custom, 'TaskTemplate.custom'),
  config: (t) => pairsToObject(t.template.config),
  sql: (t) => t.template.sql ?? undefined,
  outputPrefix: (t) => t.outputPrefix,
  metadata: (t) => fromWitMetadata(t.metadata ?? undefined),
  idempotencyKey: (t) => t.idempotencyKey,
  templateRaw: (t) => t.template.raw,
  inputsRaw: (t) => t.inputsRaw,
};

/** `value` as `task`'s own `name`: later reads and writes are plain. */
function settle(task, name, value) {
  Object.defineProperty(task, name, { value, writable: true, enumerable: true, configurable: true });
  return value;
}

/**
 * One task, as an agent sees it. Its fields read like plain properties and
 * can be assigned. `inputs` is there from the start (bad JSON in it is a
 * NonRecoverableError, BadJson, before the agent runs); the others (see
 * FIELDS) are converted from the WIT record the first time they are read,
 * so bad JSON in `custom` is that error when `custom` is read. Until read,
 * such a field is not an own property: spread (`{ ...task }`) copies only
 * `inputs` and what was read, while `JSON.stringify(task)` and
 * `task.toJSON()` give every field.
 */
export class Task {
  /** @param {object} [fields] the fields as plain values (tests, tools) */
  constructor(fields) {
    if (fields) Object.assign(this, fields);
  }

  /**
   * Input `name`; without a fallback a missing input is a NonRecoverableError
   * (code MissingInput) naming the inputs that are there.
   * @param {string} name
   * @param {unknown} [fallback]
   */
  input(name, fallback = MISSING) {
    const inputs = this.inputs;
    if (Object.hasOwn(inputs, name)) return inputs[name];
    if (fallback !== MISSING) return fallback;
    const known = Object.keys(inputs);
    throw new NonRecoverableError(
      `the task has no input "${name}" (inputs: ${known.length ? known.join(', ') : 'none'})`,
      'MissingInput',
    );
  }

  /** Every field, converted: what `JSON.stringify(task)` writes. */
  toJSON() {
    const all = { inputs: this.inputs };
    for (const name of Object.keys(FIELDS)) all[name] = this[name];
    return all;
  }
}

for (const [name, read] of Object.entries(FIELDS)) {
  Object.defineProperty(Task.prototype, name, {
    get() {
      const source = this[SOURCE];
      return source === undefined ? undefined : settle(this, name, read(source));
    },
    set(value) {
      settle(this, name, value);
    },
    enumerable: false,
    configurable: true,
  });
}

/** The WIT `task` record as a Task (fields but `inputs` converted when first read). */
export function fromWitTask(task) {
  const made = new Task();
  made[SOURCE] = task;
  made.inputs = parseJsonObject(task.inputs, 'inputs');
  return made;
}
