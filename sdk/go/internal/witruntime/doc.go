// Package witruntime is what the generated bindings in internal/wit call to
// move data across the component boundary: resource handles, buffers for
// values the guest hands to the host (Allocate, pinned until Unpin), and
// cabi_realloc, the export the host calls for a buffer to write a call's
// arguments (and an import's results) into.
//
// It exists instead of go.bytecodealliance.org/pkg/wit/runtime, which the
// bindings generator imports, for cabi_realloc's sake: that one allocates
// every buffer from the garbage-collected heap and pins it, which was a
// fifth of a reused Go agent's call (docs/performance.md). Here the host's
// buffers come from an arena first: bump allocation in a fixed region that
// is never handed out twice, so data the agent keeps stays intact. The
// region is used up once per instance, and Hangar gives every call a fresh
// instance or puts a reused one back to its state before the call, so each
// call starts with the whole arena. Buffers that do not fit come from the
// heap, pinned, as before. generate-bindings.sh points the bindings here.
package witruntime
