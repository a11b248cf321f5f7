/**
 * url-sensor: an async agent that waits until a URL answers the way you
 * expect, the shape of Flyte's sensors (a file appears, a job's status page
 * says "done", a health check turns green).
 *
 * Task type `url_sensor`. The task's `custom` config:
 *
 *   url              string, required (the input `url`, when given, overrides it)
 *   method           "GET" (default) or "HEAD"
 *   headers          object of string header values
 *   expect_status    integer; default: any 2xx
 *   body_contains    string the body must contain
 *   json_path        dotted path into the JSON body, e.g. "jobs.0.state"
 *   json_equals      the value found at json_path must equal this (any JSON)
 *   timeout_seconds  fail the task when the condition is not met after this
 *                    long; default: the operator's [config] default_timeout_seconds, else 3600
 *
 * create validates that and stores it, with the start time, in the resource
 * meta. Each get fetches the URL once: RUNNING (with what it saw) while the
 * condition does not hold, SUCCEEDED with outputs {status, value,
 * elapsed_seconds, url} when it does, FAILED after the timeout. A request the
 * host refuses (a URL not allowed by the plugin's manifest) or that cannot
 * connect fails the task. delete has nothing to stop.
 */

import {
  config,
  defineAsyncAgent,
  failed,
  log,
  NonRecoverableError,
  running,
  succeeded,
} from '../../../sdk/js/src/index.js';

const KEYS = ['url', 'method', 'headers', 'expect_status', 'body_contains', 'json_path', 'json_equals', 'timeout_seconds'];
const FALLBACK_TIMEOUT_SECONDS = 3600;

function badConfig(message) {
  return new NonRecoverableError(`url_sensor config: ${message}`, 'BadConfig');
}

/** The task's custom config, checked and with defaults: what get needs. */
export function sensorConfig(custom, inputs) {
  const unknown = Object.keys(custom).filter((k) => !KEYS.includes(k));
  if (unknown.length) throw badConfig(`unknown key(s) ${unknown.join(', ')} (known: ${KEYS.join(', ')})`);
  const url = inputs.url ?? custom.url;
  if (typeof url !== 'string' || url === '') throw badConfig('set "url" (in the task config or as the input `url`)');
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw badConfig(`"url" is not a URL: ${JSON.stringify(url)}`);
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) throw badConfig(`"url" must be http or https, not ${parsed.protocol}`);
  const method = String(custom.method ?? 'GET').toUpperCase();
  if (!['GET', 'HEAD'].includes(method)) throw badConfig(`"method" must be GET or HEAD, not ${JSON.stringify(custom.method)}`);
  const headers = custom.headers ?? {};
  if (typeof headers !== 'object' || Array.isArray(headers) || Object.values(headers).some((v) => typeof v !== 'string')) {
    throw badConfig('"headers" must be an object of string values');
  }
  const expectStatus = custom.expect_status;
  if (expectStatus !== undefined && !(Number.isInteger(expectStatus) && expectStatus >= 100 && expectStatus <= 599)) {
    throw badConfig(`"expect_status" must be an HTTP status (100..599), not ${JSON.stringify(expectStatus)}`);
  }
  if (custom.body_contains !== undefined && typeof custom.body_contains !== 'string') {
    throw badConfig('"body_contains" must be a string');
  }
  if (custom.json_path !== undefined && (typeof custom.json_path !== 'string' || custom.json_path === '')) {
    throw badConfig('"json_path" must be a dotted path such as "status.state"');
  }
  if (custom.json_equals !== undefined && custom.json_path === undefined) {
    throw badConfig('"json_equals" needs "json_path" (where in the JSON body to look)');
  }
  if ((custom.body_contains !== undefined || custom.json_path !== undefined) && method === 'HEAD') {
    throw badConfig('a HEAD response has no body: use GET with "body_contains" or "json_path"');
  }
  const timeout = custom.timeout_seconds ?? defaultTimeout();
  if (typeof timeout !== 'number' || !(timeout > 0)) {
    throw badConfig(`"timeout_seconds" must be a positive number, not ${JSON.stringify(timeout)}`);
  }
  return {
    url,
    method,
    headers,
    expect_status: expectStatus ?? null,
    body_contains: custom.body_contains ?? null,
    json_path: custom.json_path ?? null,
    has_json_equals: custom.json_equals !== undefined,
    json_equals: custom.json_equals ?? null,
    timeout_seconds: timeout,
  };
}

