// Unit tests of the agent under plain Node, no Wasm needed: `make test`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { testAgent } from './hangar/sdk/js/src/testing.js';
import { agent } from './agent.js';

test('greets the name it was given', async () => {
  const t = testAgent(agent);
  const meta = await t.create({ inputs: { name: 'Ada' } });
  const resource = await t.get(meta);
  assert.equal(resource.phase, 'succeeded');
  assert.deepEqual(resource.outputs, { greeting: 'Hello, Ada!' });
});

test('greets the World by default', async () => {
  const { resource } = await testAgent(agent).run({});
  assert.deepEqual(resource.outputs, { greeting: 'Hello, World!' });
});
