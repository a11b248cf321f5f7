// Unit tests of the SDK under plain Node (`node --test sdk/js/test/`):
// the adapters between WIT records and native values, errors, host services.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  config,
  defineAsyncAgent,
  defineSyncAgent,
  failed,
  log,
  NonRecoverableError,
  RetryableError,
  running,
  secrets,
  succeeded,
} from '../src/index.js';
import { encodeMeta, decodeMeta, useEngine } from '../src/agent.js';
import { fromWitTask } from '../src/task.js';
import { toWitError } from '../src/errors.js';
import { toWitResource } from '../src/resource.js';
import { testAgent } from '../src/testing.js';
import { entrySource, quickjsAgentComponent } from '../bin/hangar-js-build.mjs';
import { nativeBridgeUtf8, portableUtf8, utf8 } from '../src/utf8.js';
import { stringifyJson } from '../src/json.js';

const greeter = defineAsyncAgent({
  name: 'greeter',
  taskType: 'greet',
  create: (task) => ({ name: task.input('name', 'World'), custom: task.custom, idem: task.idempotencyKey }),
  get: (meta) => succeeded({ greeting: `Hello, ${meta.name}!` }),
  delete: () => {},
});

test('identity describes the name and task types', () => {
  assert.deepEqual(greeter.identity.describe(), { name: 'greeter', categories: [{ name: 'greet', version: 0 }] });
  const multi = defineSyncAgent({ name: 'm', taskTypes: ['a', { name: 'b', version: 2 }], do: () => succeeded() });
  assert.deepEqual(multi.info.categories, [{ name: 'a', version: 0 }, { name: 'b', version: 2 }]);
  assert.equal(multi.world, 'sync-agent');
  assert.equal(greeter.world, 'async-agent');
});

test('a spec with a missing part is refused with the fix', () => {
  assert.throws(() => defineAsyncAgent({ name: 'x', create() {}, get() {}, delete() {} }), /set taskType/);
  assert.throws(() => defineAsyncAgent({ name: 'x', taskType: 't', create() {}, get() {} }), /delete must be a function/);
  assert.throws(() => defineSyncAgent({ taskType: 't', do() {} }), /set name/);
  assert.throws(() => defineSyncAgent({ name: 'x', taskTypes: [{ name: 'a', version: 1.5 }], do() {} }), /task type/);
});

test('create -> meta (JSON round trip) -> get -> outputs', async () => {
  const t = testAgent(greeter);
  const meta = await t.create({ inputs: { name: 'Ada' }, custom: { k: [1, 2] }, idempotencyKey: 'k1' });
  assert.deepEqual(meta, { name: 'Ada', custom: { k: [1, 2] }, idem: 'k1' });
  const res = await t.get(meta);
  assert.equal(res.phase, 'succeeded');
  assert.deepEqual(res.outputs, { greeting: 'Hello, Ada!' });
  assert.deepEqual(await t.run({}).then((r) => r.resource.outputs), { greeting: 'Hello, World!' });
});

test('the WIT adapter sees bytes and JSON text', async () => {
  const bytes = await greeter.asyncHandler.create({
    template: { category: { name: 'greet', version: 0 }, id: {}, custom: '{}', config: [], raw: new Uint8Array() },
    inputs: '{"name":"Bo"}',
    inputsRaw: new Uint8Array(),
    outputPrefix: 's3://x',
    idempotencyKey: 'i',
  });
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(bytes), '{"name":"Bo","custom":{},"idem":"i"}');
  const res = await greeter.asyncHandler.get({ category: { name: 'greet', version: 0 }, resourceMeta: bytes, outputPrefix: '' });
  assert.deepEqual(res.outputs, { tag: 'json', val: '{"greeting":"Hello, Bo!"}' });
  assert.equal(res.customInfo, undefined);
});

