/**
 * The host services an agent may use: logging, secrets, config and
 * outbound HTTP (`fetchSync`, http.js).
 *
 * Inside a component they are the WIT imports `flyte:agent/logging`,
 * `flyte:agent/secrets`, `flyte:agent/config` and
 * `flyte:agent/outbound-http`; the entry module that `hangar-js-build`
 * generates binds them with `bindWitHost`. Under plain Node (an agent's unit
 * tests) nothing is bound, so: logs go to stderr, secret NAME is the
 * environment variable `_FSEC_NAME`, config KEY is `HANGAR_CONFIG_KEY` (the
 * same conventions as the Rust SDK), and HTTP requests are sent directly by
 * a child Node process (no manifest applies there). The test helper
 * (`testing.js`) swaps in fakes with `useHost`.
 */

import { NonRecoverableError } from './errors.js';
import { stringifyJson } from './json.js';

const LEVELS = ['debug', 'info', 'warn', 'error'];

/** @typedef {({ok: string} | {err: 'not-granted'|'not-found'|'too-large'|'too-many-reads'})} SecretAnswer */
/** @typedef {{method: string, url: string, headers: {key: string, value: string}[], body: Uint8Array}} HttpRequest */
/** @typedef {({ok: {status: number, headers: {key: string, value: string}[], body: Uint8Array}} | {err: {code: string, message: string}})} HttpAnswer */

/**
 * @typedef {object} HostServices
 * @property {(level: string, message: string) => void} log
 * @property {(name: string) => SecretAnswer} secret
 * @property {(key: string) => string | undefined} config
 * @property {(request: HttpRequest) => HttpAnswer} http
 */

/**
 * The child process that sends a request under plain Node: Node's `fetch` is
 * asynchronous and `fetchSync` is not, so the parent waits for a child
 * (`execFileSync`). Redirects are not followed, as in a component.
 */
const NODE_HTTP_CHILD = `
const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const codes = { ECONNREFUSED: 'ConnectionRefused', ENOTFOUND: 'DnsError', EAI_AGAIN: 'DnsTimeout',
  ETIMEDOUT: 'ConnectionTimeout', ECONNRESET: 'ConnectionTerminated' };
fetch(input.url, { method: input.method, headers: input.headers, redirect: 'manual',
  body: ['GET', 'HEAD'].includes(input.method) ? undefined : Buffer.from(input.body, 'base64') })
  .then(async (res) => ({ ok: { status: res.status, headers: [...res.headers],
    body: Buffer.from(await res.arrayBuffer()).toString('base64') } }))
  .catch((e) => ({ err: { code: codes[e.cause?.code] ?? 'InternalError', message: String(e.cause?.message ?? e.message) } }))
  .then((answer) => process.stdout.write(JSON.stringify(answer)));
`;

/** `fetchSync` under plain Node (and in `testAgent`). */
export function nodeHttp(request) {
  const childProcess = process.getBuiltinModule?.('node:child_process');
  if (!childProcess) throw new Error('fetchSync under Node needs Node 20.16 or later (process.getBuiltinModule)');
  const input = JSON.stringify({
    method: request.method,
    url: request.url,
    headers: request.headers.map(({ key, value }) => [key, value]),
    body: Buffer.from(request.body).toString('base64'),
  });
  const output = childProcess.execFileSync(process.execPath, ['-e', NODE_HTTP_CHILD], {
    input,
    maxBuffer: 256 * 1024 * 1024,
  });
  const answer = JSON.parse(output.toString('utf8'));
  if (answer.err) return answer;
  const { status, headers, body } = answer.ok;
  return {
    ok: {
      status,
      headers: headers.map(([key, value]) => ({ key, value })),
      body: new Uint8Array(Buffer.from(body, 'base64')),
    },
  };
}

/** @type {HostServices} */
const nodeHost = {
  log(level, message) {
    process.stderr.write(`[${level}] ${message}\n`);
  },
  secret(name) {
    const value = process.env[`_FSEC_${name}`];
    return value === undefined ? { err: 'not-found' } : { ok: value };
  },
  config(key) {
    return process.env[`HANGAR_CONFIG_${key}`];
  },
  http: nodeHttp,
};

let current = nodeHost;

