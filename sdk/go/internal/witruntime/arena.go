package witruntime

import "unsafe"

// arenaSize is the room for the host's buffers of one instance: a task of
// ordinary size takes a few KiB. Pages nobody writes cost no memory.
const arenaSize = 64 << 10

// arena hands out the bytes of `memory` in order, each once.
type arena struct {
	memory []byte
	used   uintptr
}

// hostArena is where cabi_realloc puts the host's buffers first. Its
// memory is a global, not a heap object: the collector never scans or
// frees it, so pointers into it need no pin.
var (
	hostArenaMemory [arenaSize / 8]uint64 // 8-byte aligned
	hostArena       = arena{memory: unsafe.Slice((*byte)(unsafe.Pointer(&hostArenaMemory)), arenaSize)}
)

// take is `size` bytes aligned to `align` (a power of two up to 8), or nil
// when they do not fit in what is left (and for size 0).
func (a *arena) take(size, align uintptr) unsafe.Pointer {
	// supportedAlign's test, written out: take runs for every buffer of
	// every call, and the extra call costs Go's wasm about 4% of a reused
	// echo call's instructions (fuel: 52,541 against 50,265).
	if size == 0 || align == 0 || align > 8 || align&(align-1) != 0 {
		return nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(a.memory)))
	start := (base+a.used+align-1)&^(align-1) - base
	if start > uintptr(len(a.memory)) || size > uintptr(len(a.memory))-start {
		return nil
	}
	a.used = start + size
	return unsafe.Pointer(&a.memory[start])
}