test('errors become agent-error payloads with kind and code', async () => {
  const failing = defineAsyncAgent({
    name: 'f',
    taskType: 'f',
    create(task) {
      if (task.inputs.how === 'retry') throw new RetryableError('busy', 'QuotaExceeded');
      if (task.inputs.how === 'type') return null.x;
      if (task.inputs.how === 'string') throw 'plain string';
      throw new NonRecoverableError('broken', 'Broken');
    },
    get: async () => {
      throw new RetryableError('later');
    },
    delete() {},
  });
  const t = testAgent(failing);
  await assert.rejects(t.create({ inputs: { how: 'retry' } }), (e) => e instanceof RetryableError && e.code === 'QuotaExceeded');
  await assert.rejects(t.create({}), (e) => e instanceof NonRecoverableError && e.code === 'Broken' && e.message === 'broken');
  await assert.rejects(t.create({ inputs: { how: 'type' } }), (e) => e.code === 'TypeError' && /^TypeError: /.test(e.message));
  await assert.rejects(t.create({ inputs: { how: 'string' } }), (e) => e.code === 'UnexpectedThrow' && /plain string/.test(e.message));
  await assert.rejects(t.get({}), (e) => e.retryable && e.kind === 'recoverable');
  // What componentize-js receives: an object whose own `payload` is the
  // record, thrown at once when the method threw...
  assert.throws(() => failing.asyncHandler.create(witTaskOf({ how: 'retry' })), (e) => {
    assert.deepEqual(e.payload, { message: 'busy', code: 'QuotaExceeded', kind: 'recoverable' });
    return true;
  });
  // ...or as the rejection when the method's promise rejected.
  const handle = { category: { name: 'f', version: 0 }, resourceMeta: new Uint8Array(), outputPrefix: '' };
  await assert.rejects(failing.asyncHandler.get(handle), (e) => {
    assert.deepEqual(e.payload, { message: 'later', code: '', kind: 'recoverable' });
    return true;
  });
  assert.deepEqual(toWitError(new NonRecoverableError('m')), { message: 'm', code: '', kind: 'non-recoverable' });
});

test('a method that answers synchronously gets a synchronous answer (no promise per call)', async () => {
  const echo = (sync) =>
    defineAsyncAgent({
      name: 'e',
      taskType: 'e',
      create: sync ? (task) => task.inputs : async (task) => task.inputs,
      get: sync ? () => succeeded() : async () => succeeded(),
      delete: sync ? () => {} : async () => {},
    });
  const handle = (meta) => ({ category: { name: 'e', version: 0 }, resourceMeta: meta, outputPrefix: '' });
  const plain = echo(true).asyncHandler;
  const meta = plain.create(witTaskOf({ n: 3 }));
  assert.ok(meta instanceof Uint8Array, 'create answered with the bytes, not a promise');
  assert.equal(plain.get(handle(meta)).phase, 'succeeded');
  assert.equal(plain.delete(handle(meta)), undefined);

  const later = echo(false).asyncHandler;
  const pending = later.create(witTaskOf({ n: 3 }));
  assert.ok(pending instanceof Promise);
  assert.deepEqual(await pending, meta);
  assert.equal((await later.get(handle(meta))).phase, 'succeeded');
  assert.equal(await later.delete(handle(meta)), undefined);

  const sync = defineSyncAgent({ name: 's', taskType: 's', do: (task) => succeeded(task.inputs) }).syncHandler;
  assert.equal(sync.do(witTaskOf({ n: 3 })).phase, 'succeeded');
});

function witTaskOf(inputs) {
  return {
    template: { category: { name: 'f', version: 0 }, id: {}, custom: '{}', config: [], raw: new Uint8Array() },
    inputs: JSON.stringify(inputs),
    inputsRaw: new Uint8Array(),
    outputPrefix: '',
    idempotencyKey: '',
  };
}

test('a missing input names the inputs that exist', async () => {
  const strict = defineSyncAgent({ name: 's', taskType: 's', do: (task) => succeeded({ v: task.input('needed') }) });
  await assert.rejects(testAgent(strict).do({ inputs: { a: 1, b: 2 } }), (e) => e.code === 'MissingInput' && /inputs: a, b/.test(e.message));
});

