/**
 * Test fixture and hangar-bench's JS echo: the smallest async JS agent. Like the
 * other languages' echo agents it logs nothing per call.
 * Task type `echo_js`: create keeps the inputs in the resource meta, get
 * succeeds with them as outputs. Inputs can ask for a failure, so tests see
 * how agent errors cross the host:
 *   fail = "permanent" -> NonRecoverableError (code AskedToFail)
 *   fail = "retryable" -> RetryableError (code AskedToRetry)
 *   fail = "throw"     -> a plain TypeError (not an AgentError)
 *   fail_in = "get"    -> fail in get instead of create
 */

import { defineAsyncAgent, NonRecoverableError, RetryableError, succeeded } from '../../../../sdk/js/src/index.js';

function maybeFail(inputs, where) {
  if ((inputs.fail_in ?? 'create') !== where || inputs.fail === undefined) return;
  switch (inputs.fail) {
    case 'permanent':
      throw new NonRecoverableError(`echo_js asked to fail in ${where}`, 'AskedToFail');
    case 'retryable':
      throw new RetryableError(`echo_js asked to retry in ${where}`, 'AskedToRetry');
    case 'throw':
      throw new TypeError(`echo_js threw in ${where}`);
  }
}

export const agent = defineAsyncAgent({
  name: 'echo-js',
  taskType: 'echo_js',
  create(task) {
    maybeFail(task.inputs, 'create');
    return task.inputs;
  },
  get(inputs) {
    maybeFail(inputs, 'get');
    return succeeded(inputs);
  },
  delete() {},
});
