//go:build unix

package sqlstore_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user and system) the process has used. The
// store benchmarks report it next to wall time: on a shared machine, wall
// time measures the neighbours as much as the code. It counts this process
// only: a PostgreSQL server's own work is not in it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