test('resources: constructors, validation, JSON-only outputs', () => {
  assert.deepEqual(toWitResource(running('half way')), {
    phase: 'running', message: 'half way', outputs: undefined, logLinks: [], customInfo: undefined,
  });
  const done = toWitResource(succeeded({ n: 1 }, { logLinks: [{ name: 'console', uri: 'https://x' }], customInfo: { a: 1 } }));
  assert.deepEqual(done.outputs, { tag: 'json', val: '{"n":1}' });
  assert.equal(done.customInfo, '{"a":1}');
  assert.deepEqual(toWitResource(succeeded(new Uint8Array([1, 2]))).outputs, { tag: 'literal-map', val: new Uint8Array([1, 2]) });
  assert.equal(toWitResource(failed('no')).phase, 'failed');
  assert.throws(() => toWitResource(undefined), (e) => e.code === 'BadResource' && /succeeded\(outputs\)/.test(e.message));
  assert.throws(() => toWitResource({ phase: 'done' }), /phase "done"/);
  assert.throws(() => toWitResource(succeeded([1])), (e) => e.code === 'BadOutputs');
  const circular = {};
  circular.self = circular;
  assert.throws(() => toWitResource(succeeded({ c: circular })), (e) => e.code === 'NotJson');
});

test('a sync agent must answer with a terminal resource', async () => {
  const lazy = defineSyncAgent({ name: 'l', taskType: 'l', do: () => running() });
  await assert.rejects(testAgent(lazy).do({}), (e) => e.code === 'NotTerminal');
  const echo = defineSyncAgent({ name: 'e', taskType: 'e', do: async (task) => succeeded(task.inputs) });
  const res = await testAgent(echo).do({ inputs: { x: [1, { y: null }], s: 'ü' } });
  assert.deepEqual(res.outputs, { x: [1, { y: null }], s: 'ü' });
});

test('metadata is JSON; foreign bytes are a clear error', () => {
  assert.deepEqual(decodeMeta(encodeMeta({ a: [1, 'b'] })), { a: [1, 'b'] });
  assert.equal(decodeMeta(new Uint8Array()), null);
  assert.throws(() => decodeMeta(new Uint8Array([0xff, 0x00])), (e) => e.code === 'BadResourceMeta');
  const loop = [];
  loop.push(loop);
  assert.throws(() => encodeMeta(loop), (e) => e.code === 'NotJson');
});

test('secrets, config and logs through the test helper', async () => {
  const probe = defineSyncAgent({
    name: 'p',
    taskType: 'p',
    do(task) {
      log.info('reading', { secret: task.inputs.secret });
      const out = { region: config.get('region', 'none'), model: config.require('model') };
      try {
        out.secret = secrets.get(task.inputs.secret);
      } catch (e) {
        out.error = e.code;
      }
      return succeeded(out);
    },
  });
  const t = testAgent(probe, { secrets: { tok: 'v1' }, grantedSecrets: ['tok', 'missing'], config: { model: 'm1' } });
  assert.deepEqual((await t.do({ inputs: { secret: 'tok' } })).outputs, { region: 'none', model: 'm1', secret: 'v1' });
  assert.equal((await t.do({ inputs: { secret: 'missing' } })).outputs.error, 'SecretNotFound');
  assert.equal((await t.do({ inputs: { secret: 'other' } })).outputs.error, 'SecretNotGranted');
  assert.deepEqual(t.logs[0], { level: 'info', message: 'reading {"secret":"tok"}' });
  await assert.rejects(testAgent(probe).do({ inputs: { secret: 'tok' } }), (e) => e.code === 'MissingConfig' && /\[config\]/.test(e.message));
});

test('outside the helper, secrets and config come from the environment', () => {
  process.env._FSEC_hangar_js_sdk_test = 's3cret';
  process.env.HANGAR_CONFIG_hangar_js_sdk_test = 'c';
  try {
    assert.equal(secrets.get('hangar_js_sdk_test'), 's3cret');
    assert.equal(config.get('hangar_js_sdk_test'), 'c');
    assert.throws(() => secrets.get('hangar_js_sdk_test_absent'), (e) => e.code === 'SecretNotFound');
  } finally {
    delete process.env._FSEC_hangar_js_sdk_test;
    delete process.env.HANGAR_CONFIG_hangar_js_sdk_test;
  }
});

