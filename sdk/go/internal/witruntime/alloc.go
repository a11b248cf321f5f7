package witruntime

import (
	"runtime"
	"unsafe"
)

// Allocate is a heap buffer of `size` bytes aligned to `align` (1, 2, 4 or
// 8), pinned by `pinner` so that its address stays valid for the host until
// the pinner is unpinned. nil for size 0.
func Allocate(pinner *runtime.Pinner, size, align uintptr) unsafe.Pointer {
	buffer := heapBuffer(size, align)
	if buffer != nil {
		pinner.Pin(buffer)
	}
	return buffer
}

// heapBuffer is zeroed heap memory without pointers (so the collector never
// scans it); words of 8 bytes satisfy every alignment the ABI asks for.
func heapBuffer(size, align uintptr) unsafe.Pointer {
	if size == 0 {
		return nil
	}
	if !supportedAlign(align) {
		panic("witruntime: unsupported alignment")
	}
	words := make([]uint64, (size+7)/8)
	return unsafe.Pointer(unsafe.SliceData(words))
}

// hostBuffers pins the heap buffers that did not fit in the arena until
// the bindings call Unpin (once a call's arguments are Go values).
var hostBuffers runtime.Pinner

// Unpin releases the pins on the host's heap buffers. The values made from
// them keep them alive; the arena is not touched.
func Unpin() {
	hostBuffers.Unpin()
}

// supportedAlign reports whether `align` is one the canonical ABI uses: a
// power of two up to 8.
func supportedAlign(align uintptr) bool {
	return align != 0 && align <= 8 && align&(align-1) == 0
}