function defaultTimeout() {
  const text = config.get('default_timeout_seconds');
  if (text === undefined) return FALLBACK_TIMEOUT_SECONDS;
  const value = Number(text);
  if (!(value > 0)) {
    throw new NonRecoverableError(
      `the plugin's manifest sets [config] default_timeout_seconds = ${JSON.stringify(text)}: it must be a positive number`,
      'BadPluginConfig',
    );
  }
  return value;
}

/** The value at a dotted path ("a.0.b"), or undefined. */
function atPath(value, path) {
  return path.split('.').reduce((v, key) => (v !== null && typeof v === 'object' ? v[key] : undefined), value);
}

function sameJson(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
}

const short = (value) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
};

/** One check: {met: true, value} or {met: false, why}. */
async function check(cfg, response) {
  const statusOk = cfg.expect_status === null ? response.ok : response.status === cfg.expect_status;
  if (!statusOk) {
    return { met: false, why: `HTTP ${response.status}, waiting for ${cfg.expect_status ?? 'a 2xx status'}` };
  }
  if (cfg.body_contains === null && cfg.json_path === null) return { met: true, value: response.status };
  const body = await response.text();
  if (cfg.body_contains !== null && !body.includes(cfg.body_contains)) {
    return { met: false, why: `the body does not contain ${short(cfg.body_contains)} yet` };
  }
  if (cfg.json_path === null) return { met: true, value: cfg.body_contains };
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    return { met: false, why: `the body is not JSON (it starts with ${short(body.slice(0, 40))})` };
  }
  const found = atPath(json, cfg.json_path);
  if (found === undefined) return { met: false, why: `the JSON body has no ${cfg.json_path} yet` };
  if (cfg.has_json_equals && !sameJson(found, cfg.json_equals)) {
    return { met: false, why: `${cfg.json_path} is ${short(found)}, waiting for ${short(cfg.json_equals)}` };
  }
  return { met: true, value: found };
}

export const agent = defineAsyncAgent({
  name: 'url-sensor',
  taskType: 'url_sensor',

  create(task) {
    const cfg = sensorConfig(task.custom, task.inputs);
    log.info(`url_sensor: watching ${cfg.method} ${cfg.url} for up to ${cfg.timeout_seconds}s`);
    return { ...cfg, started_ms: Date.now() };
  },

  async get(meta) {
    const elapsed = (Date.now() - meta.started_ms) / 1000;
    let response;
    try {
      response = await fetch(meta.url, { method: meta.method, headers: meta.headers });
    } catch (e) {
      throw new NonRecoverableError(
        `url_sensor could not ${meta.method} ${meta.url} (${e?.message ?? e}): either the plugin's manifest ` +
          `(url-sensor.toml) has no [[http.allow]] rule covering this URL, or nothing answers there; ` +
          `the host's log names the reason`,
        'Unreachable',
      );
    }
    const result = await check(meta, response);
    const seconds = Math.round(elapsed * 1000) / 1000;
    if (result.met) {
      return succeeded({ status: response.status, value: result.value, elapsed_seconds: seconds, url: meta.url });
    }
    if (elapsed >= meta.timeout_seconds) {
      return failed(`url_sensor timed out after ${seconds}s (timeout_seconds = ${meta.timeout_seconds}): ${result.why}`);
    }
    return running(`${result.why} (${seconds}s of ${meta.timeout_seconds}s)`);
  },

  delete() {},
});
