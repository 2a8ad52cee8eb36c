//go:build race

package cipher

// saveStates is off under the race detector: its builds do not optimize
// the append(b, make([]byte, n)...) in crypto/sha256's AppendBinary, which
// then allocates, and hashing must not allocate. The output is the same.
const saveStates = false
