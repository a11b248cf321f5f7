/**
 * hangar-agent: write Flyte agents in JavaScript for Hangar.
 *
 *   import { defineAsyncAgent, succeeded, running, log } from './hangar/sdk/js/src/index.js';
 *   export const agent = defineAsyncAgent({ name, taskType, create, get, delete });
 *
 * Build with `hangar-js-build agent.js -o agent.wasm`; test under plain Node
 * with `testAgent` from `testing.js`. See README.md.
 */

export { defineAsyncAgent, defineSyncAgent } from './agent.js';
export { AgentError, NonRecoverableError, RetryableError } from './errors.js';
export { Task } from './task.js';
export { resource, succeeded, running, queued, failed, retryableFailed, PHASES, TERMINAL_PHASES } from './resource.js';
export { log, secrets, config, SecretError } from './host.js';
export { fetchSync, HttpError } from './http.js';
