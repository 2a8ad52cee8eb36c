package signedjson_test

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/souverain/e2ee/signedjson"
)

// nilSigner is a crypto.Signer whose nil pointer panics when used.
type nilSigner struct{ k ed25519.PrivateKey }

func (s *nilSigner) Public() crypto.PublicKey { return s.k.Public() }
func (s *nilSigner) Sign(_ io.Reader, m []byte, _ crypto.SignerOpts) ([]byte, error) {
	return ed25519.Sign(s.k, m), nil
}

// TestNilAndZero: nil keys and nil Objects give errors wrapping ErrNil
// (ErrInvalidKey for a key of the wrong size), never a panic.
func TestNilAndZero(t *testing.T) {
	var nilObj *signedjson.Object
	obj, _ := signedjson.Parse([]byte(`{"a":1}`))
	pub := make(ed25519.PublicKey, 32)
	var nilKey ed25519.PrivateKey
	var nilPtr *nilSigner
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Sign(nil key)", func() error { _, err := signedjson.Sign([]byte(`{}`), "e", "ed25519:k", nil); return err }, signedjson.ErrNil},
		{"Sign(nil ed25519 key)", func() error { _, err := signedjson.Sign([]byte(`{}`), "e", "ed25519:k", nilKey); return err }, signedjson.ErrNil},
		{"Sign(nil *signer)", func() error { _, err := signedjson.Sign([]byte(`{}`), "e", "ed25519:k", nilPtr); return err }, signedjson.ErrNil},
		{"Sign(empty ed25519 key)", func() error {
			_, err := signedjson.Sign([]byte(`{}`), "e", "ed25519:k", ed25519.PrivateKey{})
			return err
		}, signedjson.ErrInvalidKey},
		{"Object.Sign(nil key)", func() error { return obj.Sign("e", "ed25519:k", nil) }, signedjson.ErrNil},
		{"nil Object.Sign", func() error { return nilObj.Sign("e", "ed25519:k", ed25519.NewKeyFromSeed(make([]byte, 32))) }, signedjson.ErrNil},
		{"nil Object.Verify", func() error { return nilObj.Verify("e", "ed25519:k", pub) }, signedjson.ErrNil},
		{"nil Object.AddSignature", func() error { return nilObj.AddSignature("e", "ed25519:k", make([]byte, 64)) }, signedjson.ErrNil},
		{"Object.AddSignatures(nil)", func() error { return obj.AddSignatures(nil) }, signedjson.ErrNil},
		{"nil Object.UnmarshalJSON", func() error { return nilObj.UnmarshalJSON([]byte(`{}`)) }, signedjson.ErrNil},
		{"nil Object getters", func() error {
			_ = nilObj.Bytes()
			_ = nilObj.SigningBytes()
			_, _ = nilObj.Member("a")
			_ = nilObj.Signatures()
			_, _ = nilObj.Signature("e", "k")
			if b, _ := nilObj.MarshalJSON(); string(b) != "null" {
				return fmt.Errorf("MarshalJSON = %s", b)
			}
			return signedjson.ErrNil
		}, signedjson.ErrNil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				err = tt.call()
			}()
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