test('the generated entry binds the WIT imports and re-exports the handlers', () => {
  const src = entrySource({ agentPath: '/a/agent.js', sdkPath: '/s', version: '0.1.0', kind: 'sync' });
  assert.match(src, /import \{ get as witSecretGet \} from 'flyte:agent\/secrets@0\.1\.0'/);
  assert.match(src, /from "\/s\/host\.js"/);
  assert.match(src, /useEngine\("spidermonkey"\);/);
  assert.match(src, /export const syncHandler = agent\.syncHandler;/);
  assert.doesNotMatch(src, /asyncHandler/);
  // componentize-qjs gives an interface as one default export.
  const qjs = entrySource({ agentPath: '/a/agent.js', sdkPath: '/s', version: '0.1.0', kind: 'async', engine: 'quickjs' });
  assert.match(qjs, /import witSecrets from 'flyte:agent\/secrets@0\.1\.0';/);
  assert.match(qjs, /const witSecretGet = witSecrets\.get;/);
  assert.match(qjs, /useEngine\("quickjs"\);/);
  assert.match(qjs, /export const asyncHandler = agent\.asyncHandler;/);
});

test('on QuickJS an error is thrown as the record itself, and a promise is refused with a clear error', async () => {
  const agent = defineAsyncAgent({
    name: 'q',
    taskType: 'q',
    create(task) {
      if (task.inputs.how === 'async') return Promise.resolve({});
      throw new RetryableError('busy', 'QuotaExceeded');
    },
    get: () => succeeded(),
    delete() {},
  });
  useEngine('quickjs');
  try {
    assert.throws(() => agent.asyncHandler.create(witTaskOf({})), (e) => {
      assert.deepEqual(e, { message: 'busy', code: 'QuotaExceeded', kind: 'recoverable' });
      return true;
    });
    assert.throws(() => agent.asyncHandler.create(witTaskOf({ how: 'async' })), (e) => {
      assert.equal(e.code, 'PromiseOnQuickJs');
      assert.equal(e.kind, 'non-recoverable');
      assert.match(e.message, /--engine quickjs.*synchronous/);
      return true;
    });
  } finally {
    useEngine('spidermonkey');
  }
  assert.throws(() => agent.asyncHandler.create(witTaskOf({})), (e) => e.payload?.code === 'QuotaExceeded');
  assert.throws(() => useEngine('v8'), /unknown JavaScript engine "v8"/);
});

test('the portable UTF-8 coder agrees with TextEncoder/TextDecoder and is as strict', () => {
  const texts = ['', 'plain', '{"k":"v"}', 'é', 'naïve ☃', '𝄞 clef', '\u0000\u007f\u0080\u07ff\u0800\uffff', 'x'.repeat(300)];
  for (const text of texts) {
    const bytes = new TextEncoder().encode(text);
    assert.deepEqual(portableUtf8.encode(text), bytes, text);
    assert.equal(portableUtf8.decode(bytes), text, text);
    assert.deepEqual(utf8.encode(text), bytes, text);
  }
  // A lone surrogate is written as U+FFFD, as TextEncoder does.
  assert.deepEqual(portableUtf8.encode('a\ud800b'), new TextEncoder().encode('a\ud800b'));
  const bad = [
    [0x80], // continuation first
    [0xc0, 0x80], // overlong
    [0xe0, 0x80, 0x80], // overlong
    [0xed, 0xa0, 0x80], // surrogate
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [0xe2, 0x82], // truncated
    [0xff],
  ];
  for (const bytes of bad) {
    const array = new Uint8Array(bytes);
    assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(array), TypeError, `${bytes}`);
    assert.throws(() => portableUtf8.decode(array), /not valid UTF-8/, `${bytes}`);
  }
});

