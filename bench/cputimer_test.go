package bench_test

import (
	"sync"
	"testing"
	"time"
)

// ownCPU holds the benchmarks that report their own CPU time (cpuTimer),
// over their timed sections only: runImpl then does not replace it with
// its count, which includes the setup.
var ownCPU sync.Map

// cpuTimer counts the CPU time of a benchmark's timed sections beside
// b's own timer: call start after ResetTimer and pair stop and resume
// with StopTimer and StartTimer.
type cpuTimer struct {
	b         *testing.B
	total, t0 time.Duration
	stopped   bool
}

func startCPU(b *testing.B) *cpuTimer { return &cpuTimer{b: b, t0: cpuTime()} }

// stop stops b's timer and the CPU count.
func (c *cpuTimer) stop() {
	c.b.StopTimer()
	if !c.stopped {
		c.total += cpuTime() - c.t0
		c.stopped = true
	}
}

// resume restarts both.
func (c *cpuTimer) resume() {
	c.t0 = cpuTime()
	c.stopped = false
	c.b.StartTimer()
}

// report reports the CPU time per op divided by per, as cpu-ns/unit.
func (c *cpuTimer) report(per int, unit string) {
	c.stop()
	c.b.ReportMetric(float64(c.total.Nanoseconds())/float64(c.b.N*per), "cpu-ns/"+unit)
	ownCPU.Store(c.b, true)
}
