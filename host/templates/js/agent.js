/**
 * {{name}}: a Flyte agent for Hangar, written in JavaScript.
 *
 * Serves task type `{{name_snake}}` as an async agent: create stores the
 * input `name` in the resource meta, get answers SUCCEEDED with the output
 * `greeting`, delete has nothing to stop. Replace the bodies with your job:
 * create starts it (return what get needs to find it), get reports its state.
 */

import { defineAsyncAgent, log, succeeded } from './hangar/sdk/js/src/index.js';

export const agent = defineAsyncAgent({
  name: '{{name}}',
  taskType: '{{name_snake}}',

  create(task) {
    const name = task.input('name', 'World');
    log.info(`{{name_snake}}: greeting ${name}`);
    return { name };
  },

  get(meta) {
    return succeeded({ greeting: `Hello, ${meta.name}!` });
  },

  delete() {},
});
