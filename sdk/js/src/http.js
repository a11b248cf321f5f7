/**
 * `fetchSync`: one outbound HTTP request, answered before it returns. It
 * exists because an agent built for QuickJS (`--engine quickjs`) has no
 * `fetch` and cannot await; it works the same on SpiderMonkey, so an agent
 * that uses it runs on either engine.
 *
 * In a component it is the WIT import `flyte:agent/outbound-http`: the host
 * sends the request under the plugin's manifest (`[[http.allow]]`,
 * `[[secrets.inject]]`, `[http]` limits, the audit log), exactly as it does
 * `fetch`'s. Under plain Node (tests) it sends the request directly.
 *
 *   const res = fetchSync('https://api.example.com/v1/jobs', {
 *     method: 'POST',
 *     headers: { 'content-type': 'application/json' },
 *     body: JSON.stringify({ name: 'x' }),
 *   });
 *   if (!res.ok) throw new RetryableError(`jobs API answered ${res.status}`, 'ApiError');
 *   const job = res.json();
 */

import { AgentError } from './errors.js';
import { currentHost } from './host.js';
import { parseJson } from './json.js';
import { utf8 } from './utf8.js';

/** The host's error codes after which the same request may well succeed. */
const TRANSIENT = new Set([
  'DnsTimeout',
  'DnsError',
  'DestinationUnavailable',
  'ConnectionRefused',
  'ConnectionTerminated',
  'ConnectionTimeout',
  'ConnectionReadTimeout',
  'ConnectionWriteTimeout',
  'ConnectionLimitReached',
  'HttpResponseIncomplete',
  'HttpResponseTimeout',
]);

/**
 * A request that got no response. `code` is the host's (`HttpRequestDenied`
 * when no `[[http.allow]]` rule allows it, `ConnectionRefused`,
 * `ConnectionTimeout`, ...); it is retryable when the code says the network
 * failed. Uncaught, it fails the task with that code and message.
 */
export class HttpError extends AgentError {
  constructor(message, code) {
    super(message, code, TRANSIENT.has(code));
  }
}

const STANDARD_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

/** `init.headers` (an object, [name, value] pairs, or a Headers or Map) as WIT pairs. */
function headerPairs(headers) {
  if (headers === undefined || headers === null) return [];
  const pairs = [];
  const add = (key, value) => pairs.push({ key: String(key), value: String(value) });
  if (Array.isArray(headers)) {
    for (const pair of headers) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TypeError(`fetchSync: a header pair is [name, value], not ${JSON.stringify(pair)}`);
      }
      add(pair[0], pair[1]);
    }
  } else if (typeof headers.forEach === 'function' && typeof headers.get === 'function') {
    headers.forEach((value, key) => add(key, value));
  } else if (typeof headers === 'object') {
    for (const key of Object.keys(headers)) add(key, headers[key]);
  } else {
    throw new TypeError('fetchSync: headers are an object, [name, value] pairs, or a Headers or Map');
  }
  return pairs;
}

/** `init.body` as bytes: a string (sent as UTF-8), bytes, or nothing. */
function bodyBytes(body) {
  if (body === undefined || body === null) return new Uint8Array(0);
  if (typeof body === 'string') return utf8.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError(
    `fetchSync: a body is a string or bytes, not ${typeof body}` +
      (typeof body === 'object' ? ' (for JSON, pass JSON.stringify(value))' : ''),
  );
}

/** Response headers, looked up by name in any case. */
export class SyncHeaders {
  /** @param {{key: string, value: string}[]} pairs */
  constructor(pairs) {
    this.pairs = pairs.map(({ key, value }) => ({ key: key.toLowerCase(), value }));
  }

  /** The value of `name` (several joined with ", "), or null. */
  get(name) {
    const wanted = String(name).toLowerCase();
    const values = this.pairs.filter((p) => p.key === wanted).map((p) => p.value);
    return values.length === 0 ? null : values.join(', ');
  }

  has(name) {
    return this.get(name) !== null;
  }

  /** [name, value] for each header, in the order received. */
  entries() {
    return this.pairs.map(({ key, value }) => [key, value]);
  }

  forEach(callback) {
    for (const { key, value } of this.pairs) callback(value, key, this);
  }
}

/** What `fetchSync` returns: the whole response, already read. */
export class SyncResponse {
  constructor(url, status, headers, body) {
    this.url = url;
    this.status = status;
    this.headers = new SyncHeaders(headers);
    this.body = body;
  }

  get ok() {
    return this.status >= 200 && this.status <= 299;
  }

  /** The body as bytes (a Uint8Array). */
  bytes() {
    return this.body;
  }

  /** The body as text; a TypeError if it is not UTF-8 (use bytes()). */
  text() {
    return utf8.decode(this.body);
  }

  /** The body parsed as JSON (integers beyond 2^53 as BigInt, like task inputs). */
  json() {
    return parseJson(this.text());
  }
}

/**
 * Sends one request and returns the whole response; throws an HttpError
 * when there is none (denied, DNS, connection, timeout, a body over the
 * plugin's limit). Redirects are not followed: a 3xx is the response.
 * @param {string | URL} url absolute http:// or https:// URL
 * @param {{method?: string, headers?: object, body?: string | Uint8Array | ArrayBuffer}} [init]
 * @returns {SyncResponse}
 */
export function fetchSync(url, init = {}) {
  const method = String(init.method ?? 'GET');
  const upper = method.toUpperCase();
  const request = {
    method: STANDARD_METHODS.has(upper) ? upper : method,
    url: String(url),
    headers: headerPairs(init.headers),
    body: bodyBytes(init.body),
  };
  const answer = currentHost().http(request);
  if ('err' in answer) throw new HttpError(`${request.method} ${request.url}: ${answer.err.message}`, answer.err.code);
  const { status, headers, body } = answer.ok;
  return new SyncResponse(request.url, status, headers, body instanceof Uint8Array ? body : new Uint8Array(body));
}
