// An async agent with no SDK and fixed answers, to price componentize-js itself
// (docs/performance.md, "The JavaScript ceiling, measured again"). Not a plugin
// to ship: it serves echo_js without reading its task. Build and serve:
//   mkdir -p /tmp/p-bare && target/tools/js/node_modules/.bin/componentize-js --wit wit \
//       --world-name async-agent -o /tmp/p-bare/bare-js.wasm bench/experiments/js-bare-export.js
//   printf '[reuse]\nenabled = true\n' > /tmp/p-bare/bare-js.toml
//   target/release/hangar serve --plugins /tmp/p-bare --listen 127.0.0.1:18080
// then `hangar-bench load --endpoint http://127.0.0.1:18080 --task-type echo_js --rpc create`.
export const identity = {
  describe() {
    return { name: 'bare-js', categories: [{ name: 'echo_js', version: 0 }] };
  },
};
const meta = new Uint8Array([123, 125]);
export const asyncHandler = {
  create(task) {
    return meta;
  },
  get(handle) {
    return { phase: 'succeeded', message: '', outputs: undefined, logLinks: [], customInfo: undefined };
  },
  delete(handle) {},
};
