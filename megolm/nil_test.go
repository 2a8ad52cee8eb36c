package megolm_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/megolm"
)

// TestZeroAndNilValues: zero sessions and keys, and nil pointers to them,
// give errors wrapping ErrNil or zero results, never a panic.
func TestZeroAndNilValues(t *testing.T) {
	var nilOut *megolm.GroupSession
	var nilIn *megolm.InboundGroupSession
	real := inbound(t, newSession(t))
	for name, s := range map[string]*megolm.GroupSession{"zero": {}, "nil": nilOut} {
		t.Run("GroupSession "+name, func(t *testing.T) {
			if _, err := s.Encrypt([]byte("x")); !errors.Is(err, megolm.ErrNil) {
				t.Errorf("Encrypt: %v", err)
			}
			if _, err := s.Pickle(testKey); !errors.Is(err, megolm.ErrNil) {
				t.Errorf("Pickle: %v", err)
			}
			if _, err := s.PickleLibolm(testKey); !errors.Is(err, megolm.ErrNil) {
				t.Errorf("PickleLibolm: %v", err)
			}
			if s.SessionKey() != nil || s.SessionID() != "" || s.MessageIndex() != 0 || s.Close() != nil {
				t.Error("accessors")
			}
			if s != nil {
				if got := fmt.Sprint(*s); got != "megolm.GroupSession{}" {
					t.Errorf("printed %q", got)
				}
			}
		})
	}
	for name, s := range map[string]*megolm.InboundGroupSession{"zero": {}, "nil": nilIn} {
		t.Run("InboundGroupSession "+name, func(t *testing.T) {
			for what, err := range map[string]error{
				"Decrypt":      func() error { _, _, err := s.Decrypt([]byte{3}); return err }(),
				"ExportAt":     func() error { _, err := s.ExportAt(0); return err }(),
				"Pickle":       func() error { _, err := s.Pickle(testKey); return err }(),
				"PickleLibolm": func() error { _, err := s.PickleLibolm(testKey); return err }(),
			} {
				if !errors.Is(err, megolm.ErrNil) {
					t.Errorf("%s: %v", what, err)
				}
			}
			if s.Export() != nil || s.SessionID() != "" || s.FirstKnownIndex() != 0 || s.SignatureChecked() ||
				s.AdvanceTo(1) || s.Close() != nil {
				t.Error("accessors")
			}
			if s.Compare(real) != megolm.Unconnected || real.Compare(s) != megolm.Unconnected ||
				s.Merge(real) != nil || real.Merge(s) != nil || s.Connected(real) || real.Connected(s) {
				t.Error("compare or merge")
			}
			if s != nil {
				if got := fmt.Sprint(*s); got != "megolm.InboundGroupSession{}" {
					t.Errorf("printed %q", got)
				}
			}
		})
	}
	// The zero-key trap: a zero key is not a key of all zeros.
	for name, f := range map[string]func() error{
		"zero session key":  func() error { _, err := megolm.NewInboundGroupSession(&megolm.SessionKey{}); return err },
		"nil session key":   func() error { _, err := megolm.NewInboundGroupSession(nil); return err },
		"zero exported key": func() error { _, err := megolm.ImportInboundGroupSession(&megolm.ExportedSessionKey{}); return err },
		"nil exported key": func() error {
			_, err := megolm.ImportInboundGroupSessionFrom(nil, megolm.ProvenanceForwarded)
			return err
		},
	} {
		if err := f(); !errors.Is(err, megolm.ErrNil) || !errors.Is(err, megolm.ErrBadSessionKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	var zk megolm.SessionKey
	var ze megolm.ExportedSessionKey
	if zk.Encode() != "" || zk.Bytes() != nil || ze.Encode() != "" || ze.SessionID() != "" || fmt.Sprint(zk, ze) != "megolm.SessionKey{} megolm.ExportedSessionKey{}" {
		t.Error("zero keys look like keys")
	}
}
