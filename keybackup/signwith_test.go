package keybackup_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// lyingSigner reports one public key and signs with another.
type lyingSigner struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func (s lyingSigner) Public() crypto.PublicKey { return s.pub }
func (s lyingSigner) Sign(r io.Reader, m []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.priv.Sign(r, m, o)
}

// failingSigner fails to sign.
type failingSigner struct{ ed25519.PublicKey }

var errSigner = errors.New("hardware token unplugged")

func (s failingSigner) Public() crypto.PublicKey { return s.PublicKey }
func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errSigner
}

func TestAuthDataSignWith(t *testing.T) {
	const user = "@alice:example.org"
	bk, _ := keybackup.GenerateBackupKey()
	master, err := crossign.GeneratePrivateKey(crossign.UsageMaster)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edKey, _ := olm.NewEd25519PublicKey(edPub)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	closed, _ := crossign.GeneratePrivateKey(crossign.UsageMaster)
	closed.Close()

	ok := []struct {
		name string
		s    crypto.Signer
		pub  olm.Ed25519PublicKey
	}{
		{"crossign master key", master, master.PublicKey()},
		{"crypto/ed25519 key", edPriv, edKey},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			a := keybackup.NewAuthData(bk.PublicKey())
			if err := a.SignWith(user, c.s); err != nil {
				t.Fatal(err)
			}
			if _, ok := a.Signatures[user]["ed25519:"+c.pub.String()]; !ok {
				t.Fatalf("signature not filed under the public key: %v", a.Signatures)
			}
			if _, err := a.Verify(user, keybackup.MasterSigningKey(c.pub)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// The signature is by that key only.
			if _, err := a.Verify(user, keybackup.MasterSigningKey(master.PublicKey()), keybackup.MasterSigningKey(edKey)); err != nil {
				t.Fatal(err)
			}
		})
	}

	bad := []struct {
		name string
		a    *keybackup.AuthData
		s    crypto.Signer
		want error
	}{
		{"nil signer", keybackup.NewAuthData(bk.PublicKey()), nil, keybackup.ErrNil},
		{"nil auth data", nil, master, keybackup.ErrNil},
		{"ECDSA key", keybackup.NewAuthData(bk.PublicKey()), ecKey, keybackup.ErrUnsupportedAlgorithm},
		{"signer lies about its key", keybackup.NewAuthData(bk.PublicKey()), lyingSigner{edPub, otherPriv}, keybackup.ErrWrongKey},
		{"signer fails", keybackup.NewAuthData(bk.PublicKey()), failingSigner{edPub}, errSigner},
		{"closed key", keybackup.NewAuthData(bk.PublicKey()), closed, keybackup.ErrClosed},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			err := c.a.SignWith(user, c.s)
			if !errors.Is(err, c.want) {
				t.Fatalf("SignWith: %v, want %v", err, c.want)
			}
			if c.a != nil && len(c.a.Signatures) != 0 {
				t.Errorf("auth data changed on error: %v", c.a.Signatures)
			}
		})
	}
}