test('the encoder through native functions (QuickJS) agrees with TextEncoder, lone surrogates too', () => {
  // Node 20 lacks Uint8Array.fromBase64 (QuickJS and newer V8 have it): lend it Buffer's for the test.
  const lent = typeof Uint8Array.fromBase64 !== 'function';
  if (lent) Uint8Array.fromBase64 = (b64) => new Uint8Array(Buffer.from(b64, 'base64'));
  try {
    assert.ok(nativeBridgeUtf8.available());
    const texts = ['', 'plain', '{"n":3,"s":"hi"}', '%u0041 %41 %', 'é', 'naïve ☃', '𝄞 clef', '\u0000\u007f\u0080\u07ff\u0800\uffff', 'x'.repeat(300)];
    for (const text of [...texts, 'a\ud800b', '\udc00', 'z\ud83d']) {
      assert.deepEqual(nativeBridgeUtf8.encode(text), new TextEncoder().encode(text), JSON.stringify(text));
    }
  } finally {
    if (lent) delete Uint8Array.fromBase64;
  }
});

test('metadata with a BigInt, or a cycle, is written or refused as before the plain-first JSON.stringify', () => {
  assert.equal(stringifyJson({ big: -(2n ** 62n), n: 1 }), '{"big":-4611686018427387904,"n":1}');
  assert.equal(stringifyJson({ n: 1, s: 'hi' }), '{"n":1,"s":"hi"}');
  assert.equal(stringifyJson(undefined), undefined);
  const cycle = { a: 1 };
  cycle.self = cycle;
  assert.throws(() => stringifyJson(cycle), TypeError);
  assert.throws(() => encodeMeta(cycle), (e) => e.code === 'NotJson' && /the metadata create returned is not JSON-serialisable/.test(e.message));
});

/** A section: id, LEB128 size, body. */
function section(id, body) {
  const size = [];
  let n = body.length;
  do {
    size.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>= 7;
  } while (n > 0);
  return [id, ...size, ...body];
}

