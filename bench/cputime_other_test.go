//go:build !unix

package bench_test

import "time"

// cpuTime is not measured here: runImpl then reports no cpu-ns/op.
func cpuTime() time.Duration { return 0 }
