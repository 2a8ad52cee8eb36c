package main

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
	"github.com/souverain/e2ee/signedjson"
)

var benchCommand = &command{
	name:    "bench",
	summary: "measure the library's main operations",
	setup: func(fs *flag.FlagSet) string {
		fs.Duration("time", 300*time.Millisecond, "run each operation for about this `duration`")
		fs.String("run", "", "run only the operations whose names match this `regexp`")
		return `Usage: souverain bench [-time duration] [-run regexp]

Bench measures the library's main operations on this machine, one after the
other, and prints the time, allocations and bytes allocated per operation.
For comparisons with libolm and goolm, run the benchmarks of the bench module
(see BENCHMARKS.md).

Flags:
`
	},
	run: runBench,
}

// benchmark is one measured operation. setup returns the operation to
// repeat; anything it does is not measured.
type benchmark struct {
	name  string
	setup func() (func() error, error)
}

var benchmarks = []benchmark{
	{"olm/account-create", func() (func() error, error) {
		return func() error { _, err := olm.NewAccount(); return err }, nil
	}},
	{"olm/one-time-keys-50", func() (func() error, error) {
		a, err := olm.NewAccount()
		if err != nil {
			return nil, err
		}
		return func() error { err := a.GenerateOneTimeKeys(50); a.MarkKeysAsPublished(); return err }, nil
	}},
	{"olm/outbound-session", func() (func() error, error) {
		alice, bob, fb, err := olmPair()
		if err != nil {
			return nil, err
		}
		return func() error { _, err := alice.NewOutboundSession(bob.Curve25519Key(), fb); return err }, nil
	}},
	{"olm/inbound-session", func() (func() error, error) {
		alice, bob, fb, err := olmPair()
		if err != nil {
			return nil, err
		}
		// An account opens a session once per pre-key message, so the
		// operation goes through a pool of messages and, when it has used
		// them all, restores Bob's account from a pickle taken before
		// (once per 256 operations, which adds well under 1% to the time).
		var pool []*olm.PreKeyMessage
		for range 256 {
			s, err := alice.NewOutboundSession(bob.Curve25519Key(), fb)
			if err != nil {
				return nil, err
			}
			m, err := s.Encrypt(make([]byte, 256))
			if err != nil {
				return nil, err
			}
			pool = append(pool, m.(*olm.PreKeyMessage))
		}
		key := make([]byte, 32)
		saved, err := bob.Pickle(key)
		if err != nil {
			return nil, err
		}
		i := 0
		return func() error {
			if i == len(pool) {
				if bob, err = olm.UnpickleAccount(saved, key); err != nil {
					return err
				}
				i = 0
			}
			_, _, err := bob.NewInboundSession(alice.Curve25519Key(), pool[i])
			i++
			return err
		}, nil
	}},
	{"olm/encrypt-decrypt-256B", func() (func() error, error) {
		a, b, err := olmSessions()
		if err != nil {
			return nil, err
		}
		pt := make([]byte, 256)
		return func() error {
			m, err := a.Encrypt(pt)
			if err != nil {
				return err
			}
			_, err = b.Decrypt(m)
			return err
		}, nil
	}},
	{"olm/ping-pong-256B", func() (func() error, error) {
		a, b, err := olmSessions()
		if err != nil {
			return nil, err
		}
		pt := make([]byte, 256)
		return func() error {
			for _, p := range [][2]*olm.Session{{a, b}, {b, a}} {
				m, err := p[0].Encrypt(pt)
				if err != nil {
					return err
				}
				if _, err := p[1].Decrypt(m); err != nil {
					return err
				}
			}
			return nil
		}, nil
	}},
	{"megolm/encrypt-256B", func() (func() error, error) {
		g, err := megolm.NewGroupSession()
		if err != nil {
			return nil, err
		}
		pt := make([]byte, 256)
		return func() error { _, err := g.Encrypt(pt); return err }, nil
	}},
	{"megolm/decrypt-256B", func() (func() error, error) {
		g, err := megolm.NewGroupSession()
		if err != nil {
			return nil, err
		}
		in, err := megolm.NewInboundGroupSession(g.SessionKey())
		if err != nil {
			return nil, err
		}
		m, err := g.Encrypt(make([]byte, 256))
		if err != nil {
			return nil, err
		}
		return func() error { _, _, err := in.Decrypt(m); return err }, nil
	}},
	{"sas/key-agreement-and-mac", func() (func() error, error) {
		other, err := sas.New()
		if err != nil {
			return nil, err
		}
		theirs := other.PublicKey()
		return func() error {
			s, err := sas.New()
			if err != nil {
				return err
			}
			e, err := s.Establish(theirs)
			if err != nil {
				return err
			}
			defer e.Close()
			_ = e.ShortAuthString("MATRIX_KEY_VERIFICATION_SAS|bench")
			_, err = e.MAC(sas.MACHKDFHMACSHA256V2, "ed25519:DEVICE", "MATRIX_KEY_VERIFICATION_MAC|bench")
			return err
		}, nil
	}},
	{"backup/encrypt-session", func() (func() error, error) {
		k, err := keybackup.GenerateBackupKey()
		if err != nil {
			return nil, err
		}
		pub := k.PublicKey()
		pt := make([]byte, 512)
		return func() error { _, err := pub.Encrypt(pt); return err }, nil
	}},
	{"backup/decrypt-session", func() (func() error, error) {
		k, err := keybackup.GenerateBackupKey()
		if err != nil {
			return nil, err
		}
		d, err := k.PublicKey().Encrypt(make([]byte, 512))
		if err != nil {
			return nil, err
		}
		return func() error { _, err := k.Decrypt(d); return err }, nil
	}},
	{"recovery-key/decode", func() (func() error, error) {
		rk, err := keybackup.EncodeRecoveryKey(make([]byte, 32))
		if err != nil {
			return nil, err
		}
		return func() error { _, err := keybackup.DecodeRecoveryKeyUnchecked(rk); return err }, nil
	}},
	{"json/canonicalize-device-keys", func() (func() error, error) {
		return func() error { _, err := canonicaljson.Canonicalize(deviceKeys); return err }, nil
	}},
	{"json/sign-device-keys", func() (func() error, error) {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		return func() error {
			_, err := signedjson.Sign(deviceKeys, "@alice:example.org", "ed25519:DEVICE", priv)
			return err
		}, nil
	}},
	{"json/verify-device-keys", func() (func() error, error) {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		signed, err := signedjson.Sign(deviceKeys, "@alice:example.org", "ed25519:DEVICE", priv)
		if err != nil {
			return nil, err
		}
		return func() error { return signedjson.Verify(signed, "@alice:example.org", "ed25519:DEVICE", pub) }, nil
	}},
}

