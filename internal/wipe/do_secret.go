//go:build goexperiment.runtimesecret

package wipe

import "runtime/secret"

// Enabled reports whether Do erases f's temporaries (runtime/secret is built in).
const Enabled = true

// Do calls f through runtime/secret.Do, which erases the registers and stack
// f used when it returns, and its heap allocations once they are unreachable.
func Do(f func()) { secret.Do(f) }
