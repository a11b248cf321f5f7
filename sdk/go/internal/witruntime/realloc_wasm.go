//go:build wasip1

package witruntime

import "unsafe"

// sbrk is the Go runtime's own page allocator, the only memory there is
// before the runtime has started (when the host may already call
// cabi_realloc). Building needs -ldflags=-checklinkname=0, as
// componentize.sh passes.
//
//go:linkname sbrk runtime.sbrk
func sbrk(n uintptr) unsafe.Pointer

var runtimeStarted = false

func init() { runtimeStarted = true }

// Allocating from the heap may start a collection, which reads the clock;
// imports may not be called inside cabi_realloc, so the WASI adapter is
// told to answer from its cached time meanwhile.
//
//go:wasmimport wasi_snapshot_preview1 adapter_monotonic_clock_set_paused
func adapterMonotonicClockSetPaused(paused bool)

// cabiRealloc is the component model's allocation export. The host only
// ever asks for new buffers (the canonical ABI's strings and lists are
// written once).
//
//go:wasmexport cabi_realloc
func cabiRealloc(oldPointer unsafe.Pointer, oldSize, align, newSize uintptr) unsafe.Pointer {
	if oldPointer != nil || oldSize != 0 {
		panic("witruntime: cabi_realloc cannot grow a buffer")
	}
	if !runtimeStarted {
		unaligned := uintptr(sbrk(newSize + align))
		return unsafe.Pointer((unaligned + align - 1) &^ (align - 1))
	}
	if buffer := hostArena.take(newSize, align); buffer != nil || newSize == 0 {
		return buffer
	}
	adapterMonotonicClockSetPaused(true)
	buffer := Allocate(&hostBuffers, newSize, align)
	adapterMonotonicClockSetPaused(false)
	return buffer
}
