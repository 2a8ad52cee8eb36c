package mautrix_test

import (
	"testing"
	"time"
)

// cpuClock adds up the process's CPU time (user and system, all threads)
// between start and stop, for benchmarks on a machine whose other load
// makes wall time noisy.
type cpuClock struct {
	total time.Duration
	since time.Duration
	ok    bool
}

func (c *cpuClock) start() { c.since, c.ok = processCPU() }

func (c *cpuClock) stop() {
	now, ok := processCPU()
	c.ok = c.ok && ok
	c.total += now - c.since
}

// report adds the cpu-ns/op metric to b.
func (c *cpuClock) report(b *testing.B) {
	if c.ok && b.N > 0 {
		b.ReportMetric(float64(c.total.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
