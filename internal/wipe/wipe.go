// Package wipe clears secrets from memory.
//
// Bytes and the typed helpers overwrite memory the caller still holds, so that
// a dropped key does not linger until the garbage collector reuses the page.
// Do runs f under runtime/secret when the toolchain offers it (Go 1.26 with
// GOEXPERIMENT=runtimesecret on linux/amd64 and linux/arm64), which also
// erases the registers, stack and heap temporaries f used; otherwise it just
// calls f.
package wipe

// Bytes overwrites b with zeros.
func Bytes(b []byte) { clear(b) }

// Array32 overwrites a 32-byte array with zeros.
func Array32(a *[32]byte) { clear(a[:]) }

// Array64 overwrites a 64-byte array with zeros.
func Array64(a *[64]byte) { clear(a[:]) }
