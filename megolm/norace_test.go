//go:build !race

package megolm_test

const raceEnabled = false
