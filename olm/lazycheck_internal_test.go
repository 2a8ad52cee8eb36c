package olm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/pickle"
)

// TestLibolmKeysCheckedBeforeUse: a libolm-format account pickle whose
// stored public key does not match its private key opens (the pickle's MAC
// vouches for it, and the check is deferred), but the account then signs
// nothing and opens no session: errors wrap ErrCorruptedPickle.
func TestLibolmKeysCheckedBeforeUse(t *testing.T) {
	fx := newFuzzFixture(t)
	key := []byte("pickle key")
	for _, c := range []struct {
		name   string
		offset int // of the public key's first byte in the body
	}{
		{"ed25519", 4},
		{"curve25519", 4 + 32 + 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := fx.alice.st.marshal(libolmMaxOneTimeKeys, false)
			body[c.offset] ^= 1
			a, err := UnpickleLibolmAccount(pickle.EncryptLibolm(key, body), key)
			if err != nil {
				t.Fatalf("unpickle: %v", err)
			}
			if sig := a.Sign([]byte("x")); sig != (Ed25519Signature{}) {
				t.Error("signed with a mismatched key pair")
			}
			if _, err := a.DeviceKeys("@a:x", "A"); !errors.Is(err, ErrCorruptedPickle) {
				t.Errorf("DeviceKeys: %v", err)
			}
			if _, err := a.NewOutboundSession(fx.bob.Curve25519Key(), fx.bob.Curve25519Key()); !errors.Is(err, ErrCorruptedPickle) {
				t.Errorf("NewOutboundSession: %v", err)
			}
			if _, _, err := a.NewInboundSession(fx.preKey.IdentityKey(), fx.preKey); !errors.Is(err, ErrCorruptedPickle) {
				t.Errorf("NewInboundSession: %v", err)
			}
			// Written back, it is the same pickle body.
			text, _ := a.PickleLibolm(key)
			again, _ := pickle.DecryptLibolm(key, text)
			if !bytes.Equal(again, body) {
				t.Error("the account changed")
			}
		})
	}
	// An intact pickle signs as before, with the check done once.
	a, err := UnpickleLibolmAccount(pickle.EncryptLibolm(key, fx.alice.st.marshal(libolmMaxOneTimeKeys, false)), key)
	if err != nil {
		t.Fatal(err)
	}
	if !a.st.keysUnchecked {
		t.Fatal("keys checked when read")
	}
	if sig := a.Sign([]byte("x")); sig != fx.alice.Sign([]byte("x")) {
		t.Fatal("signature differs")
	}
	if a.st.keysUnchecked || a.st.keysErr != nil {
		t.Fatal("keys not checked before the first signature")
	}
}
