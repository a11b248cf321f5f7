"""Checks that the dirty-tracking rewrite marks exactly the 4 KiB pages each
kind of write touches (so the overhead it measures is that of real marking).

    cargo build --release   # in this directory
    wasm-tools parse check_marks.wat -o /tmp/marks.wasm
    target/release/dirty-tracking /tmp/marks.wasm /tmp/marks-tracked.wasm
    python -m pip install wasmtime && python check_marks.py /tmp/marks-tracked.wasm
"""

import sys

import wasmtime

PAGE = 4096


def main(path: str) -> None:
    store = wasmtime.Store()
    module = wasmtime.Module.from_file(store.engine, path)
    instance = wasmtime.Instance(store, module, [])
    exports = instance.exports(store)
    dirty = exports["dirty-map"]

    def marked() -> set[int]:
        data = dirty.read(store, 0, 64 * 1024)
        return {i for i, b in enumerate(data) if b}

    def clear() -> None:
        dirty.write(store, bytes(64 * 1024), 0)

    cases = [
        # (export, args, pages that must be marked)
        ("store32", (0, 5), {0}),
        ("store32", (PAGE - 8 - 2, 5), {0, 1}),  # straddles a page boundary
        ("store32", (3 * PAGE, 5), {3}),
        ("store64", (2 * PAGE + 100,), {2}),
        ("store8", (PAGE * 5 - 1,), {4}),
        ("fill", (PAGE - 1, PAGE + 2), {0, 1, 2}),
        ("fill", (8 * PAGE, 0), set()),  # writes nothing, marks nothing
        ("copy", (10 * PAGE, 0, 3 * PAGE), {10, 11, 12}),
    ]
    for name, args, expected in cases:
        clear()
        exports[name](store, *args)
        got = marked()
        assert got == expected, f"{name}{args}: marked {sorted(got)}, expected {sorted(expected)}"
    clear()
    page = exports["grow_and_store"](store)
    got = marked()
    assert got == {page * 16}, f"grow_and_store: marked {sorted(got)}"
    print(f"ok: {len(cases) + 1} cases")


if __name__ == "__main__":
    main(sys.argv[1])
