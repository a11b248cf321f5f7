#!/usr/bin/env node
/**
 * hangar-js-build: a JavaScript agent -> a Hangar WebAssembly component.
 *
 *   node hangar/sdk/js/bin/hangar-js-build.mjs agent.js -o my-agent.wasm [--engine E] [--wit DIR]
 *
 * The agent module exports one object, `export const agent = defineAsyncAgent({...})`
 * (or defineSyncAgent). This tool
 *   1. imports it under Node to learn its world (async-agent or sync-agent),
 *   2. writes an entry module that binds the WIT imports (logging, secrets,
 *      config) to the SDK and re-exports `identity` + `asyncHandler` /
 *      `syncHandler` from that object,
 *   3. bundles entry, agent and SDK into one file with rolldown (componentize-js
 *      only reads files beside its source), and
 *   4. compiles it with the engine's toolchain:
 *      - `--engine spidermonkey` (the default): componentize-js. Async
 *        methods and `fetch` (over wasi:http) work as in Node.
 *      - `--engine quickjs`: componentize-qjs (`--sync`). About twice the
 *        calls per second of a reused SpiderMonkey agent and a fifth of the
 *        size, but methods must answer synchronously and there is no `fetch`:
 *        HTTP goes through the SDK's `fetchSync` (see sdk/js/README.md). componentize-qjs nests the agent next to a
 *        stub of the module loader it uses only at build time; the agent
 *        component is taken out of that nesting, since Hangar links the
 *        loader itself and its instance reuse needs a flat component.
 * It needs `rolldown` and `componentize-js` (or `componentize-qjs`) on PATH.
 *
 * WIT: `--wit DIR`, default `../../wit` from this SDK (wit/agent.wit of the
 * repository, or hangar/wit of a `hangar new` project).
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const INSTALL_HINT =
  'install the toolchain with `npm install -g @bytecodealliance/componentize-js@0.23.0 componentize-qjs@0.4.5 rolldown@1.3.2` ' +
  '(in the Hangar repository, `bash build/guests-js.sh` installs it under target/tools/js; ' +
  'add target/tools/js/node_modules/.bin to PATH)';

function fail(message) {
  process.stderr.write(`hangar-js-build: error: ${message}\n`);
  process.exit(1);
}

const USAGE = 'usage: hangar-js-build AGENT.js -o OUT.wasm [--engine spidermonkey|quickjs] [--wit DIR] [--keep-build-dir]';

/** What each engine is built with. */
export const ENGINES = {
  spidermonkey: { tool: 'componentize-js' },
  quickjs: { tool: 'componentize-qjs' },
};

function parseArgs(argv) {
  const args = { agent: undefined, out: undefined, wit: join(sdkDir, '..', '..', 'wit'), keep: false, engine: 'spidermonkey' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-o' || a === '--out') args.out = argv[++i];
    else if (a === '--wit') args.wit = argv[++i];
    else if (a === '--engine') args.engine = argv[++i];
    else if (a === '--keep-build-dir') args.keep = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a.startsWith('-')) fail(`unknown option ${a} (${USAGE})`);
    else if (args.agent === undefined) args.agent = a;
    else fail(`one agent module at a time (got ${args.agent} and ${a})`);
  }
  if (!args.agent || !args.out) fail(USAGE);
  if (!Object.hasOwn(ENGINES, args.engine ?? '')) {
    fail(`--engine takes ${Object.keys(ENGINES).join(' or ')}, not ${JSON.stringify(args.engine ?? '')}`);
  }
  return args;
}

function findTool(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  fail(`\`${name}\` is not on PATH: ${INSTALL_HINT}`);
}

/** `package flyte:agent@0.1.0;` -> "0.1.0", so import names follow the WIT. */
function witVersion(witDir) {
  const file = join(witDir, 'agent.wit');
  if (!existsSync(file)) fail(`no agent.wit in ${witDir}: pass --wit DIR (the directory holding agent.wit)`);
  const match = /^\s*package\s+flyte:agent@([0-9][^;\s]*)\s*;/m.exec(readFileSync(file, 'utf8'));
  if (!match) fail(`${file} does not declare \`package flyte:agent@VERSION;\``);
  return match[1];
}

async function loadAgent(agentPath) {
  let module;
  try {
    module = await import(pathToFileURL(agentPath).href);
  } catch (e) {
    fail(`cannot load ${agentPath} under Node: ${e.stack ?? e}`);
  }
  const agent = module.agent;
  if (!agent || !['async', 'sync'].includes(agent.kind)) {
    fail(
      `${agentPath} must export the agent object: ` +
        '`export const agent = defineAsyncAgent({ name, taskType, create, get, delete })` ' +
        '(or defineSyncAgent({ name, taskType, do }))',
    );
  }
  return agent;
}

/**
 * The module the engine compiles: binds the host, names the engine, re-exports
 * the handlers. componentize-js binds named imports of a WIT interface;
 * componentize-qjs gives each interface as one default-imported object.
 */
