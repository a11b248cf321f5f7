#!/usr/bin/env python3
"""Which pages does a PAGEMAP_SCAN reset see? (Linux 6.7+, no root needed)

Maps 64 anonymous pages, writes page 5, reads page 10 (the kernel maps the shared
zero page), leaves the rest untouched, then asks PAGEMAP_SCAN for "written, not the
zero page, not a file page" two ways:

- with PRESENT required (wasmtime 48's mask): only page 5, the page a guest wrote;
- without PRESENT (wasmtime 50's mask, which dropped it so that swapped-out pages are
  reset too): every untouched page as well, so a reset rewrites (and makes resident)
  memory nobody touched, up to its keep-resident budget, on every instance drop.

docs/performance.md uses this to explain why Hangar stays on wasmtime 48.
"""

import ctypes
import fcntl
import mmap
import os

PAGE = mmap.PAGESIZE
PAGES = 64
WRITTEN, FILE, PRESENT, PFNZERO = 1 << 1, 1 << 2, 1 << 3, 1 << 5
# _IOWR('f', 16, struct pm_scan_arg), the struct being 12 u64 (96 bytes).
PAGEMAP_SCAN = (3 << 30) | (96 << 16) | (ord("f") << 8) | 16


def scan(base: int, mask: int) -> list[tuple[int, int]]:
    """Regions (first page, end page) matching `mask`, with FILE and PFNZERO inverted."""
    regions = (ctypes.c_uint64 * (3 * PAGES))()
    arg = (ctypes.c_uint64 * 12)(
        96, 0, base, base + PAGES * PAGE, 0,  # size, flags, start, end, walk_end
        ctypes.addressof(regions), PAGES, 0,  # vec, vec_len, max_pages
        PFNZERO | FILE, mask, 0, 0,  # inverted, mask, anyof, return mask
    )
    fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    try:
        count = fcntl.ioctl(fd, PAGEMAP_SCAN, arg)
    finally:
        os.close(fd)
    return [
        ((regions[3 * i] - base) // PAGE, (regions[3 * i + 1] - base) // PAGE)
        for i in range(count)
    ]


def main() -> None:
    memory = mmap.mmap(-1, PAGES * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    base = ctypes.addressof((ctypes.c_char * (PAGES * PAGE)).from_buffer(memory))
    memory[5 * PAGE] = 1
    _ = memory[10 * PAGE]
    print("wrote page 5, read page 10, left the other 62 untouched")
    print("PRESENT required (wasmtime 48):", scan(base, WRITTEN | PRESENT | PFNZERO | FILE))
    print("PRESENT dropped  (wasmtime 50):", scan(base, WRITTEN | PFNZERO | FILE))


if __name__ == "__main__":
    main()