/**
 * Replaces the host services; returns the previous ones (to restore them).
 * @param {HostServices} services
 */
export function useHost(services) {
  const previous = current;
  current = services;
  return previous;
}

/** The host services in use (for the SDK's own modules). */
export function currentHost() {
  return current;
}

/**
 * The `err` of a WIT `result` an import returned: componentize-js throws an
 * error whose `payload` is it, componentize-qjs throws the value itself.
 */
function witErrPayload(thrown) {
  return thrown !== null && typeof thrown === 'object' && 'payload' in thrown ? thrown.payload : thrown;
}

/**
 * Binds the WIT imports of a component (called by the generated entry
 * module, not by agents).
 */
export function bindWitHost(witLog, witSecretGet, witConfigGet, witHttpSend) {
  useHost({
    log: (level, message) => witLog(level, message),
    secret(name) {
      try {
        return { ok: witSecretGet(name) };
      } catch (e) {
        const err = witErrPayload(e);
        if (typeof err === 'string') return { err };
        throw e;
      }
    },
    config(key) {
      const value = witConfigGet(key);
      return value == null ? undefined : value;
    },
    http(request) {
      try {
        return { ok: witHttpSend(request) };
      } catch (e) {
        const err = witErrPayload(e);
        if (err && typeof err.code === 'string' && typeof err.message === 'string') return { err };
        throw e;
      }
    },
  });
}

function write(level, parts) {
  const message = parts.map((p) => (typeof p === 'string' ? p : safeJson(p))).join(' ');
  current.log(level, message);
}

function safeJson(value) {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    const text = stringifyJson(value);
    return text === undefined ? String(value) : text;
  } catch {
    return String(value);
  }
}

/**
 * Logging to the host's log, tagged there with the plugin and the task.
 * Arguments are joined with spaces; non-strings are shown as JSON.
 */
export const log = Object.freeze(
  Object.fromEntries(LEVELS.map((level) => [level, (...parts) => write(level, parts)])),
);

/** A secret the operator did not grant or the host does not have. */
export class SecretError extends NonRecoverableError {
  constructor(name, reason) {
    const [code, why] = SECRET_REASONS[reason] ?? [
      'SecretError',
      `the host refused it (${reason})`,
    ];
    super(`secret "${name}": ${why}`, code);
    this.secretName = name;
    this.reason = reason;
  }
}

const SECRET_REASONS = {
  'not-granted': [
    'SecretNotGranted',
    'not granted to this plugin: the operator adds it to `[secrets] names` in the manifest (NAME.toml beside NAME.wasm)',
  ],
  'not-found': ['SecretNotFound', 'granted, but the host has no value for it: ask the operator to provide it'],
  'too-large': ['SecretTooLarge', 'the value is larger than the host returns (64 KiB)'],
  'too-many-reads': [
    'TooManySecretReads',
    'this call already read 64 secrets: read each secret once and keep the value',
  ],
};

/** Secrets the operator granted in the plugin's manifest (`[secrets] names`). */
export const secrets = Object.freeze({
  /**
   * The value of secret `name`; throws a SecretError (non-recoverable, with
   * code SecretNotGranted / SecretNotFound / ...) when there is none.
   * Keep values out of logs, errors and outputs.
   * @param {string} name
   * @returns {string}
   */
  get(name) {
    const answer = current.secret(String(name));
    if ('ok' in answer) return answer.ok;
    throw new SecretError(String(name), answer.err);
  },
});

/** Operator settings: the `[config]` table of the plugin's manifest. */
export const config = Object.freeze({
  /**
   * The value of `key`, or `fallback` (default undefined) when unset.
   * @param {string} key
   * @param {string} [fallback]
   */
  get(key, fallback = undefined) {
    const value = current.config(String(key));
    return value === undefined ? fallback : value;
  },
  /**
   * The value of `key`, or a NonRecoverableError (code MissingConfig) telling
   * the operator which line to add to the manifest.
   * @param {string} key
   */
  require(key) {
    const value = current.config(String(key));
    if (value === undefined) {
      throw new NonRecoverableError(
        `config "${key}" is not set: the operator sets it in the plugin's manifest ` +
          `(NAME.toml beside NAME.wasm) under [config], e.g. ${key} = "..."`,
        'MissingConfig',
      );
    }
    return value;
  },
});
