// Package ctcheck is a dudect-style timing test (Reparaz, Balasch and
// Verbauwhede, "Dude, is my code constant time?", DATE 2017) for the tests
// of the constant-time code paths: an operation is timed many times on two
// classes of input, the class of each measurement drawn at random, and
// Welch's t-test says whether the two timing distributions differ.
//
// A leak shows as a |t| that keeps growing with the number of measurements;
// noise that does not depend on the class (scheduling, GC, frequency
// changes) does not, because the random interleaving spreads it over both
// classes. As in dudect, the test is repeated on the measurements below
// several percentiles of their distribution (cropping the long tail that
// interruptions add), and the largest |t| counts.
//
// Only tests import this package. The tests that use it are skipped unless
// SOUVERAIN_CTCHECK=1 (see [Enabled]); CI runs them in one bounded step.
package ctcheck

import (
	"crypto/rand"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"
)

// Thresholds on |t|, as in dudect: above ThresholdDefinite the code is
// "definitely not constant time"; above ThresholdProbable, "probably not".
const (
	ThresholdDefinite = 10
	ThresholdProbable = 4.5
)

// Enabled reports whether the timing tests should run: SOUVERAIN_CTCHECK=1.
func Enabled() bool { return os.Getenv("SOUVERAIN_CTCHECK") == "1" }

// Threshold is the |t| above which a timing test fails:
// SOUVERAIN_CTCHECK_T if set (a nightly run can use ThresholdProbable with a
// longer budget), else ThresholdDefinite.
func Threshold() float64 {
	if s := os.Getenv("SOUVERAIN_CTCHECK_T"); s != "" {
		if t, err := strconv.ParseFloat(s, 64); err == nil && t > 0 {
			return t
		}
	}
	return ThresholdDefinite
}

// Budget returns d scaled by SOUVERAIN_CTCHECK_SCALE (a float, default 1),
// so that a nightly run can measure longer than CI.
func Budget(d time.Duration) time.Duration {
	if s := os.Getenv("SOUVERAIN_CTCHECK_SCALE"); s != "" {
		if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
			return time.Duration(float64(d) * f)
		}
	}
	return d
}

// Result is the outcome of [Measure].
type Result struct {
	N        [2]int     // measurements kept per class
	Mean     [2]float64 // mean time per class, in nanoseconds, uncropped
	T        float64    // the largest |t| over the crops
	Crop     float64    // the percentile at which T was found (100: none)
	Duration time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("|t| = %.2f (crop at percentile %.0f); %d + %d measurements in %v; mean %.1f ns vs %.1f ns",
		r.T, r.Crop, r.N[0], r.N[1], r.Duration.Round(time.Millisecond), r.Mean[0], r.Mean[1])
}

// MaxMeasurements caps the measurements of one [Measure] call (both
// classes), which bounds its memory to about 50 MB: a fast operation stops
// before its budget.
const MaxMeasurements = 3_000_000

// crops are the percentiles at which the measurements are cropped.
var crops = []float64{100, 99, 95, 90, 75, 50}

// Measure times run, after prepare(class) has set up its input (untimed),
// for class 0 and 1 drawn at random for each measurement, until budget has
// passed or [MaxMeasurements] are taken. The first measurements (a tenth of the budget) warm up the caches
// and are discarded.
//
// The classes must differ only in the values run works on, not in where
// they are: prepare should write the class's input into the same buffers
// every time (or into fresh ones for both classes), since two inputs at
// different addresses can differ in time through alignment and cache
// effects alone, which is how a first version of these tests "found" a leak
// in subtle.ConstantTimeCompare.
func Measure(budget time.Duration, prepare func(class int), run func()) Result {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	runtime.GC()

	var times [2][]float64
	classes := make([]byte, 4096)
	start := time.Now()
	warmEnd := start.Add(budget / 10)
	end := start.Add(budget)
	warm := true
	for {
		rand.Read(classes)
		for _, b := range classes {
			for bit := range 8 {
				c := int(b>>bit) & 1
				prepare(c)
				t0 := time.Now()
				run()
				d := time.Since(t0)
				if !warm {
					times[c] = append(times[c], float64(d))
				}
			}
		}
		now := time.Now()
		if warm && now.After(warmEnd) {
			warm = false
		}
		if now.After(end) || len(times[0])+len(times[1]) >= MaxMeasurements {
			break
		}
	}
	r := Result{Duration: time.Since(start), Crop: 100}
	for c := range 2 {
		r.N[c] = len(times[c])
		r.Mean[c], _ = meanVar(times[c], math.Inf(1))
	}
	all := slices.Concat(times[0], times[1])
	slices.Sort(all)
	for _, p := range crops {
		limit := math.Inf(1)
		if p < 100 && len(all) > 0 {
			limit = all[int(float64(len(all)-1)*p/100)]
		}
		if t := math.Abs(welch(times[0], times[1], limit)); t > r.T || math.IsNaN(t) {
			r.T, r.Crop = t, p
		}
	}
	return r
}

// meanVar returns the mean and the sample variance of the values of xs not
// above limit, in one pass (Welford).
func meanVar(xs []float64, limit float64) (mean, variance float64) {
	var n, m, m2 float64
	for _, x := range xs {
		if x > limit {
			continue
		}
		n++
		d := x - m
		m += d / n
		m2 += d * (x - m)
	}
	if n < 2 {
		return m, 0
	}
	return m, m2 / (n - 1)
}

func countBelow(xs []float64, limit float64) float64 {
	n := 0
	for _, x := range xs {
		if x <= limit {
			n++
		}
	}
	return float64(n)
}

// welch returns Welch's t statistic of a and b, restricted to values not
// above limit.
func welch(a, b []float64, limit float64) float64 {
	na, nb := countBelow(a, limit), countBelow(b, limit)
	if na < 2 || nb < 2 {
		return 0
	}
	ma, va := meanVar(a, limit)
	mb, vb := meanVar(b, limit)
	se := math.Sqrt(va/na + vb/nb)
	if se == 0 {
		if ma == mb {
			return 0
		}
		return math.Inf(1)
	}
	return (ma - mb) / se
}
