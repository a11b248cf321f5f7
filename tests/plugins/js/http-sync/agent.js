/**
 * Test fixture: `fetchSync` from a sync JS agent, built for both engines
 * (http-sync-js.wasm on SpiderMonkey, http-sync-qjs.wasm on QuickJS).
 * Task type `http_sync_js`, inputs:
 *   url            where to send (required)
 *   method, body   optional; body is sent as text
 * Sends the header `x-agent: http-sync-js` and answers SUCCEEDED with
 * status, the response body as text and its `x-seen` header. A request the
 * host refuses throws the SDK's HttpError, so the task fails with its code.
 */

import { defineSyncAgent, fetchSync, succeeded } from '../../../../sdk/js/src/index.js';

export const agent = defineSyncAgent({
  name: 'http-sync-js',
  taskType: 'http_sync_js',
  do(task) {
    const res = fetchSync(task.input('url'), {
      method: task.input('method', 'GET'),
      headers: { 'x-agent': 'http-sync-js' },
      body: task.inputs.body,
    });
    return succeeded({ status: res.status, ok: res.ok, text: res.text(), seen: res.headers.get('X-Seen') });
  },
});
