// The url-sensor agent under plain Node (no Wasm): `node --test guest-examples/js/url-sensor/`.
// A local HTTP server answers "pending" twice, then "done".

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { testAgent } from '../../../sdk/js/src/testing.js';
import { agent } from './agent.js';

let server;
let base;
let hits = 0;

before(async () => {
  server = createServer((req, res) => {
    hits += 1;
    const state = hits > 2 ? 'done' : 'pending';
    res.writeHead(hits > 1 ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ job: { state, hits } }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server.close());

test('polls until the JSON field holds, then succeeds with the value', async () => {
  hits = 0;
  const t = testAgent(agent);
  const meta = await t.create({ custom: { url: `${base}/status`, json_path: 'job.state', json_equals: 'done', timeout_seconds: 60 } });
  const first = await t.get(meta);
  assert.equal(first.phase, 'running');
  assert.match(first.message, /HTTP 503/);
  const second = await t.get(meta);
  assert.equal(second.phase, 'running');
  assert.match(second.message, /job\.state is "pending", waiting for "done"/);
  const third = await t.get(meta);
  assert.equal(third.phase, 'succeeded', third.message);
  assert.equal(third.outputs.status, 200);
  assert.equal(third.outputs.value, 'done');
  assert.equal(third.outputs.url, `${base}/status`);
  assert.ok(third.outputs.elapsed_seconds >= 0);
});

test('the input url overrides the config; a timeout fails the task', async () => {
  hits = 0;
  const t = testAgent(agent);
  const meta = await t.create({ inputs: { url: `${base}/x` }, custom: { url: 'http://unused.invalid/', body_contains: 'never', timeout_seconds: 0.001 } });
  assert.equal(meta.url, `${base}/x`);
  await new Promise((r) => setTimeout(r, 5));
  const res = await t.get(meta);
  assert.equal(res.phase, 'failed');
  assert.match(res.message, /timed out .*HTTP 503/);
});

test('bad config is refused at create with the key at fault', async () => {
  const t = testAgent(agent);
  await assert.rejects(t.create({ custom: {} }), (e) => e.code === 'BadConfig' && /set "url"/.test(e.message));
  await assert.rejects(t.create({ custom: { url: 'ftp://x/' } }), /must be http or https/);
  await assert.rejects(t.create({ custom: { url: base, expect_status: 'ok' } }), /expect_status/);
  await assert.rejects(t.create({ custom: { url: base, json_equals: 1 } }), /needs "json_path"/);
  await assert.rejects(t.create({ custom: { url: base, timeout: 5 } }), /unknown key\(s\) timeout/);
});

test('the default timeout comes from the operator config', async () => {
  const meta = await testAgent(agent, { config: { default_timeout_seconds: '90' } }).create({ custom: { url: base } });
  assert.equal(meta.timeout_seconds, 90);
  await assert.rejects(
    testAgent(agent, { config: { default_timeout_seconds: 'soon' } }).create({ custom: { url: base } }),
    (e) => e.code === 'BadPluginConfig',
  );
});

test('an unreachable URL fails with a hint about the manifest', async () => {
  const t = testAgent(agent);
  const meta = await t.create({ custom: { url: 'http://127.0.0.1:1/' } });
  await assert.rejects(t.get(meta), (e) => e.code === 'Unreachable' && /\[\[http\.allow\]\]/.test(e.message));
});
