package ctcheck_test

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/ctcheck"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// The timing tests below run only with SOUVERAIN_CTCHECK=1, in the CI step
// "timing (dudect)"; their budgets add up to 39 s. Each fails when
// |t| exceeds ctcheck.Threshold(): 10 by default, dudect's "definitely not
// constant time". Not 4.5 (dudect's "probably not", SECURITY 2's nightly
// bar): on a shared 2-core machine a run of 10 s per test can see class-
// independent disturbances big enough to reach 4.5 now and then, while a
// real leak grows |t| with the square root of the measurements and passes 10
// within the budget (the planted bytes.Equal below reaches hundreds). For
// the nightly bar set SOUVERAIN_CTCHECK_T=4.5 SOUVERAIN_CTCHECK_SCALE=10.

func skipUnlessEnabled(t *testing.T) {
	t.Helper()
	if !ctcheck.Enabled() {
		t.Skip("timing test: set SOUVERAIN_CTCHECK=1 to run it")
	}
}

// check fails the test if |t| exceeds the threshold, and logs the result.
func check(t *testing.T, r ctcheck.Result) {
	t.Helper()
	t.Log(r)
	if r.T > ctcheck.Threshold() || math.IsNaN(r.T) {
		t.Errorf("timing depends on the input class: %s (threshold %.1f)", r, ctcheck.Threshold())
	} else if r.T > ctcheck.ThresholdProbable {
		t.Logf("note: |t| above %.1f, dudect's \"probably not constant time\"", ctcheck.ThresholdProbable)
	}
}

// TestWelch checks the statistic on inputs where the answer is known,
// without timing anything.
func TestWelch(t *testing.T) {
	same := ctcheck.WelchForTest([]float64{1, 2, 3, 4}, []float64{1, 2, 3, 4})
	if same != 0 {
		t.Errorf("identical samples: t = %v", same)
	}
	// Means 2.5 and 4.5, variances 5/3 each, n = 4: t = -2/sqrt(5/6).
	got := ctcheck.WelchForTest([]float64{1, 2, 3, 4}, []float64{3, 4, 5, 6})
	if want := -2 / math.Sqrt(5.0/6); math.Abs(got-want) > 1e-12 {
		t.Errorf("t = %v, want %v", got, want)
	}
}

// TestTimingPlanted shows the harness catches a comparison that is not
// constant time: bytes.Equal on 4 KiB buffers that differ in the first byte
// (class 0) or the last (class 1) stops at the first difference. The
// constant-time comparison of the same buffers passes in the same harness.
func TestTimingPlanted(t *testing.T) {
	skipUnlessEnabled(t)
	a := make([]byte, 4096)
	rand.Read(a)
	x := bytes.Clone(a)
	last := len(a) - 1
	// One buffer for both classes: the class decides which byte differs.
	prepare := func(c int) {
		x[0], x[last] = a[0]^byte(1-c), a[last]^byte(c)
	}
	var sink bool
	leaky := ctcheck.Measure(ctcheck.Budget(2*time.Second), prepare, func() {
		sink = sink != bytes.Equal(a, x)
	})
	t.Log("bytes.Equal:", leaky)
	if leaky.T <= ctcheck.Threshold() {
		t.Errorf("the planted bytes.Equal was not caught: %s", leaky)
	}
	t.Log("subtle.ConstantTimeCompare:")
	check(t, ctcheck.Measure(ctcheck.Budget(2*time.Second), prepare, func() {
		sink = sink != (subtle.ConstantTimeCompare(a, x) == 1)
	}))
	_ = sink
}

// inputPools returns, for class 0, n copies of fixed and, for class 1, n
// values made by random, laid out alike: prepare copies from pool[c][i%n]
// for both classes, so that the two do the same untimed work before each
// measurement (drawing random bytes just before one class's measurements
// would disturb the caches for that class only).
func inputPools(n int, fixed []byte, random func() []byte) (pool [2][][]byte) {
	for range n {
		pool[0] = append(pool[0], bytes.Clone(fixed))
		pool[1] = append(pool[1], random())
	}
	return pool
}

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// TestTimingB64Decode: decoding a fixed key (32 zero bytes, all 'A') against
// random keys, both copied into the same buffer before each measurement.
// Each measurement decodes 8 times, about a microsecond.
func TestTimingB64Decode(t *testing.T) {
	skipUnlessEnabled(t)
	pool := inputPools(4096, []byte(b64.Encode(make([]byte, 32))), func() []byte {
		return []byte(b64.Encode(randomKey()))
	})
	buf := make([]byte, len(pool[0][0]))
	s := unsafe.String(&buf[0], len(buf)) // sees every write to buf
	var i int
	prepare := func(c int) {
		i++
		copy(buf, pool[c][i%len(pool[c])])
	}
	check(t, ctcheck.Measure(ctcheck.Budget(8*time.Second), prepare, func() {
		for range 8 {
			if _, err := b64.Decode(s); err != nil {
				panic(err)
			}
		}
	}))
}

