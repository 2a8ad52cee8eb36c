//go:build !race

package cipher

// saveStates says whether HKDF saves the pad states of its PRK (see
// hashState.keyPads). It is off under the race detector, whose builds make
// crypto/sha256's AppendBinary allocate; the output is the same either way.
const saveStates = true
