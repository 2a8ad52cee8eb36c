//go:build race

package olm_test

// raceEnabled reports whether the race detector is on: its sync.Pool drops
// a quarter of what is put back, so allocation figures do not hold.
const raceEnabled = true
