package olm_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/olm"
)

// TestZeroAndNilValues: zero and nil accounts, sessions and messages, and nil
// arguments, give errors wrapping a sentinel (or zero results), never a
// panic.
func TestZeroAndNilValues(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	m, _ := alice.Encrypt([]byte("x"))
	_ = bob
	for _, a := range []*olm.Account{{}, nil} {
		t.Run(fmt.Sprintf("account %v", a == nil), func(t *testing.T) {
			isNil := func(name string, err error) {
				t.Helper()
				if !errors.Is(err, olm.ErrNil) {
					t.Errorf("%s: %v, want ErrNil", name, err)
				}
			}
			_, _, err := a.NewInboundSession(olm.Curve25519PublicKey{}, m.(*olm.PreKeyMessage))
			isNil("NewInboundSession", err)
			_, err = a.NewOutboundSession(olm.Curve25519PublicKey{}, olm.Curve25519PublicKey{})
			isNil("NewOutboundSession", err)
			isNil("GenerateOneTimeKeys", a.GenerateOneTimeKeys(1))
			isNil("GenerateFallbackKey", a.GenerateFallbackKey())
			_, err = a.DeviceKeys("@a:x", "A")
			isNil("DeviceKeys", err)
			_, err = a.SignedOneTimeKeys("@a:x", "A")
			isNil("SignedOneTimeKeys", err)
			_, err = a.SignedFallbackKeys("@a:x", "A")
			isNil("SignedFallbackKeys", err)
			_, err = a.Pickle(testKey)
			isNil("Pickle", err)
			_, err = a.PickleLibolm(testKey)
			isNil("PickleLibolm", err)
			_, err = olm.NewPayload(a, "@a:x", "@b:x", olm.Ed25519PublicKey{1}, "m.dummy", []byte("{}"))
			isNil("NewPayload", err)
			if a.Curve25519Key() != (olm.Curve25519PublicKey{}) || a.Sign(nil) != (olm.Ed25519Signature{}) || len(a.OneTimeKeys()) != 0 {
				t.Error("accessors of a zero account")
			}
			a.MarkKeysAsPublished()
			a.ForgetOldFallbackKey()
			isNil("Close", errors.Join(a.Close(), olm.ErrNil))
		})
	}
	for _, s := range []*olm.Session{{}, nil} {
		t.Run(fmt.Sprintf("session %v", s == nil), func(t *testing.T) {
			if _, err := s.Encrypt([]byte("x")); !errors.Is(err, olm.ErrNil) {
				t.Errorf("Encrypt: %v", err)
			}
			if _, err := s.Decrypt(m); !errors.Is(err, olm.ErrNil) {
				t.Errorf("Decrypt: %v", err)
			}
			if _, err := s.Pickle(testKey); !errors.Is(err, olm.ErrNil) {
				t.Errorf("Pickle: %v", err)
			}
			if s.SessionID() != "" || s.HasReceivedMessage() || s.Matches(nil) {
				t.Error("accessors of a zero session")
			}
			s.Close()
		})
	}
	// Nil and zero messages.
	for _, msg := range []olm.Message{nil, (*olm.PreKeyMessage)(nil), (*olm.NormalMessage)(nil), &olm.PreKeyMessage{}, &olm.NormalMessage{}} {
		if _, err := bob.Decrypt(msg); !errors.Is(err, olm.ErrBadMessageFormat) {
			t.Errorf("Decrypt(%T): %v", msg, err)
		}
		if msg != nil {
			_ = msg.Bytes()
			_ = msg.Type()
		}
	}
	var pre *olm.PreKeyMessage
	_, _, _, _ = pre.OneTimeKey(), pre.BaseKey(), pre.IdentityKey(), pre.SessionID()
	_ = pre.Message()
	var nm *olm.NormalMessage
	_, _, _, _ = nm.RatchetKey(), nm.Index(), nm.Ciphertext(), nm.Version()
	acct := newAccount(t)
	if _, _, err := acct.NewInboundSession(olm.Curve25519PublicKey{}, nil); !errors.Is(err, olm.ErrBadMessageFormat) {
		t.Errorf("NewInboundSession(nil): %v", err)
	}
	if _, err := acct.DeviceKeys("", "A"); !errors.Is(err, olm.ErrNil) {
		t.Errorf("DeviceKeys with an empty user ID: %v", err)
	}
}

// TestArgumentErrorsWrapSentinels: NewPayload and GenerateOneTimeKeys.
func TestArgumentErrorsWrapSentinels(t *testing.T) {
	a := newAccount(t)
	for _, n := range []int{-1, olm.MaxOneTimeKeys + 1} {
		if err := a.GenerateOneTimeKeys(n); !errors.Is(err, olm.ErrKeyCount) {
			t.Errorf("GenerateOneTimeKeys(%d): %v, want ErrKeyCount", n, err)
		}
	}
	key := olm.Ed25519PublicKey{1}
	for _, c := range []struct {
		name                         string
		sender, recipient, eventType string
		content                      string
		want                         error
	}{
		{"content not JSON", "@a:x", "@b:x", "m.dummy", "{", olm.ErrBadMessageFormat},
		{"no content", "@a:x", "@b:x", "m.dummy", "", olm.ErrBadMessageFormat},
		{"no sender", "", "@b:x", "m.dummy", "{}", olm.ErrNil},
		{"no recipient", "@a:x", "", "m.dummy", "{}", olm.ErrNil},
		{"no type", "@a:x", "@b:x", "", "{}", olm.ErrNil},
	} {
		if _, err := olm.NewPayload(a, c.sender, c.recipient, key, c.eventType, []byte(c.content)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := olm.NewPayload(a, "@a:x", "@b:x", olm.Ed25519PublicKey{}, "m.dummy", []byte("{}")); !errors.Is(err, olm.ErrNil) {
		t.Errorf("zero recipient key: %v", err)
	}
}
