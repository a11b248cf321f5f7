#!/usr/bin/env bash
# Regenerates the Go bindings in internal/wit from the WIT (sdk/go/wit and
# ../../wit/agent.wit) with `wit-bindgen go`:
#
#   generate-bindings.sh            rewrite sdk/go/internal/wit in place
#   generate-bindings.sh --check    regenerate into a temp dir and fail on any
#                                   difference (CI: the committed bindings
#                                   must match the WIT)
#
# The bindings are committed so that building an agent needs only Go and
# wasm-tools; run this after changing any WIT. It needs wit-bindgen-cli
# 0.61.1 on PATH (`cargo install --locked wit-bindgen-cli@0.61.1`).
#
# wit-bindgen writes generated files only (wit_bindings.go, wit_exports.go,
# empty.s);
# the hand-written packages beside them (export_*: the functions the exports
# call, wasip1 only) are kept.
set -euo pipefail

sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
want_version=0.61.1
pkg_name=hangar.local/hangar/internal/wit

die() { printf 'generate-bindings: error: %s\n' "$*" >&2; exit 1; }

check=false
case "${1:-}" in
"") ;;
--check) check=true ;;
*) die "usage: generate-bindings.sh [--check]" ;;
esac

command -v wit-bindgen >/dev/null 2>&1 ||
    die "wit-bindgen is not on PATH: cargo install --locked wit-bindgen-cli@$want_version"
version="$(wit-bindgen --version | awk '{print $2}')"
[[ "$version" == "$want_version" ]] ||
    die "wit-bindgen $version found, the committed bindings come from $want_version: cargo install --locked wit-bindgen-cli@$want_version"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp -r "$sdk/wit" "$tmp/wit"
mkdir -p "$tmp/wit/deps/flyte-agent"
cp "$sdk/../../wit/agent.wit" "$tmp/wit/deps/flyte-agent/agent.wit"

wit-bindgen go --world hangar:go-sdk/bindings --pkg-name "$pkg_name" --out-dir "$tmp/out" "$tmp/wit" \
    >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; die "wit-bindgen go failed"; }

# wit-bindgen's Go output imports go.bytecodealliance.org/pkg for its
# runtime and WIT types; point it at the SDK's own (internal/witruntime,
# whose cabi_realloc serves the host's buffers from an arena, and
# internal/wittypes), so an agent needs no module but the SDK.
while read -r f; do
    sed -i \
        -e 's|"go.bytecodealliance.org/pkg/wit/runtime"|"hangar.local/hangar/internal/witruntime"|' \
        -e 's|"go.bytecodealliance.org/pkg/wit/types"|"hangar.local/hangar/internal/wittypes"|' \
        "$f"
done < <(find "$tmp/out" -name '*.go')
if grep -rl 'go.bytecodealliance.org/' "$tmp/out" >/dev/null; then
    die "the generated bindings import a go.bytecodealliance.org package the SDK has no stand-in for: $(grep -rho '"go.bytecodealliance.org/[^"]*"' "$tmp/out" | sort -u | tr '\n' ' ')"
fi

# The generated files, as paths relative to internal/wit.
generated_in() { (cd "$1" && find . -name 'wit_bindings.go' -o -name 'wit_exports.go' -o -name 'empty.s' | sort); }

if $check; then
    committed="$sdk/internal/wit"
    diff <(generated_in "$tmp/out") <(generated_in "$committed") >/dev/null ||
        die "the set of generated files in $committed differs from what wit-bindgen makes: run sdk/go/generate-bindings.sh"
    while read -r f; do
        cmp -s "$tmp/out/$f" "$committed/$f" ||
            die "$committed/$f is stale (the WIT changed?): run sdk/go/generate-bindings.sh"
    done < <(generated_in "$tmp/out")
    echo "bindings in $committed match the WIT"
    exit 0
fi

target="$sdk/internal/wit"
mkdir -p "$target"
# Drop generated files of interfaces that are gone, keep hand-written ones.
while read -r f; do rm -f "$target/$f"; done < <(generated_in "$target")
while read -r f; do
    mkdir -p "$target/$(dirname "$f")"
    cp "$tmp/out/$f" "$target/$f"
done < <(generated_in "$tmp/out")
find "$target" -type d -empty -delete
echo "regenerated $(generated_in "$target" | wc -l) files in $target"
