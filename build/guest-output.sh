# Sourced by build/guests-<lang>.sh: how a built guest becomes an output.
#
# Every language ends the same way: check the file is a component (not a core
# module), copy it to its destination only when its bytes changed (so file
# watchers and the compile cache see no churn), copy the example manifest
# beside it, and print one line with its size.

# A component starts with "\0asm" then version 0x0d 0x00 and layer 0x01 0x00
# (a core module has 01 00 00 00): catches a toolchain that emitted a module.
is_component() {
    [[ -f "$1" && "$(od -An -tx1 -j4 -N4 "$1" | tr -d ' \n')" == "0d000100" ]]
}

human_size() {
    local bytes=$1
    if ((bytes >= 1048576)); then
        printf '%d.%d MiB' $((bytes / 1048576)) $((bytes % 1048576 * 10 / 1048576))
    else
        printf '%d.%d KiB' $((bytes / 1024)) $((bytes % 1024 * 10 / 1024))
    fi
}

# copy_if_changed SRC DEST: prints "updated" or "unchanged".
copy_if_changed() {
    if cmp -s "$1" "$2"; then
        echo unchanged
    else
        cp "$1" "$2.tmp"
        mv -f "$2.tmp" "$2"
        echo updated
    fi
}

# publish_guest BUILT DEST [MANIFEST]: BUILT (a component) to DEST, and
# MANIFEST (if given) to DEST's NAME.toml; one line per file.
publish_guest() {
    local built=$1 dest=$2 manifest=${3:-} state toml
    is_component "$built" || {
        printf 'error: %s is not a WebAssembly component (a core module, or no file)\n' "$built" >&2
        return 1
    }
    mkdir -p "$(dirname "$dest")"
    state=$(copy_if_changed "$built" "$dest")
    printf '  %-22s %10s  %-9s %s\n' "$(basename "$dest")" "$(human_size "$(wc -c <"$dest")")" "$state" "$dest"
    if [[ -n "$manifest" ]]; then
        [[ -f "$manifest" ]] || {
            printf 'error: the example manifest %s is missing\n' "$manifest" >&2
            return 1
        }
        toml="${dest%.wasm}.toml"
        state=$(copy_if_changed "$manifest" "$toml")
        printf '  %-22s %10s  %-9s %s\n' "$(basename "$toml")" "$(human_size "$(wc -c <"$toml")")" "$state" "$toml"
    fi
}
