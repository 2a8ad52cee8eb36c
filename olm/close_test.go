package olm_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/olm"
)

// TestAccountClose: Close is idempotent; afterwards every method with an
// error result fails with ErrClosed and the others return zero values.
func TestAccountClose(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	bob.GenerateOneTimeKeys(2)
	bob.GenerateFallbackKey()
	_, fb, _ := bob.FallbackKey()
	s, _ := alice.NewOutboundSession(bob.Curve25519Key(), fb)
	m, _ := s.Encrypt([]byte("hi"))
	pre := m.(*olm.PreKeyMessage)
	for range 2 {
		if err := bob.Close(); err != nil {
			t.Fatal(err)
		}
	}
	closed := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, olm.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	_, _, err := bob.NewInboundSession(alice.Curve25519Key(), pre)
	closed("NewInboundSession", err)
	_, err = bob.NewOutboundSession(alice.Curve25519Key(), alice.Curve25519Key())
	closed("NewOutboundSession", err)
	closed("GenerateOneTimeKeys", bob.GenerateOneTimeKeys(1))
	closed("GenerateFallbackKey", bob.GenerateFallbackKey())
	_, err = bob.DeviceKeys("@b:x", "B")
	closed("DeviceKeys", err)
	_, err = bob.SignedOneTimeKeys("@b:x", "B")
	closed("SignedOneTimeKeys", err)
	_, err = bob.SignedFallbackKeys("@b:x", "B")
	closed("SignedFallbackKeys", err)
	_, err = bob.Pickle(testKey)
	closed("Pickle", err)
	_, err = bob.PickleLibolm(testKey)
	closed("PickleLibolm", err)

	// Accessors return nothing that looks like a key.
	curve, ed := bob.IdentityKeys()
	if curve != (olm.Curve25519PublicKey{}) || ed != (olm.Ed25519PublicKey{}) || bob.Curve25519Key() != curve || bob.Ed25519Key() != ed {
		t.Error("identity keys after Close")
	}
	if sig := bob.Sign([]byte("x")); sig != (olm.Ed25519Signature{}) {
		t.Error("signature after Close")
	}
	if len(bob.OneTimeKeys()) != 0 {
		t.Error("one-time keys after Close")
	}
	if _, _, ok := bob.FallbackKey(); ok {
		t.Error("fallback key after Close")
	}
	bob.MarkKeysAsPublished()
	bob.ForgetOldFallbackKey()
	if got := fmt.Sprint(bob); got != "olm.Account{closed}" {
		t.Errorf("printed as %q", got)
	}
}

// TestSessionClose: the same for a session.
func TestSessionClose(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	m, _ := alice.Encrypt([]byte("x"))
	for range 2 {
		if err := bob.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bob.Decrypt(m); !errors.Is(err, olm.ErrClosed) {
		t.Errorf("Decrypt: %v", err)
	}
	if _, err := bob.Encrypt([]byte("x")); !errors.Is(err, olm.ErrClosed) {
		t.Errorf("Encrypt: %v", err)
	}
	if _, err := bob.Pickle(testKey); !errors.Is(err, olm.ErrClosed) {
		t.Errorf("Pickle: %v", err)
	}
	if _, err := bob.PickleLibolm(testKey); !errors.Is(err, olm.ErrClosed) {
		t.Errorf("PickleLibolm: %v", err)
	}
	if bob.SessionID() != "" || bob.HasReceivedMessage() || bob.Matches(m.(*olm.PreKeyMessage)) {
		t.Error("accessors after Close")
	}
	if got := fmt.Sprint(bob); !strings.Contains(got, "closed") {
		t.Errorf("printed as %q", got)
	}
	if _, err := alice.Encrypt([]byte("x")); err != nil {
		t.Errorf("the other end is not affected: %v", err)
	}
}
