#!/usr/bin/env bash
# Builds every guest (WebAssembly components for Hangar) from source, one
# script per language, in parallel:
#   build/guests-rust.sh    Rust    (rustup wasm32-wasip2, or Debian rustc-web)
#   build/guests-python.sh  Python  (componentize-py)
#   build/guests-js.sh      JavaScript (componentize-js / jco)
#   build/guests-go.sh      Go      (wasip1 + go:wasmexport + reactor adapter)
# Examples go to plugins/, test fixtures to target/test-plugins/. Each script
# installs the toolchain it needs on a fresh machine (tools land in
# target/tools/<language>/) and rebuilds only what changed.
#
# Output lines are prefixed with the language so progress stays readable; a
# failing language does not stop the others, and the run fails at the end
# naming every language that failed (its last lines are repeated there).
#
# Environment:
#   HANGAR_GUEST_LANGS=rust,go   build only these languages (default: all)
#   HANGAR_GUEST_TOOLCHAIN       passed on to guests-rust.sh (rustup|debian)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_langs=(rust python js go)
if [[ -n "${HANGAR_GUEST_LANGS:-}" ]]; then
    IFS=', ' read -r -a langs <<<"$HANGAR_GUEST_LANGS"
else
    langs=("${all_langs[@]}")
fi
for lang in "${langs[@]}"; do
    if [[ ! -f "build/guests-$lang.sh" ]]; then
        printf 'error: HANGAR_GUEST_LANGS names "%s", which has no build/guests-%s.sh (known: %s)\n' \
            "$lang" "$lang" "${all_langs[*]}" >&2
        exit 2
    fi
done

log_dir="$root/target/guest-logs"
mkdir -p "$log_dir"
start=$SECONDS
pids=()
for lang in "${langs[@]}"; do
    (
        set -o pipefail
        bash "build/guests-$lang.sh" 2>&1 | tee "$log_dir/$lang.log" |
            while IFS= read -r line; do printf '[%-6s] %s\n' "$lang" "$line"; done
    ) &
    pids+=($!)
done

failed=()
for i in "${!langs[@]}"; do
    if ! wait "${pids[$i]}"; then failed+=("${langs[$i]}"); fi
done

elapsed=$((SECONDS - start))
if ((${#failed[@]})); then
    for lang in "${failed[@]}"; do
        printf '\n---- %s failed; last lines (whole log: %s) ----\n' "$lang" "$log_dir/$lang.log" >&2
        tail -n 25 "$log_dir/$lang.log" >&2
    done
    printf '\nerror: guests failed to build: %s (after %ss)\n' "${failed[*]}" "$elapsed" >&2
    exit 1
fi
printf '==> all guests built (%s) in %ss\n' "${langs[*]}" "$elapsed"
