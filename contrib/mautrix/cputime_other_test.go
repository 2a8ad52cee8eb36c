//go:build !unix

package mautrix_test

import "time"

// processCPU reports no CPU time where getrusage is missing: benchmarks
// then report wall time only.
func processCPU() (time.Duration, bool) { return 0, false }
