//go:build !race

package olm_test

const raceEnabled = false
