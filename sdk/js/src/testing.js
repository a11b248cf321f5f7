/**
 * Run an agent's methods under plain Node, without building a component:
 * the same adapters the component uses (JSON in, JSON metadata, errors as
 * agent-error records), with fake secrets and config and captured logs.
 * Node 20 has `fetch`, so agents that call HTTP APIs work unchanged, and
 * `fetchSync` sends its requests too (through a child process).
 *
 *   import { testAgent } from '../hangar/sdk/js/src/testing.js';
 *   const t = testAgent(agent, { secrets: { api_token: 'x' }, config: { base_url: 'http://127.0.0.1:1234' } });
 *   const meta = await t.create({ inputs: { name: 'World' } });
 *   const res = await t.get(meta);   // { phase: 'succeeded', outputs: {...}, ... }
 *
 * Errors come back as NonRecoverableError / RetryableError with the code and
 * message the host would see.
 */

import { checkEngine, currentEngine, decodeMeta, encodeMeta, useEngine } from './agent.js';
import { fromWitError } from './errors.js';
import { nodeHttp, useHost } from './host.js';
import { stringifyJson } from './json.js';
import { fromWitResource, TERMINAL_PHASES } from './resource.js';

const toPairs = (object) => Object.entries(object ?? {}).map(([key, value]) => ({ key, value: String(value) }));

/**
 * @typedef {object} TaskSpec what a test says about a task; everything optional
 * @property {object} [inputs]
 * @property {object} [custom] TaskTemplate.custom
 * @property {string} [taskType] defaults to the agent's first task type
 * @property {object} [config] TaskTemplate.config (string map)
 * @property {string} [sql]
 * @property {string} [outputPrefix]
 * @property {string} [idempotencyKey]
 */

function witTask(agent, spec = {}) {
  const first = agent.info.categories[0];
  const category = spec.taskType ? { name: spec.taskType, version: 0 } : { ...first };
  return {
    template: {
      category,
      id: { project: 'test', domain: 'development', name: 'test.task', version: 'v1', org: '' },
      custom: stringifyJson(spec.custom ?? {}),
      config: toPairs(spec.config),
      sql: spec.sql,
      raw: new Uint8Array(),
    },
    inputs: stringifyJson(spec.inputs ?? {}),
    inputsRaw: new Uint8Array(),
    outputPrefix: spec.outputPrefix ?? 's3://bucket/test/outputs',
    metadata: undefined,
    idempotencyKey: spec.idempotencyKey ?? 'test-idempotency-key',
  };
}

/**
 * @param {ReturnType<import('./agent.js').defineAsyncAgent> | ReturnType<import('./agent.js').defineSyncAgent>} agent
 * @param {({secrets?: Record<string,string>, grantedSecrets?: string[], config?: Record<string,string>, engine?: 'spidermonkey'|'quickjs'})} [options]
 *   `secrets`: the values the host has; `grantedSecrets`: names the manifest
 *   grants (default: every name in `secrets`); `engine`: the engine the
 *   agent is built for. With `'quickjs'` the SDK behaves as it does in a
 *   QuickJS component, so a method that returns a promise (awaits, uses
 *   `fetch`) fails with `PromiseOnQuickJs` here too, not only once deployed.
 */
export function testAgent(agent, options = {}) {
  if (!agent || !agent.identity || !(agent.asyncHandler || agent.syncHandler)) {
    throw new TypeError('testAgent(agent): pass the object defineAsyncAgent / defineSyncAgent returned');
  }
  const secretValues = { ...(options.secrets ?? {}) };
  const granted = new Set(options.grantedSecrets ?? Object.keys(secretValues));
  const configValues = { ...(options.config ?? {}) };
  const engine = options.engine ?? 'spidermonkey';
  checkEngine(engine);
  const logs = [];
  const fakeHost = {
    log: (level, message) => logs.push({ level, message }),
    secret(name) {
      if (!granted.has(name)) return { err: 'not-granted' };
      return Object.hasOwn(secretValues, name) ? { ok: secretValues[name] } : { err: 'not-found' };
    },
    config: (key) => (Object.hasOwn(configValues, key) ? configValues[key] : undefined),
    // fetchSync sends for real, as fetch does here (no manifest applies).
    http: nodeHttp,
  };

  async function call(fn) {
    const previous = useHost(fakeHost);
    const previousEngine = currentEngine();
    useEngine(engine);
    try {
      return await fn();
    } catch (e) {
      // The `agent-error` as each engine throws it: in `payload`, or itself.
      if (e && Object.hasOwn(e, 'payload')) throw fromWitError(e.payload);
      if (engine === 'quickjs' && e && typeof e.kind === 'string' && typeof e.code === 'string') throw fromWitError(e);
      throw e;
    } finally {
      useHost(previous);
      useEngine(previousEngine);
    }
  }

  function handle(meta, taskType) {
    const first = agent.info.categories[0];
    return {
      category: taskType ? { name: taskType, version: 0 } : { ...first },
      resourceMeta: encodeMeta(meta),
      outputPrefix: 's3://bucket/test/outputs',
    };
  }

  const requireKind = (kind, method) => {
    if (agent.kind !== kind) throw new TypeError(`${method}: this is a ${agent.kind} agent`);
  };

  return {
    /** Lines the agent logged: [{level, message}]. */
    logs,
    /** Metadata `create` returned, after its JSON round trip. */
    async create(task = {}) {
      requireKind('async', 'create');
      return call(async () => decodeMeta(await agent.asyncHandler.create(witTask(agent, task))));
    },
    /** The Resource `get` returned, outputs parsed. */
    async get(meta, taskType) {
      requireKind('async', 'get');
      return call(async () => fromWitResource(await agent.asyncHandler.get(handle(meta, taskType))));
    },
    async delete(meta, taskType) {
      requireKind('async', 'delete');
      return call(() => agent.asyncHandler.delete(handle(meta, taskType)));
    },
    /** A sync agent's answer, outputs parsed. */
    async do(task = {}) {
      requireKind('sync', 'do');
      return call(async () => fromWitResource(await agent.syncHandler.do(witTask(agent, task))));
    },
    /**
     * create, then get every `intervalMs` until a terminal phase (at most
     * `maxPolls` times); returns { meta, resource, polls }.
     */
    async run(task = {}, { maxPolls = 100, intervalMs = 0 } = {}) {
      const meta = await this.create(task);
      for (let polls = 1; polls <= maxPolls; polls++) {
        const res = await this.get(meta, task.taskType);
        if (TERMINAL_PHASES.includes(res.phase)) return { meta, resource: res, polls };
        if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
      }
      throw new Error(`the job was not terminal after ${maxPolls} polls`);
    },
  };
}
