package olm_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/souverain/e2ee/olm"
)

// TestKeepKeyThenRemove: the mautrix-go order of steps. A forged message
// burns nothing; the session opens with the key kept; its replay is refused;
// RemoveOneTimeKeys removes exactly that key, also through a pickled and
// restored session; a fallback key stays.
func TestKeepKeyThenRemove(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	bob.GenerateOneTimeKeys(2)
	bob.GenerateFallbackKey()
	keys := bob.OneTimeKeys()
	otk, other := keys[1], keys[2]
	s, _ := alice.NewOutboundSession(bob.Curve25519Key(), otk)
	m, _ := s.Encrypt([]byte("hi"))
	pre := m.(*olm.PreKeyMessage)

	raw := bytes.Clone(pre.Bytes())
	raw[len(raw)-1] ^= 1
	forged, _ := olm.ParsePreKeyMessage(raw)
	if _, _, err := bob.NewInboundSessionKeepKey(alice.Curve25519Key(), forged); !errors.Is(err, olm.ErrBadMessageMAC) {
		t.Fatalf("forged: %v", err)
	}
	if len(bob.OneTimeKeys()) != 2 || bob.NumPreKeyRecords() != 0 {
		t.Fatal("a forged message changed the account")
	}

	bs, pt, err := bob.NewInboundSessionKeepKey(alice.Curve25519Key(), pre)
	if err != nil || string(pt) != "hi" {
		t.Fatalf("keep key: %q %v", pt, err)
	}
	if len(bob.OneTimeKeys()) != 2 {
		t.Fatal("the one-time key was removed")
	}
	for _, open := range []func(olm.Curve25519PublicKey, *olm.PreKeyMessage) (*olm.Session, []byte, error){bob.NewInboundSessionKeepKey, bob.NewInboundSession} {
		if _, _, err := open(alice.Curve25519Key(), pre); !errors.Is(err, olm.ErrPreKeyReplay) {
			t.Fatalf("replay before removal: %v, want ErrPreKeyReplay", err)
		}
	}

	// The driver stores the session (libolm's format) and reads it back.
	text, _ := bs.PickleLibolm([]byte("k"))
	stored, _ := olm.UnpickleLibolmSession(text, []byte("k"))
	if err := bob.RemoveOneTimeKeys(stored); err != nil {
		t.Fatal(err)
	}
	keys = bob.OneTimeKeys()
	if _, ok := keys[1]; ok || keys[2] != other || len(keys) != 1 {
		t.Fatalf("wrong key removed: %v", keys)
	}
	if n := bob.NumPreKeyRecords(); n != 0 {
		t.Fatalf("%d records left for a removed key", n)
	}
	if _, _, err := bob.NewInboundSessionKeepKey(alice.Curve25519Key(), pre); !errors.Is(err, olm.ErrUnknownOneTimeKey) {
		t.Fatalf("replay after removal: %v", err)
	}
	if err := bob.RemoveOneTimeKeys(bs); !errors.Is(err, olm.ErrUnknownOneTimeKey) {
		t.Fatalf("second removal: %v", err)
	}
	if err := bob.RemoveOneTimeKeys(s); !errors.Is(err, olm.ErrUnknownOneTimeKey) {
		t.Fatalf("an outbound session: %v", err)
	}
	if err := bob.RemoveOneTimeKeys(nil); !errors.Is(err, olm.ErrNil) {
		t.Fatalf("nil session: %v", err)
	}

	// A fallback key stays, and its replay stays refused.
	_, fpre := fallbackPreKey(t, alice, bob, "fb")
	fs, _, err := bob.NewInboundSessionKeepKey(alice.Curve25519Key(), fpre)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.RemoveOneTimeKeys(fs); err != nil {
		t.Fatalf("fallback key: %v", err)
	}
	if info, ok := bob.CurrentFallbackKey(); !ok || !info.Used {
		t.Fatal("fallback key gone or not marked used")
	}
	if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), fpre); !errors.Is(err, olm.ErrPreKeyReplay) {
		t.Fatalf("fallback replay: %v", err)
	}
}
