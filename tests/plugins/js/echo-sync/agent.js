/**
 * Test fixture (and future benchmark agent): the smallest sync JS agent.
 * Task type `echo_sync_js`: answers SUCCEEDED with its inputs as outputs.
 * Special inputs exercise the host services through the SDK:
 *   fail = "permanent" | "retryable" | "throw"  -> the matching error
 *   read_config = KEY   -> also outputs config_value (the manifest's [config] KEY, or null)
 *   read_secret = NAME  -> also outputs secret_length (never the value) or secret_error (the code)
 */

import {
  config,
  defineSyncAgent,
  NonRecoverableError,
  RetryableError,
  secrets,
  succeeded,
} from '../../../../sdk/js/src/index.js';

export const agent = defineSyncAgent({
  name: 'echo-sync-js',
  taskType: 'echo_sync_js',
  do(task) {
    const outputs = { ...task.inputs };
    if (task.inputs.fail === 'permanent') throw new NonRecoverableError('echo_sync_js asked to fail', 'AskedToFail');
    if (task.inputs.fail === 'retryable') throw new RetryableError('echo_sync_js asked to retry', 'AskedToRetry');
    if (task.inputs.fail === 'throw') throw new TypeError('echo_sync_js threw');
    if (typeof task.inputs.read_config === 'string') {
      outputs.config_value = config.get(task.inputs.read_config) ?? null;
    }
    if (typeof task.inputs.read_secret === 'string') {
      try {
        outputs.secret_length = secrets.get(task.inputs.read_secret).length;
      } catch (e) {
        outputs.secret_error = e.code;
      }
    }
    return succeeded(outputs);
  },
});