var deviceKeys = []byte(`{"algorithms":["m.olm.v1.curve25519-aes-sha2","m.megolm.v1.aes-sha2"],"device_id":"JLAFKJWSCS","keys":{"curve25519:JLAFKJWSCS":"3C5BFWi2Y8MaVvjM8M22DBmh24PmgR0nPvJOIArzgyI","ed25519:JLAFKJWSCS":"lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI"},"user_id":"@alice:example.org"}`)

// olmPair returns two accounts and a fallback key of the second.
func olmPair() (alice, bob *olm.Account, fb olm.Curve25519PublicKey, err error) {
	if alice, err = olm.NewAccount(); err != nil {
		return
	}
	if bob, err = olm.NewAccount(); err != nil {
		return
	}
	if err = bob.GenerateFallbackKey(); err != nil {
		return
	}
	_, fb, _ = bob.FallbackKey()
	return
}

// olmSessions returns both ends of a session that has gone both ways.
func olmSessions() (a, b *olm.Session, err error) {
	alice, bob, fb, err := olmPair()
	if err != nil {
		return nil, nil, err
	}
	if a, err = alice.NewOutboundSession(bob.Curve25519Key(), fb); err != nil {
		return nil, nil, err
	}
	m, err := a.Encrypt([]byte("hello"))
	if err != nil {
		return nil, nil, err
	}
	if b, _, err = bob.NewInboundSession(alice.Curve25519Key(), m.(*olm.PreKeyMessage)); err != nil {
		return nil, nil, err
	}
	r, err := b.Encrypt([]byte("hi"))
	if err != nil {
		return nil, nil, err
	}
	_, err = a.Decrypt(r)
	return a, b, err
}

// measure runs op until d has passed and returns the iterations, time,
// allocations and bytes per operation.
func measure(op func() error, d time.Duration) (n int, nsPerOp, allocsPerOp, bytesPerOp float64, err error) {
	var ms0, ms1 runtime.MemStats
	for n = 1; ; {
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		start := time.Now()
		for range n {
			if err := op(); err != nil {
				return 0, 0, 0, 0, err
			}
		}
		elapsed := time.Since(start)
		runtime.ReadMemStats(&ms1)
		if elapsed >= d || n >= 1<<30 {
			f := float64(n)
			return n, float64(elapsed.Nanoseconds()) / f, float64(ms1.Mallocs-ms0.Mallocs) / f, float64(ms1.TotalAlloc-ms0.TotalAlloc) / f, nil
		}
		// Aim for d, growing at most 100 times per round.
		next := int(float64(n) * 1.2 * float64(d) / float64(max(elapsed, time.Microsecond)))
		n = min(max(next, n+1), 100*n)
	}
}

func runBench(c *command, fs *flag.FlagSet, args []string, e *env) int {
	if len(args) > 0 {
		return usageError(e, c, "unexpected argument %q", args[0])
	}
	d := fs.Lookup("time").Value.(flag.Getter).Get().(time.Duration)
	if d <= 0 {
		return usageError(e, c, "-time must be positive")
	}
	var re *regexp.Regexp
	if pat := fs.Lookup("run").Value.String(); pat != "" {
		var err error
		if re, err = regexp.Compile(pat); err != nil {
			return usageError(e, c, "bad -run: %v", err)
		}
	}
	return benchTable(e.stdout, d, re)
}

// benchTable runs the matching benchmarks and prints the table.
func benchTable(w io.Writer, d time.Duration, re *regexp.Regexp) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "OPERATION\tRUNS\tTIME/OP\tALLOCS/OP\tBYTES/OP\t\n")
	ran, failed := 0, 0
	for _, b := range benchmarks {
		if re != nil && !re.MatchString(b.name) {
			continue
		}
		ran++
		op, err := b.setup()
		var n int
		var ns, allocs, bytes float64
		if err == nil {
			n, ns, allocs, bytes, err = measure(op, d)
		}
		if err != nil {
			failed++
			fmt.Fprintf(tw, "%s\tfailed: %v\t\t\t\t\n", b.name, err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%.0f\t\n", b.name, n, formatDuration(ns), allocs, bytes)
	}
	tw.Flush()
	if ran == 0 {
		fmt.Fprintln(w, "no operation matches")
		return exitFailure
	}
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

func formatDuration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}
