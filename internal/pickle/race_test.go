//go:build race

package pickle

// raceEnabled reports whether the race detector is on: its sync.Pool drops
// a quarter of what is put back, so allocation counts do not hold.
const raceEnabled = true
