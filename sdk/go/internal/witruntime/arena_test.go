package witruntime

import (
	"testing"
	"unsafe"
)

func TestArenaHandsOutAlignedBytesOnceAndSaysWhenFull(t *testing.T) {
	memory := make([]byte, 64)
	a := arena{memory: memory[1:33]} // misaligned on purpose: 32 bytes from an odd address
	base := uintptr(unsafe.Pointer(&memory[1]))
	type take struct {
		size, align uintptr
		served      bool
	}
	steps := []take{
		{3, 1, true},   // bytes 0..2
		{4, 4, true},   // at the next 4-aligned address
		{0, 1, false},  // nothing for nothing
		{1, 3, false},  // not a power of two
		{1, 16, false}, // beyond what the ABI asks
		{8, 8, true},   // at the next 8-aligned address
		{64, 1, false}, // does not fit: nil, and nothing used
		{1, 1, true},   // still served after a refusal
	}
	var last uintptr
	for i, s := range steps {
		p := a.take(s.size, s.align)
		if !s.served {
			if p != nil {
				t.Fatalf("step %d: take(%d, %d) = %p, want nil", i, s.size, s.align, p)
			}
			continue
		}
		if p == nil {
			t.Fatalf("step %d: take(%d, %d) = nil", i, s.size, s.align)
		}
		addr := uintptr(p)
		if addr%s.align != 0 {
			t.Fatalf("step %d: %#x is not %d-aligned", i, addr, s.align)
		}
		if addr < base || addr+s.size > base+32 {
			t.Fatalf("step %d: %#x+%d is outside the arena", i, addr, s.size)
		}
		if last != 0 && addr < last {
			t.Fatalf("step %d: %#x overlaps bytes handed out before (up to %#x)", i, addr, last)
		}
		last = addr + s.size
	}
	for a.take(1, 1) != nil { // use up the rest
	}
	if a.used != 32 {
		t.Fatalf("a full arena has used %d of 32 bytes", a.used)
	}
}

func TestTheHostArenaIsEightByteAligned(t *testing.T) {
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(hostArena.memory))); p%8 != 0 || len(hostArena.memory) != arenaSize {
		t.Fatalf("host arena at %#x, %d bytes", p, len(hostArena.memory))
	}
}

func TestAllocateIsZeroedAndAligned(t *testing.T) {
	for _, align := range []uintptr{1, 2, 4, 8} {
		p := heapBuffer(13, align)
		if uintptr(p)%align != 0 {
			t.Fatalf("align %d: %p", align, p)
		}
		for i, b := range unsafe.Slice((*byte)(p), 13) {
			if b != 0 {
				t.Fatalf("byte %d is %d", i, b)
			}
		}
	}
	if heapBuffer(0, 1) != nil {
		t.Fatal("a buffer of 0 bytes should be nil")
	}
}
