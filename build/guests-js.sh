#!/usr/bin/env bash
# Builds every JavaScript guest (called by build/guests.sh, or alone)
# (WebAssembly components for Hangar, through sdk/js/bin/hangar-js-build.mjs):
#   examples      -> plugins/url-sensor.wasm (+ its manifest url-sensor.toml)
#   test fixtures -> target/test-plugins/{echo-js,echo-sync-js}.wasm (SpiderMonkey)
#                    and {echo-qjs,echo-sync-qjs}.wasm (the same agents on QuickJS),
#                    http-sync-{js,qjs}.wasm (fetchSync, on each engine)
#
# Toolchain: componentize-js (SpiderMonkey/StarlingMonkey; `fetch` over
# wasi:http, the default engine), componentize-qjs (QuickJS, `--engine
# quickjs`) and rolldown (bundles agent + SDK into the one file the engine
# reads), pinned and installed with npm under target/tools/js (jco comes
# along for `jco wit`). Needs node >= 20 and npm. sdk/js/README.md compares
# the two engines.
#
# Re-running is cheap: a guest is rebuilt only when its sources, the SDK,
# wit/agent.wit or the toolchain changed (a stamp of their sha256 sits in
# target/js-guests/), and a .wasm is copied only when its bytes changed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tools="$root/target/tools/js"
stamps="$root/target/js-guests"
componentize_version=0.23.0
componentize_qjs_version=0.4.5
jco_version=1.35.0
rolldown_version=1.3.2

# source dir | output file | manifest to copy beside it ("" for none) | engine
guests=(
    "guest-examples/js/url-sensor|plugins/url-sensor.wasm|guest-examples/js/url-sensor/url-sensor.toml|spidermonkey"
    "tests/plugins/js/echo|target/test-plugins/echo-js.wasm||spidermonkey"
    "tests/plugins/js/echo-sync|target/test-plugins/echo-sync-js.wasm||spidermonkey"
    "tests/plugins/js/echo|target/test-plugins/echo-qjs.wasm||quickjs"
    "tests/plugins/js/echo-sync|target/test-plugins/echo-sync-qjs.wasm||quickjs"
    "tests/plugins/js/http-sync|target/test-plugins/http-sync-js.wasm||spidermonkey"
    "tests/plugins/js/http-sync|target/test-plugins/http-sync-qjs.wasm||quickjs"
)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed: install Node.js 20+ (Debian: sudo apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || die "npm is not installed: sudo apt-get install npm"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "node $(node --version) is too old: the JS SDK needs Node.js 20+"

installed_version() {
    node -p "require('$tools/node_modules/$1/package.json').version" 2>/dev/null || true
}

toolchain_ok() {
    [[ "$(installed_version @bytecodealliance/componentize-js)" == "$componentize_version" ]] &&
        [[ "$(installed_version componentize-qjs)" == "$componentize_qjs_version" ]] &&
        [[ "$(installed_version @bytecodealliance/jco)" == "$jco_version" ]] &&
        [[ "$(installed_version rolldown)" == "$rolldown_version" ]] &&
        [[ -x "$tools/node_modules/.bin/componentize-js" && -x "$tools/node_modules/.bin/componentize-qjs" ]] &&
        [[ -x "$tools/node_modules/.bin/rolldown" ]]
}

if ! toolchain_ok; then
    log "installing componentize-js@$componentize_version componentize-qjs@$componentize_qjs_version jco@$jco_version rolldown@$rolldown_version into $tools (npm)"
    mkdir -p "$tools"
    cat >"$tools/package.json" <<JSON
{
  "name": "hangar-js-toolchain",
  "private": true,
  "description": "Pinned JavaScript guest toolchain for Hangar (installed by build/guests-js.sh)",
  "dependencies": {
    "@bytecodealliance/componentize-js": "$componentize_version",
    "componentize-qjs": "$componentize_qjs_version",
    "@bytecodealliance/jco": "$jco_version",
    "rolldown": "$rolldown_version"
  }
}
JSON
    (cd "$tools" && npm install --no-audit --no-fund --loglevel=error) ||
        die "npm install failed in $tools (is the npm registry reachable?)"
    toolchain_ok || die "npm install finished but the pinned tools are missing from $tools/node_modules"
fi
export PATH="$tools/node_modules/.bin:$PATH"

# shellcheck source=build/guest-output.sh
source "$root/build/guest-output.sh"

# Everything a guest's bytes depend on: its sources, the SDK, the WIT, the tools.
inputs_hash() {
    {
        find "$1" sdk/js/src sdk/js/bin -type f -name '*.js' -o -type f -name '*.mjs' | grep -v '\.test\.js$' | LC_ALL=C sort |
            xargs sha256sum
        sha256sum wit/agent.wit
        # Only the engine's own toolchain: a new componentize-qjs rebuilds no SpiderMonkey guest.
        case "$2" in
            quickjs) printf 'componentize-qjs %s' "$componentize_qjs_version" ;;
            *) printf 'componentize-js %s' "$componentize_version" ;;
        esac
        printf ' rolldown %s engine %s\n' "$rolldown_version" "$2"
    } | sha256sum | cut -d' ' -f1
}

mkdir -p "$stamps"
for g in "${guests[@]}"; do
    IFS='|' read -r src dest manifest engine <<<"$g"
    name="$(basename "$dest" .wasm)"
    [[ -f "$src/agent.js" ]] || die "$src/agent.js is missing"
    built="$stamps/$name.wasm"
    stamp="$stamps/$name.sha256"
    hash="$(inputs_hash "$src" "$engine")"
    if [[ -f "$built" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]] && is_component "$built"; then
        :
    else
        log "building $name from $src ($engine)"
        rm -f "$stamp"
        node sdk/js/bin/hangar-js-build.mjs "$src/agent.js" -o "$built" --engine "$engine" >&2 ||
            die "$name: hangar-js-build failed (see above)"
        printf '%s\n' "$hash" >"$stamp"
    fi
    publish_guest "$built" "$dest" "$manifest" || die "$name: cannot publish $built"
done
