//go:build !goexperiment.runtimesecret

package wipe

// Enabled reports whether Do erases f's temporaries (runtime/secret is built in).
const Enabled = false

// Do calls f. Built without GOEXPERIMENT=runtimesecret, nothing more is erased.
func Do(f func()) { f() }
