#!/usr/bin/env bash
# Builds every Rust guest (called by build/guests.sh, or alone) (WebAssembly components for Hangar):
#   examples      -> plugins/{echo,wait,echo-sync,webhook}.wasm (+ webhook.toml)
#   test fixtures -> target/test-plugins/{faulty,faulty-sync,observable,misbehave}.wasm
#
# Toolchain: rustup's wasm32-wasip2 target when it is installed (the normal
# path: `rustup target add wasm32-wasip2`); otherwise Debian's rustc-web with
# std built from source (-Zbuild-std), installing the apt packages if they are
# missing. See shared/notes/guest-toolchains.md.
#
# Guests build in their own target dir (target/guests) so they never
# invalidate the host's build. Re-running is cheap: cargo rebuilds only what
# changed, and a .wasm is copied only when its bytes changed.
#
# Environment:
#   HANGAR_GUEST_TOOLCHAIN=rustup|debian  force a toolchain (default: detect)
#   CARGO_TARGET_DIR                      ignored; guests use target/guests
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target=wasm32-wasip2
profile=guest
target_dir="$root/target/guests"

# crate name | output file | example manifest copied beside it (optional)
guests=(
    "echo-agent|plugins/echo.wasm"
    "wait-agent|plugins/wait.wasm"
    "echo-sync-agent|plugins/echo-sync.wasm"
    "webhook-agent|plugins/webhook.wasm|guest-examples/rust/webhook/webhook.toml"
    "faulty-agent|target/test-plugins/faulty.wasm"
    "faulty-sync-agent|target/test-plugins/faulty-sync.wasm"
    "observable-agent|target/test-plugins/observable.wasm"
    "http-client-agent|target/test-plugins/http-client.wasm"
    "secret-reader-agent|target/test-plugins/secret-reader.wasm"
    "misbehave-agent|target/test-plugins/misbehave.wasm"
)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

have_rustup_target() {
    command -v rustup >/dev/null 2>&1 &&
        rustup target list --installed 2>/dev/null | grep -qx "$target"
}

debian_sysroot_ok() {
    [[ -x /usr/bin/rustc && -x /usr/bin/cargo ]] || return 1
    local sysroot
    sysroot="$(/usr/bin/rustc --print sysroot 2>/dev/null)" || return 1
    [[ -f "$sysroot/lib/rustlib/src/rust/library/std/Cargo.toml" ]] &&
        [[ -x /usr/lib/llvm-19/bin/wasm-ld ]] &&
        [[ -f /usr/lib/wasm32-wasi/libc.a ]]
}

install_debian_toolchain() {
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to install the Debian Rust toolchain"
        sudo=(sudo)
    fi
    log "installing rustc-web cargo-web rust-web-src lld-19 wasi-libc (apt)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends \
        rustc-web cargo-web rust-web-src lld-19 wasi-libc
}

# wasm32-wasip2 links through wasm-component-ld (wasm-ld, then the
# component wrapping). Some rustc-web builds ship it in their sysroot, some
# do not: then use rustup's copy (every rustup toolchain since 1.82 has one),
# else build it once into target/tools/rust/.
find_component_ld() {
    local candidates=(
        "$(/usr/bin/rustc --print sysroot 2>/dev/null)/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld"
    )
    if command -v rustc >/dev/null 2>&1; then
        candidates+=("$(rustc --print sysroot 2>/dev/null)/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld")
    fi
    candidates+=("$root/target/tools/rust/bin/wasm-component-ld")
    local c
    for c in "${candidates[@]}"; do
        if [[ -x "$c" ]]; then
            printf '%s\n' "$c"
            return 0
        fi
    done
    command -v cargo >/dev/null 2>&1 || return 1
    log "building wasm-component-ld into target/tools/rust (once)"
    cargo install --locked --quiet wasm-component-ld --root "$root/target/tools/rust" >&2 || return 1
    printf '%s\n' "$root/target/tools/rust/bin/wasm-component-ld"
}

toolchain="${HANGAR_GUEST_TOOLCHAIN:-}"
if [[ -z "$toolchain" ]]; then
    if have_rustup_target; then toolchain=rustup; else toolchain=debian; fi
fi

packages=()
for g in "${guests[@]}"; do packages+=(-p "${g%%|*}"); done

case "$toolchain" in
rustup)
    have_rustup_target || die "rustup has no $target target (rustup target add $target)"
    log "building ${#guests[@]} guests with rustup's $target target"
    cargo build --target "$target" --profile "$profile" \
        --target-dir "$target_dir" "${packages[@]}"
    ;;
debian)
    debian_sysroot_ok || install_debian_toolchain
    debian_sysroot_ok || die "the Debian Rust toolchain is still incomplete after apt-get install"
    component_ld="$(find_component_ld)" ||
        die "no wasm-component-ld found and 'cargo install wasm-component-ld' failed"
    log "building ${#guests[@]} guests with $(/usr/bin/rustc --version) and -Zbuild-std"
    # Debian's rustc ships no prebuilt std for wasm: build it from
    # rust-web-src (nightly flag, hence RUSTC_BOOTSTRAP). wasm-component-ld
    # calls wasm-ld from lld-19; libc comes from Debian's wasi-libc.
    (
        unset CARGO_ENCODED_RUSTFLAGS RUSTUP_TOOLCHAIN
        export PATH="/usr/lib/llvm-19/bin:$PATH"
        export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
        export CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld
        export CARGO_TARGET_WASM32_WASIP2_LINKER="$component_ld"
        export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld
        export RUSTFLAGS="-C link-self-contained=no -L /usr/lib/wasm32-wasi"
        /usr/bin/cargo build --target "$target" --profile "$profile" \
            -Zbuild-std=std,panic_abort --target-dir "$target_dir" "${packages[@]}"
    )
    ;;
*)
    die "HANGAR_GUEST_TOOLCHAIN must be rustup or debian, not '$toolchain'"
    ;;
esac

# shellcheck source=build/guest-output.sh
source "$root/build/guest-output.sh"

for g in "${guests[@]}"; do
    IFS='|' read -r crate dest manifest <<<"$g"
    built="$target_dir/$target/$profile/${crate//-/_}.wasm"
    [[ -f "$built" ]] || die "$crate: cargo reported success but $built is missing"
    publish_guest "$built" "$dest" "$manifest" || die "$crate: cannot publish $built"
done