export function entrySource({ agentPath, sdkPath, version, kind, engine = 'spidermonkey' }) {
  const handler = kind === 'async' ? 'asyncHandler' : 'syncHandler';
  const imports =
    engine === 'quickjs'
      ? `import witLogging from 'flyte:agent/logging@${version}';
import witSecrets from 'flyte:agent/secrets@${version}';
import witConfig from 'flyte:agent/config@${version}';
import witOutboundHttp from 'flyte:agent/outbound-http@${version}';
const witLog = witLogging.log;
const witSecretGet = witSecrets.get;
const witConfigGet = witConfig.get;
const witHttpSend = witOutboundHttp.send;`
      : `import { log as witLog } from 'flyte:agent/logging@${version}';
import { get as witSecretGet } from 'flyte:agent/secrets@${version}';
import { get as witConfigGet } from 'flyte:agent/config@${version}';
import { send as witHttpSend } from 'flyte:agent/outbound-http@${version}';`;
  return `// Generated by hangar-js-build: do not edit.
${imports}
import { bindWitHost } from ${JSON.stringify(join(sdkPath, 'host.js'))};
import { useEngine } from ${JSON.stringify(join(sdkPath, 'agent.js'))};
import { agent } from ${JSON.stringify(agentPath)};

useEngine(${JSON.stringify(engine)});
bindWitHost(witLog, witSecretGet, witConfigGet, witHttpSend);

export const identity = agent.identity;
export const ${handler} = agent.${handler};
`;
}

/**
 * The WIT world a component is built for: the agent's world with
 * `outbound-http` (`async-agent-http`, `sync-agent-http`), which the entry
 * module binds for `fetchSync` on either engine.
 */
export function buildWorld(agentWorld) {
  return `${agentWorld}-http`;
}

/** Reads one unsigned LEB128 integer at `at`: [value, next offset]. */
function readLeb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= bytes.length) throw new Error('truncated LEB128 integer');
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7;
  }
}

const COMPONENT_SECTION = 4;
const COMPONENT_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/**
 * componentize-qjs's output is an outer component nesting two: the agent
 * and a stub of `local:init/module-loader` (used only at build time). The
 * agent's bytes are a complete component on their own: this returns them.
 * Throws, naming what it found, if the layout is not that one.
 */
export function quickjsAgentComponent(bytes) {
  const header = Array.from(bytes.subarray(0, 8));
  if (header.join() !== COMPONENT_HEADER.join()) throw new Error('the output is not a component');
  const nested = [];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    const [size, start] = readLeb(bytes, at);
    if (start + size > bytes.length) throw new Error(`section ${id} at byte ${at - 1} runs past the end`);
    if (id === COMPONENT_SECTION) nested.push(bytes.subarray(start, start + size));
    at = start + size;
  }
  const marker = Buffer.from('flyte:agent/');
  const agents = nested.filter((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength).includes(marker));
  if (nested.length !== 2 || agents.length !== 1) {
    throw new Error(
      `expected two nested components, one of them the agent, and found ${nested.length} ` +
        `(${agents.length} naming flyte:agent): is this componentize-qjs 0.4?`,
    );
  }
  return agents[0];
}

function run(tool, args) {
  const result = spawnSync(tool, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) fail(`${tool}: ${result.error.message}`);
  if (result.status !== 0) fail(`${tool} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

function isComponent(path) {
  const bytes = readFileSync(path).subarray(0, 8);
  return bytes.length === 8 && bytes[4] === 0x0d && bytes[5] === 0x00 && bytes[6] === 0x01 && bytes[7] === 0x00;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const agentPath = resolve(args.agent);
  const out = resolve(args.out);
  const witDir = resolve(args.wit);
  if (!existsSync(agentPath)) fail(`no such file: ${agentPath}`);
  const version = witVersion(witDir);
  const rolldown = findTool('rolldown');
  const componentize = findTool(ENGINES[args.engine].tool);
  const agent = await loadAgent(agentPath);

  const world = buildWorld(agent.world);
  const work = mkdtempSync(join(tmpdir(), 'hangar-js-build-'));
  try {
    const entry = join(work, 'entry.js');
    const bundle = join(work, 'bundle.js');
    writeFileSync(
      entry,
      entrySource({ agentPath, sdkPath: join(sdkDir, 'src'), version, kind: agent.kind, engine: args.engine }),
    );
    // The WIT imports stay imports: the engine's toolchain binds them.
    const rolldownConfig = join(work, 'rolldown.config.mjs');
    writeFileSync(
      rolldownConfig,
      `export default ${JSON.stringify({ input: entry, platform: 'neutral', output: { file: bundle, format: 'esm' } })
        .replace(/}$/, ', external: [/^flyte:agent\\//] }')};\n`,
    );
    run(rolldown, ['-c', rolldownConfig]);
    const tmpOut = `${out}.tmp`;
    if (args.engine === 'quickjs') {
      const nested = join(work, 'nested.wasm');
      run(componentize, ['--wit', witDir, '--world', world, '--sync', '--js', bundle, '-o', nested]);
      let component;
      try {
        component = quickjsAgentComponent(readFileSync(nested));
      } catch (e) {
        fail(`componentize-qjs wrote ${nested} in a layout this tool does not know: ${e.message}`);
      }
      writeFileSync(tmpOut, component);
    } else {
      run(componentize, ['--wit', witDir, '--world-name', world, '-o', tmpOut, bundle]);
    }
    if (!isComponent(tmpOut)) fail(`${ENGINES[args.engine].tool} wrote ${tmpOut}, which is not a component`);
    renameSync(tmpOut, out);
    const size = statSync(out).size;
    process.stdout.write(
      `hangar-js-build: ${out} (${agent.info.name}, ${agent.world}, ${args.engine}, ${(size / 1048576).toFixed(1)} MiB)\n`,
    );
  } finally {
    if (args.keep) process.stderr.write(`hangar-js-build: build files kept in ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
