package witruntime

// Handle is a resource handle the host gave the guest: 0 means none (taken,
// or never set).
type Handle struct {
	value int32
}

// MakeHandle wraps a handle from the host.
func MakeHandle(value int32) *Handle {
	if value == 0 {
		panic("witruntime: the host passed the null resource handle")
	}
	return &Handle{value: value}
}

// Use is the handle, which stays owned here.
func (h *Handle) Use() int32 {
	if h.value == 0 {
		panic("witruntime: use of a resource handle that was taken or never set")
	}
	return h.value
}

// Take is the handle, whose ownership passes to the caller.
func (h *Handle) Take() int32 {
	value := h.Use()
	h.value = 0
	return value
}

// TakeOrNil is Take, or 0 when there is no handle.
func (h *Handle) TakeOrNil() int32 {
	value := h.value
	h.value = 0
	return value
}

// Set stores a handle in an empty Handle.
func (h *Handle) Set(value int32) {
	if value == 0 {
		panic("witruntime: setting the null resource handle")
	}
	if h.value != 0 {
		panic("witruntime: the resource handle is already set")
	}
	h.value = value
}
