package megolm_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/souverain/e2ee/megolm"
)

// TestGroupSessionClose: Close wipes the ratchet and signing key, is
// idempotent, and every method fails or returns a zero value afterwards.
func TestGroupSessionClose(t *testing.T) {
	s := newSession(t)
	s.Encrypt([]byte("x"))
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Wiped() {
		t.Fatal("ratchet or signing key left after Close")
	}
	if _, err := s.Encrypt([]byte("x")); !errors.Is(err, megolm.ErrClosed) {
		t.Errorf("Encrypt: %v", err)
	}
	if _, err := s.Pickle(testKey); !errors.Is(err, megolm.ErrClosed) {
		t.Errorf("Pickle: %v", err)
	}
	if _, err := s.PickleLibolm(testKey); !errors.Is(err, megolm.ErrClosed) {
		t.Errorf("PickleLibolm: %v", err)
	}
	if k := s.SessionKey(); k != nil || k.Encode() != "" || k.Bytes() != nil || k.SessionID() != "" {
		t.Errorf("SessionKey after Close: %v", k)
	}
	if s.SessionID() != "" || s.MessageIndex() != 0 || s.Config() != (megolm.SessionConfig{}) {
		t.Errorf("accessors after Close: %q %d", s.SessionID(), s.MessageIndex())
	}
	if got := fmt.Sprint(s); got != "megolm.GroupSession{closed}" {
		t.Errorf("printed %q", got)
	}
}

func TestInboundGroupSessionClose(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	other := inbound(t, out)
	m, _ := out.Encrypt([]byte("x"))
	for range 2 {
		if err := in.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !in.Wiped() {
		t.Fatal("ratchets or signing key left after Close")
	}
	for name, err := range map[string]error{
		"Decrypt":      func() error { _, _, err := in.Decrypt(m); return err }(),
		"ExportAt":     func() error { _, err := in.ExportAt(0); return err }(),
		"Pickle":       func() error { _, err := in.Pickle(testKey); return err }(),
		"PickleLibolm": func() error { _, err := in.PickleLibolm(testKey); return err }(),
	} {
		if !errors.Is(err, megolm.ErrClosed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if in.Export() != nil || in.SessionID() != "" || in.SigningKey() != (megolm.Ed25519PublicKey{}) || in.FirstKnownIndex() != 0 ||
		in.SignatureChecked() || in.Provenance() != megolm.ProvenanceUnknown || in.AdvanceTo(3) {
		t.Error("accessors after Close")
	}
	if in.Compare(other) != megolm.Unconnected || other.Compare(in) != megolm.Unconnected || in.Connected(other) ||
		in.Merge(other) != nil || other.Merge(in) != nil {
		t.Error("a closed session compares or merges")
	}
	if got := fmt.Sprint(in); got != "megolm.InboundGroupSession{closed}" {
		t.Errorf("printed %q", got)
	}
	// The other copy is untouched.
	if _, _, err := other.Decrypt(m); err != nil {
		t.Fatal(err)
	}
}

func TestSessionKeyClose(t *testing.T) {
	out := newSession(t)
	k := out.SessionKey()
	e := inbound(t, out).Export()
	for range 2 {
		k.Close()
		e.Close()
	}
	if !k.Wiped() || !e.Wiped() {
		t.Fatal("key bytes left after Close")
	}
	if k.Encode() != "" || k.Bytes() != nil || k.SessionID() != "" || k.Index() != 0 ||
		e.Encode() != "" || e.Bytes() != nil || e.SessionID() != "" || e.Index() != 0 {
		t.Error("accessors after Close")
	}
	if _, err := megolm.NewInboundGroupSession(k); !errors.Is(err, megolm.ErrClosed) || !errors.Is(err, megolm.ErrBadSessionKey) {
		t.Errorf("session from a closed key: %v", err)
	}
	if _, err := megolm.ImportInboundGroupSessionFrom(e, megolm.ProvenanceBackup); !errors.Is(err, megolm.ErrClosed) {
		t.Errorf("import of a closed key: %v", err)
	}
}

// TestCloseRacesUse closes sessions while other goroutines use them: every
// call either works or fails with ErrClosed. Run it with -race.
func TestCloseRacesUse(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	m, _ := out.Encrypt([]byte("x"))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := out.Encrypt([]byte("y")); err != nil && !errors.Is(err, megolm.ErrClosed) {
					t.Error(err)
				}
				if _, _, err := in.Decrypt(m); err != nil && !errors.Is(err, megolm.ErrClosed) {
					t.Error(err)
				}
				out.SessionKey().Encode()
				in.Export().Encode()
			}
		})
	}
	wg.Go(func() { out.Close(); in.Close() })
	wg.Wait()
}
