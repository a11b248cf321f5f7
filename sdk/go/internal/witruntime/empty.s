// An assembly file, so that Go accepts sbrk's declaration without a body
// (the body comes from the runtime through go:linkname).
