// Package interop holds the cross tests between souverain's pure-Go
// packages and libolm 3.2.13, the C++ reference implementation.
//
// It is a separate module so that the core module
// github.com/souverain/e2ee never needs cgo. The libolm subpackage is a thin
// cgo wrapper around libolm's C API; building it needs a C compiler and
// libolm's headers and library (Debian: libolm-dev).
//
// Run the tests with
//
//	cd interop && go test ./...
//
// TestRandomConversation draws its schedule from a seed it logs; rerun a
// failure with -conversation.seed=N.
package interop