// TestTimingPlantedStdBase64 runs the TestTimingB64Decode measurement on
// encoding/base64, the table-driven decoder that SECURITY 2 rules out for
// secrets: the harness tells its fixed and random inputs apart, which shows
// it can see a leak of the kind internal/b64 exists to avoid, and a much
// smaller one than the planted bytes.Equal. Measured here: |t| from 14 to 42
// in 5 s on a loaded machine. Since that is near 10, this test asserts only
// dudect's "probably not constant time" bar (4.5), so that it never flakes.
func TestTimingPlantedStdBase64(t *testing.T) {
	skipUnlessEnabled(t)
	pool := inputPools(4096, []byte(b64.Encode(make([]byte, 32))), func() []byte {
		return []byte(b64.Encode(randomKey()))
	})
	buf := make([]byte, len(pool[0][0]))
	s := unsafe.String(&buf[0], len(buf))
	var i int
	prepare := func(c int) {
		i++
		copy(buf, pool[c][i%len(pool[c])])
	}
	r := ctcheck.Measure(ctcheck.Budget(6*time.Second), prepare, func() {
		for range 8 {
			if _, err := base64.RawStdEncoding.DecodeString(s); err != nil {
				panic(err)
			}
		}
	})
	t.Log("encoding/base64:", r)
	if r.T <= ctcheck.ThresholdProbable {
		t.Errorf("encoding/base64's decoder was not caught: %s", r)
	}
}

// TestTimingB64Encode: encoding 32 zero bytes against random ones.
func TestTimingB64Encode(t *testing.T) {
	skipUnlessEnabled(t)
	pool := inputPools(4096, make([]byte, 32), randomKey)
	key := make([]byte, 32)
	out := make([]byte, 0, 64)
	var i int
	prepare := func(c int) {
		i++
		copy(key, pool[c][i%len(pool[c])])
	}
	check(t, ctcheck.Measure(ctcheck.Budget(5*time.Second), prepare, func() {
		for range 8 {
			out = b64.AppendEncode(out[:0], key)
		}
	}))
}

// TestTimingOlmMAC decrypts, through olm.Session.Decrypt, a message whose
// 8-byte MAC is wrong in its first byte (class 0) or its last (class 1).
// Both fail; the time to find out must not say where. Each measurement
// decrypts a freshly parsed message (parsing is not timed), so that both
// classes are read from fresh allocations.
func TestTimingOlmMAC(t *testing.T) {
	skipUnlessEnabled(t)
	alice, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	bob, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.GenerateOneTimeKeys(1); err != nil {
		t.Fatal(err)
	}
	var otk olm.Curve25519PublicKey
	for _, k := range bob.OneTimeKeys() {
		otk = k
	}
	as, err := alice.NewOutboundSession(bob.Curve25519Key(), otk)
	if err != nil {
		t.Fatal(err)
	}
	first, err := as.Encrypt([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	bs, _, err := bob.NewInboundSession(alice.Curve25519Key(), first.(*olm.PreKeyMessage))
	if err != nil {
		t.Fatal(err)
	}
	second, err := as.Encrypt([]byte("a message of some length, as a room key would be"))
	if err != nil {
		t.Fatal(err)
	}
	raw := bytes.Clone(second.Bytes()) // a pre-key message whose last 8 bytes are the inner MAC
	var tampered [2][]byte
	for c, at := range []int{len(raw) - 8, len(raw) - 1} {
		tampered[c] = bytes.Clone(raw)
		tampered[c][at] ^= 1
		m, err := olm.ParseMessage(second.Type(), tampered[c])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bs.Decrypt(m); !errors.Is(err, olm.ErrBadMessageMAC) {
			t.Fatalf("class %d: %v, want ErrBadMessageMAC", c, err)
		}
	}
	var m olm.Message
	prepare := func(c int) {
		var err error
		if m, err = olm.ParseMessage(second.Type(), bytes.Clone(tampered[c])); err != nil {
			panic(err)
		}
	}
	check(t, ctcheck.Measure(ctcheck.Budget(8*time.Second), prepare, func() {
		if _, err := bs.Decrypt(m); err == nil {
			panic("tampered message decrypted")
		}
	}))
	if pt, err := bs.Decrypt(second); err != nil || len(pt) == 0 {
		t.Fatalf("the untampered message: %v", err)
	}
}

// TestTimingSecretStorageMAC decrypts, through SecretStorageKey.Decrypt, a
// secret whose 32-byte HMAC is wrong in its first byte or its last, written
// into the same EncryptedSecret before each measurement.
func TestTimingSecretStorageMAC(t *testing.T) {
	skipUnlessEnabled(t)
	const name = "m.megolm_backup.v1"
	k, err := keybackup.GenerateSecretStorageKey("timing")
	if err != nil {
		t.Fatal(err)
	}
	es, err := k.Encrypt(name, []byte("c2VjcmV0IGJhY2t1cCBrZXkgb2YgMzIgYnl0ZXMgaW4gYmFzZTY0"))
	if err != nil {
		t.Fatal(err)
	}
	var macs [2][32]byte
	for c, at := range []int{0, len(es.MAC) - 1} {
		macs[c] = es.MAC
		macs[c][at] ^= 1
	}
	x := *es
	for c := range macs {
		x.MAC = macs[c]
		if _, err := k.Decrypt(name, &x); !errors.Is(err, keybackup.ErrBadMAC) {
			t.Fatalf("class %d: %v, want ErrBadMAC", c, err)
		}
	}
	check(t, ctcheck.Measure(ctcheck.Budget(8*time.Second), func(c int) { x.MAC = macs[c] }, func() {
		if _, err := k.Decrypt(name, &x); err == nil {
			panic("tampered secret decrypted")
		}
	}))
}
