//go:build !unix

package sqlstore_test

import "time"

func cpuTime() time.Duration { return 0 }
