package megolm_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/souverain/e2ee/megolm"
)

// TestUnpickleKeepsItsOwnCopy reads sessions one after the other, in both
// formats, as a store does: the readers decode into a buffer that they wipe
// and reuse, and no session may keep a reference into it.
func TestUnpickleKeepsItsOwnCopy(t *testing.T) {
	type read struct {
		text  string
		again func() (string, error) // the session read back, pickled again
	}
	var reads []read
	for range 3 {
		out := newSession(t)
		in := inbound(t, out)
		for _, r := range []struct {
			pickle   func([]byte) (string, error)
			unpickle func(string) (func([]byte) (string, error), error)
		}{
			{out.PickleLibolm, func(p string) (func([]byte) (string, error), error) {
				s, err := megolm.UnpickleLibolmGroupSession(p, testKey)
				if err != nil {
					return nil, err
				}
				return s.PickleLibolm, nil
			}},
			{out.Pickle, func(p string) (func([]byte) (string, error), error) {
				s, err := megolm.UnpickleGroupSession(p, testKey)
				if err != nil {
					return nil, err
				}
				return s.PickleLibolm, nil
			}},
			{in.PickleLibolm, func(p string) (func([]byte) (string, error), error) {
				s, err := megolm.UnpickleLibolmInboundGroupSession(p, testKey)
				if err != nil {
					return nil, err
				}
				return s.PickleLibolm, nil
			}},
			{in.Pickle, func(p string) (func([]byte) (string, error), error) {
				s, err := megolm.UnpickleInboundGroupSession(p, testKey)
				if err != nil {
					return nil, err
				}
				return s.PickleLibolm, nil
			}},
		} {
			p, err := r.pickle(testKey)
			if err != nil {
				t.Fatal(err)
			}
			again, err := r.unpickle(p)
			if err != nil {
				t.Fatal(err)
			}
			// What the session read back must pickle to, in libolm's
			// format (deterministic): that of the original.
			var want string
			if len(reads)%4 < 2 {
				want, err = out.PickleLibolm(testKey)
			} else {
				want, err = in.PickleLibolm(testKey)
			}
			if err != nil {
				t.Fatal(err)
			}
			reads = append(reads, read{want, func() (string, error) { return again(testKey) }})
		}
	}
	// Failed reads go through the same buffers too.
	if _, err := megolm.UnpickleLibolmInboundGroupSession(reads[2].text, []byte("wrong key")); !errors.Is(err, megolm.ErrBadPickleKey) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := megolm.UnpickleInboundGroupSession(reads[2].text, testKey); err == nil {
		t.Fatal("a libolm pickle opened as souverain's")
	}
	for i, r := range reads {
		if p, err := r.again(); err != nil || p != r.text {
			t.Fatalf("session %d changed after later reads (%v)", i, err)
		}
	}
}

// TestUnpickleMemory bounds what reading a session allocates, in either
// format: its state, the AES key schedule, little else. Decoding and
// decrypting into fresh buffers took 1192 bytes (inbound, libolm's format),
// 2089 (inbound, souverain's), 1128 and 2025 (outbound).
func TestUnpickleMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under the race detector")
	}
	out := newSession(t)
	in := inbound(t, out)
	pickles := map[string]string{}
	for name, f := range map[string]func([]byte) (string, error){
		"outbound libolm": out.PickleLibolm, "outbound own": out.Pickle,
		"inbound libolm": in.PickleLibolm, "inbound own": in.Pickle,
	} {
		p, err := f(testKey)
		if err != nil {
			t.Fatal(err)
		}
		pickles[name] = p
	}
	for _, tt := range []struct {
		name string
		read func(string) error
		max  uint64
	}{
		{"outbound libolm", func(p string) error { _, err := megolm.UnpickleLibolmGroupSession(p, testKey); return err }, 1000},
		{"outbound own", func(p string) error { _, err := megolm.UnpickleGroupSession(p, testKey); return err }, 1900},
		{"inbound libolm", func(p string) error { _, err := megolm.UnpickleLibolmInboundGroupSession(p, testKey); return err }, 1000},
		{"inbound own", func(p string) error { _, err := megolm.UnpickleInboundGroupSession(p, testKey); return err }, 1900},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const runs = 200
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				if err := tt.read(pickles[tt.name]); err != nil {
					t.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			if perRead := (after.TotalAlloc - before.TotalAlloc) / runs; perRead > tt.max {
				t.Errorf("reading the session allocated %d bytes, want at most %d", perRead, tt.max)
			}
		})
	}
}
