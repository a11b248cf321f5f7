/**
 * The three host services an agent may use: logging, secrets and config.
 *
 * Inside a component they are the WIT imports `flyte:agent/logging`,
 * `flyte:agent/secrets` and `flyte:agent/config`; the entry module that
 * `hangar-js-build` generates binds them with `bindWitHost`. Under plain Node
 * (an agent's unit tests) nothing is bound, so: logs go to stderr, secret
 * NAME is the environment variable `_FSEC_NAME`, config KEY is
 * `HANGAR_CONFIG_KEY` (the same conventions as the Rust SDK). The test helper
 * (`testing.js`) swaps in fakes with `useHost`.
 */

import { NonRecoverableError } from './errors.js';
import { stringifyJson } from './json.js';

const LEVELS = ['debug', 'info', 'warn', 'error'];

/** @typedef {({ok: string} | {err: 'not-granted'|'not-found'|'too-large'|'too-many-reads'})} SecretAnswer */

/**
 * @typedef {object} HostServices
 * @property {(level: string, message: string) => void} log
 * @property {(name: string) => SecretAnswer} secret
 * @property {(key: string) => string | undefined} config
 */

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

/**
 * Binds the WIT imports of a component (called by the generated entry
 * module, not by agents).
 */
export function bindWitHost(witLog, witSecretGet, witConfigGet) {
  useHost({
    log: (level, message) => witLog(level, message),
    secret(name) {
      try {
        return { ok: witSecretGet(name) };
      } catch (e) {
        // componentize-js throws an `err` result as an error whose
        // `payload` is the WIT enum case.
        if (e && typeof e.payload === 'string') return { err: e.payload };
        throw e;
      }
    },
    config(key) {
      const value = witConfigGet(key);
      return value == null ? undefined : value;
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
