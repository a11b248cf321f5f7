#!/usr/bin/env bash
# Builds {{name}}.wasm, a WebAssembly component (called by `make build`).
#
# Uses rustup's wasm32-wasip2 target when it is installed (the normal path:
# `rustup target add wasm32-wasip2`). Otherwise, on Debian/Ubuntu, Debian's
# rustc-web with std built from source (-Zbuild-std), the way Hangar's own
# build does when rustup cannot download wasm targets. Says what to install
# when neither is there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

crate={{name_snake}}
out={{name}}.wasm
target=wasm32-wasip2

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

have_rustup_target() {
    command -v rustup >/dev/null 2>&1 &&
        rustup target list --installed 2>/dev/null | grep -qx "$target"
}

debian_toolchain_ok() {
    [[ -x /usr/bin/rustc && -x /usr/bin/cargo ]] &&
        [[ -f "$(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust/library/std/Cargo.toml" ]] &&
        [[ -x /usr/lib/llvm-19/bin/wasm-ld && -f /usr/lib/wasm32-wasi/libc.a ]]
}

# wasm32-wasip2 links through wasm-component-ld: Debian's sysroot may ship
# it, every rustup toolchain does; else `cargo install wasm-component-ld`.
find_component_ld() {
    local c
    for c in "$(/usr/bin/rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld" \
        "$(rustc --print sysroot 2>/dev/null)/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld"; do
        [[ -x "$c" ]] && { printf '%s\n' "$c"; return 0; }
    done
    command -v wasm-component-ld 2>/dev/null
}

# A component starts with "\0asm" then 0d 00 01 00 (a core module: 01 00 00 00).
is_component() {
    [[ "$(od -An -tx1 -j4 -N4 "$1" | tr -d ' \n')" == "0d000100" ]]
}

if [[ "${HANGAR_GUEST_TOOLCHAIN:-}" != debian ]] && have_rustup_target; then
    cargo build --release --target "$target"
    built="target/$target/release/$crate.wasm"
elif debian_toolchain_ok; then
    component_ld="$(find_component_ld)" ||
        die "wasm-component-ld not found: cargo install --locked wasm-component-ld"
    (
        unset CARGO_ENCODED_RUSTFLAGS RUSTUP_TOOLCHAIN
        export PATH="/usr/lib/llvm-19/bin:$PATH"
        export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
        export CARGO_TARGET_WASM32_WASIP2_LINKER="$component_ld"
        export RUSTFLAGS="-C link-self-contained=no -L /usr/lib/wasm32-wasi"
        # Its own target dir: this rustc differs from the one `make test` uses.
        /usr/bin/cargo build --release --target "$target" -Zbuild-std=std,panic_abort \
            --target-dir target/debian
    )
    built="target/debian/$target/release/$crate.wasm"
else
    die "no Rust toolchain for $target. Install one of:
  rustup target add $target                  # with rustup (https://rustup.rs)
  sudo apt-get install rustc-web cargo-web rust-web-src lld-19 wasi-libc   # Debian bookworm"
fi

[[ -f "$built" ]] || die "cargo succeeded but $built is missing"
is_component "$built" || die "$built is a core module, not a component"
cp "$built" "$out.tmp"
mv -f "$out.tmp" "$out"
echo "built $out ($(wc -c <"$out") bytes)"
