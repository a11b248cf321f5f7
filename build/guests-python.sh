#!/usr/bin/env bash
# Builds every Python guest (called by build/guests.sh, or alone) into
# WebAssembly components with componentize-py:
#   examples      -> plugins/chat.wasm (+ its example manifest chat.toml)
#   test fixtures -> target/test-plugins/{echo-python,echo-sync-python}.wasm
#
# Each guest is a directory with an `app.py` that calls
# `hangar_agent.export(...)`; the SDK (sdk/python) is on its Python path and
# the world comes from wit/agent.wit plus sdk/python/wit (which adds
# wasi:http/outgoing-handler).
#
# Toolchain: componentize-py 0.25.1. A `componentize-py` on PATH at that
# version is used as is (the standard path: `pip install
# componentize-py==0.25.1`); otherwise it is installed from PyPI into a venv
# under target/tools/python/venv (python3-venv from apt if the venv module is
# missing).
#
# Re-running is cheap: a guest is rebuilt only when a hash of its sources,
# the SDK, the WIT and the tool version changed (stamps in
# target/guests-python/), and a .wasm is copied only when its bytes changed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

version=0.25.1
tools_dir="$root/target/tools/python"
venv="$tools_dir/venv"
work_dir="$root/target/guests-python"

# name | world (async|sync) | source dir | output file
guests=(
    "chat|sync|guest-examples/python/chat|plugins/chat.wasm"
    "echo-python|async|tests/plugins/python/echo|target/test-plugins/echo-python.wasm"
    "echo-sync-python|sync|tests/plugins/python/echo-sync|target/test-plugins/echo-sync-python.wasm"
)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

tool_version() { "$1" --version 2>/dev/null | awk '{print $2}'; }

find_componentize_py() {
    local onpath
    onpath="$(command -v componentize-py 2>/dev/null || true)"
    if [[ -n "$onpath" && "$(tool_version "$onpath")" == "$version" ]]; then
        printf '%s\n' "$onpath"
        return
    fi
    if [[ -x "$venv/bin/componentize-py" && "$(tool_version "$venv/bin/componentize-py")" == "$version" ]]; then
        printf '%s\n' "$venv/bin/componentize-py"
        return
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 is required (apt-get install python3 python3-venv)"
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        local sudo=()
        if [[ "$(id -u)" -ne 0 ]]; then
            command -v sudo >/dev/null 2>&1 || die "python3's venv module is missing and there is no sudo: apt-get install python3-venv"
            sudo=(sudo)
        fi
        log "installing python3-venv (apt)"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2
    fi
    log "installing componentize-py==$version into $venv"
    mkdir -p "$tools_dir"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || die "python3 -m venv $venv failed"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$version" >&2 ||
        die "pip install componentize-py==$version failed (is PyPI reachable?)"
    [[ "$(tool_version "$venv/bin/componentize-py")" == "$version" ]] ||
        die "componentize-py in $venv is not version $version after install"
    printf '%s\n' "$venv/bin/componentize-py"
}

# shellcheck source=build/guest-output.sh
source "$root/build/guest-output.sh"

# Hash of everything a guest's component depends on.
source_hash() {
    local src=$1 world=$2
    {
        printf 'componentize-py %s world %s\n' "$version" "$world"
        find "$src" sdk/python/hangar_agent sdk/python/wit wit/agent.wit -type f \
            \( -name '*.py' -o -name '*.wit' \) -not -path '*/__pycache__/*' -print0 |
            sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
}

componentize_py="$(find_componentize_py)"
mkdir -p "$work_dir"

for g in "${guests[@]}"; do
    IFS='|' read -r name world src dest <<<"$g"
    [[ -f "$src/app.py" ]] || die "$name: $src/app.py is missing"
    built="$work_dir/$name.wasm"
    stamp="$work_dir/$name.hash"
    hash="$(source_hash "$src" "$world")"
    if [[ -f "$built" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
        :
    else
        log "building $name ($world agent, $src)"
        rm -f "$stamp"
        (
            # The guest's own directory first, so its app.py wins.
            unset VIRTUAL_ENV
            "$componentize_py" -d wit/agent.wit -d sdk/python/wit -w "hangar:python-agent/$world-agent" \
                componentize app -p "$src" -p sdk/python -o "$built.tmp" >"$work_dir/$name.log" 2>&1
        ) || { tail -n 30 "$work_dir/$name.log" >&2; die "$name: componentize-py failed (whole log: $work_dir/$name.log)"; }
        mv -f "$built.tmp" "$built"
        printf '%s\n' "$hash" >"$stamp"
    fi
    manifest="$src/$name.toml"
    [[ -f "$manifest" ]] || manifest=""
    publish_guest "$built" "$dest" "$manifest" || die "$name: cannot publish $built"
done
