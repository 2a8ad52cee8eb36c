package bench_test

import (
	"crypto/rand"
	"encoding/base64"
	"flag"
	"strings"
	"testing"
)

// The implementations, as the values of the impl key of every benchmark.
const (
	implSouverain = "souverain"
	implGoolm     = "goolm"
	implLibolm    = "libolm"
	implFloor     = "floor"
)

var large = flag.Bool("large", false, "also run the scale benchmarks with N = 10000")

// runImpl runs f as the sub-benchmark impl=name. Besides the wall time, it
// reports the process's CPU time per operation (cpu-ns/op; its setup
// included, so give it many iterations), which is what to compare on a
// shared machine, unless f reports its own over its timed sections
// (cpuTimer, the store benchmarks).
func runImpl(b *testing.B, name string, f func(b *testing.B)) {
	b.Helper()
	b.Run("impl="+name, func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime()
		f(b)
		if _, own := ownCPU.Load(b); own {
			return
		}
		if used := cpuTime() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used)/float64(b.N), "cpu-ns/op")
		}
	})
}

// b64 is the encoding Matrix carries binary values in. souverain's
// message types are binary, so its benchmarks encode and decode message
// bodies as a client must; goolm and libolm do it inside their APIs.
var b64 = base64.RawStdEncoding

// fill returns n random bytes from crypto/rand.
func fill(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// must stops the benchmark or test on error.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// mustV returns v, stopping the benchmark or test on error.
func mustV[T any](tb testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

// benchSelects reports whether the -test.bench pattern names s
// explicitly, so that an expensive case runs only when asked for.
func benchSelects(s string) bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), s)
}