test('the agent is taken out of componentize-qjs nesting, and another layout is refused', () => {
  const header = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
  const agentBody = [...header, ...section(0, [...Buffer.from('x'), ...Buffer.from('flyte:agent/identity'.padEnd(200, '.'))])];
  const stubBody = [...header, ...section(0, [...Buffer.from('local:init/module-loader')])];
  const outer = (...parts) => new Uint8Array([...header, ...section(7, [0]), ...parts.flat()]);
  const found = quickjsAgentComponent(outer(section(4, stubBody), section(4, agentBody), section(5, [0])));
  assert.deepEqual(Array.from(found), agentBody);
  assert.throws(() => quickjsAgentComponent(outer(section(4, agentBody))), /found 1 \(1 naming flyte:agent\)/);
  assert.throws(() => quickjsAgentComponent(outer(section(4, stubBody), section(4, stubBody))), /found 2 \(0 naming/);
  assert.throws(() => quickjsAgentComponent(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), /not a component/);
  const cut = outer(section(4, stubBody), section(4, agentBody));
  assert.throws(() => quickjsAgentComponent(cut.subarray(0, cut.length - 10)), /runs past the end/);
});

test('labels, annotations and env vars become plain objects, as Object.fromEntries would make them', () => {
  const pairs = [
    { key: 'team', value: 'a' },
    { key: '__proto__', value: 'x' },
    { key: 'team', value: 'b' },
  ];
  const id = { project: 'p', domain: 'd', name: 'n', version: 'v', org: '' };
  const task = fromWitTask({
    ...witTaskOf({}),
    metadata: {
      taskExecutionId: { task: id, nodeId: 'n0', executionProject: 'p', executionDomain: 'd', executionName: 'e', retryAttempt: 0 },
      namespace: 'ns',
      labels: pairs,
      annotations: [],
      k8sServiceAccount: 'default',
      environmentVariables: pairs,
    },
  });
  const expected = Object.fromEntries(pairs.map(({ key, value }) => [key, value]));
  for (const made of [task.metadata.labels, task.metadata.environmentVariables]) {
    assert.deepEqual(Object.entries(made), Object.entries(expected));
    assert.equal(Object.getPrototypeOf(made), Object.prototype, '__proto__ stays an own property');
    assert.equal(made.team, 'b', 'the last pair wins');
  }
  assert.deepEqual(task.metadata.annotations, {});
});

test('a Task converts each field but inputs on first read, and reads and writes like plain properties', () => {
  const record = {
    ...witTaskOf({ n: 3 }),
    template: { category: { name: 'f', version: 2 }, id: { project: 'p' }, custom: '{not json', config: [{ key: 'a', value: 'b' }], raw: new Uint8Array([7]) },
  };
  const task = fromWitTask(record);
  assert.deepEqual(Object.keys(task), ['inputs'], 'only inputs is converted before it is read');
  assert.equal(task.input('n'), 3);
  assert.equal(task.config, task.config, 'a converted field keeps its identity');
  assert.deepEqual(Object.keys(task), ['inputs', 'config'], 'reading config converts config only');
  assert.equal(task.config, task.config);
  assert.deepEqual(task.config, { a: 'b' });
  assert.deepEqual(task.category, { name: 'f', version: 2 });
  assert.equal(task.taskType, 'f');
  assert.deepEqual(task.templateRaw, new Uint8Array([7]));
  // Bad JSON in a field the agent never reads fails nothing; reading it is the same BadJson error as before.
  assert.throws(() => task.custom, (e) => e instanceof NonRecoverableError && e.code === 'BadJson' && /TaskTemplate.custom/.test(e.message));
  task.inputs = { replaced: true };
  task.custom = { set: 1 };
  assert.deepEqual(task.inputs, { replaced: true });
  assert.deepEqual(task.custom, { set: 1 });
  assert.deepEqual(JSON.parse(JSON.stringify(task)).custom, { set: 1 }, 'JSON.stringify writes the fields');
  const all = task.toJSON();
  assert.deepEqual(Object.keys(all).sort(), [
    'category', 'config', 'custom', 'id', 'idempotencyKey', 'inputs', 'inputsRaw', 'metadata', 'outputPrefix', 'sql', 'taskType', 'templateRaw',
  ]);
  assert.deepEqual(all.custom, { set: 1 });
  // Built from plain fields (no WIT record), a Task holds just those.
  const plain = new (Object.getPrototypeOf(task).constructor)({ inputs: { a: 1 } });
  assert.equal(plain.input('a'), 1);
  assert.equal(plain.metadata, undefined);
});

test('fetchSync turns the host import\'s err into an HttpError on either engine, retryable when the network failed', async () => {
  const { bindWitHost, useHost, currentHost } = await import('../src/host.js');
  const { fetchSync, HttpError } = await import('../src/index.js');
  const previous = currentHost();
  const sent = [];
  const answers = {
    // componentize-js throws an error carrying the err as `payload`...
    'http://127.0.0.1/denied': () => {
      const e = new Error('err');
      e.payload = { code: 'HttpRequestDenied', message: 'no [[http.allow]] rule' };
      throw e;
    },
    // ... componentize-qjs throws the err record itself.
    'http://127.0.0.1/refused': () => {
      throw { code: 'ConnectionRefused', message: 'the request failed: connection refused' };
    },
    'http://127.0.0.1/ok': () => ({
      status: 201,
      headers: [{ key: 'X-Id', value: '7' }, { key: 'x-id', value: '8' }],
      body: new TextEncoder().encode('{"n": 9007199254740993}'),
    }),
  };
  bindWitHost(() => {}, () => '', () => undefined, (request) => {
    sent.push(request);
    return answers[request.url]();
  });
  try {
    assert.throws(() => fetchSync('http://127.0.0.1/denied'), (e) => e instanceof HttpError && e.code === 'HttpRequestDenied' && !e.retryable && /denied: no \[\[http.allow\]\] rule/.test(e.message));
    assert.throws(() => fetchSync('http://127.0.0.1/refused'), (e) => e instanceof HttpError && e.code === 'ConnectionRefused' && e.retryable);
    const res = fetchSync(new URL('http://127.0.0.1/ok'), { method: 'post', headers: [['a', 1]], body: 'é' });
    assert.deepEqual(sent.at(-1), { method: 'POST', url: 'http://127.0.0.1/ok', headers: [{ key: 'a', value: '1' }], body: new TextEncoder().encode('é') });
    assert.equal(res.status, 201);
    assert.equal(res.ok, true);
    assert.equal(res.headers.get('x-ID'), '7, 8');
    assert.equal(res.headers.get('absent'), null);
    assert.equal(res.json().n, 9007199254740993n, 'JSON integers beyond 2^53 stay exact');
    fetchSync('http://127.0.0.1/ok', { method: 'patch', headers: new Map([['m', 'v']]), body: new Uint8Array([1, 2]) });
    assert.equal(sent.at(-1).method, 'patch', 'only the standard methods are upper-cased, as fetch does');
    assert.deepEqual(sent.at(-1).headers, [{ key: 'm', value: 'v' }]);
    assert.throws(() => fetchSync('http://127.0.0.1/ok', { body: { a: 1 } }), /pass JSON.stringify/);
    assert.throws(() => fetchSync('http://127.0.0.1/ok', { headers: [['only-name']] }), /header pair/);
  } finally {
    useHost(previous);
  }
});

test('fetchSync under plain Node sends a real request (to a server in another process)', async () => {
  const { spawn } = await import('node:child_process');
  const { fetchSync } = await import('../src/index.js');
  const server = spawn(process.execPath, ['-e', `
    require('node:http').createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => { res.writeHead(req.url === '/missing' ? 404 : 200, { 'x-seen': req.headers['x-agent'] ?? '' }); res.end(req.method + ' ' + req.url + ' ' + body); });
    }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
  `]);
  const exited = new Promise((resolve) => server.once('exit', resolve));
  let port;
  try {
    port = await new Promise((resolve, reject) => {
      server.stdout.once('data', (d) => resolve(Number(String(d).trim())));
      exited.then(() => reject(new Error('the test server exited')));
    });
    const res = fetchSync(`http://127.0.0.1:${port}/jobs`, { method: 'PUT', headers: { 'x-agent': 'node' }, body: 'hi ☃' });
    assert.equal(res.status, 200);
    assert.equal(res.text(), 'PUT /jobs hi ☃');
    assert.equal(res.headers.get('X-Seen'), 'node');
    assert.equal(fetchSync(`http://127.0.0.1:${port}/missing`).status, 404);
  } finally {
    server.kill();
  }
  await exited;
  // Nothing listens there any more.
  assert.throws(() => fetchSync(`http://127.0.0.1:${port}/`), (e) => e.code === 'ConnectionRefused' && e.retryable);
});

test('testAgent with engine quickjs refuses a method that returns a promise, as the component would', async () => {
  const awaiting = defineSyncAgent({ name: 'a', taskType: 'a', do: async () => succeeded({ n: 1 }) });
  assert.deepEqual((await testAgent(awaiting).do({})).outputs, { n: 1 }, 'fine on SpiderMonkey');
  await assert.rejects(testAgent(awaiting, { engine: 'quickjs' }).do({}), (e) => e instanceof NonRecoverableError && e.code === 'PromiseOnQuickJs');
  const failing = defineSyncAgent({ name: 'f', taskType: 'f', do: () => { throw new RetryableError('busy', 'Busy'); } });
  await assert.rejects(testAgent(failing, { engine: 'quickjs' }).do({}), (e) => e instanceof RetryableError && e.code === 'Busy');
  const plain = defineSyncAgent({ name: 'p', taskType: 'p', do: (task) => succeeded({ n: task.input('n') }) });
  assert.deepEqual((await testAgent(plain, { engine: 'quickjs' }).do({ inputs: { n: 2 } })).outputs, { n: 2 });
  assert.throws(() => testAgent(plain, { engine: 'v8' }), /unknown JavaScript engine/);
});
