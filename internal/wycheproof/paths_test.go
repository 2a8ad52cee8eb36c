package wycheproof_test

import (
	"bytes"
	"crypto/aes"
	stdcipher "crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"math/big"
	"testing"

	"github.com/souverain/e2ee/internal/wycheproof"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// These tests run Wycheproof's vectors through the public packages' own
// entry points, not only through internal/x25519 and internal/ed25519, so
// that a package that bypassed the checked primitives would fail here
// (SECURITY 4 and 5).

// zeroShared reports whether X25519 with the vector's public key gives the
// all-zero secret, which every entry point must refuse (SECURITY 4). A
// clamped private key is a multiple of 8 and below the prime subgroup's
// order times 8, so this does not depend on the private key: the entry
// points that draw their own ephemeral key must refuse exactly these too.
func zeroShared(v wycheproof.X25519Vector) bool {
	return bytes.Equal(v.Shared, make([]byte, 32))
}

// canonicalU reports whether the public key is a canonical u-coordinate:
// top bit clear and below 2^255 - 19.
func canonicalU(pub []byte) bool {
	le := make([]byte, 32)
	for i := range pub {
		le[31-i] = pub[i]
	}
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	return new(big.Int).SetBytes(le).Cmp(p) < 0
}

// tally checks an entry point's error against the expected one and counts
// the outcomes. An error wrapping later means the input got past the key
// agreement and failed afterwards, as expected: it counts as accepted.
type tally struct {
	t                *testing.T
	name             string
	later            error
	ran, refused, ok int
}

func (c *tally) check(v wycheproof.X25519Vector, err error, wantErr error) {
	c.t.Helper()
	c.ran++
	switch {
	case wantErr == nil && err != nil:
		c.t.Errorf("%s: tcId %d (%s %v): %v; want success", c.name, v.ID, v.Comment, v.Flags, err)
	case wantErr != nil && !errors.Is(err, wantErr):
		c.t.Errorf("%s: tcId %d (%s %v): %v; want an error wrapping %v", c.name, v.ID, v.Comment, v.Flags, err, wantErr)
	case wantErr != nil && wantErr != c.later:
		c.refused++
	default:
		c.ok++
	}
}

func (c *tally) done(total int) {
	c.t.Helper()
	if c.ran != total {
		c.t.Errorf("%s: ran %d of %d vectors", c.name, c.ran, total)
	}
	c.t.Logf("%s: %d vectors run, %d refused, %d past the key agreement", c.name, c.ran, c.refused, c.ok)
}

func x25519Vectors(t *testing.T) []wycheproof.X25519Vector {
	vs, err := wycheproof.X25519()
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestX25519Olm runs every public key of x25519_test.json as the peer's
// identity key and as its one-time key of an outbound session, and as the
// identity key and base key of an inbound pre-key message: the three
// Diffie-Hellmans of the 3DH see it in each role. An all-zero result must be
// refused with ErrBadPublicKey; any other key must pass the key agreement
// (an outbound session opens; an inbound message fails later, at its MAC,
// since its keys were rewritten).
func TestX25519Olm(t *testing.T) {
	vectors := x25519Vectors(t)
	alice, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	bob, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.GenerateOneTimeKeys(1); err != nil {
		t.Fatal(err)
	}
	var bobOTK olm.Curve25519PublicKey
	for _, k := range bob.OneTimeKeys() {
		bobOTK = k
	}
	s, err := alice.NewOutboundSession(bob.Curve25519Key(), bobOTK)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Encrypt([]byte("wycheproof"))
	if err != nil {
		t.Fatal(err)
	}
	pre, ok := m.(*olm.PreKeyMessage)
	if !ok {
		t.Fatalf("first message is %T", m)
	}
	raw := pre.Bytes()
	baseKey, identityKey := pre.BaseKey(), pre.IdentityKey()
	baseAt, identityAt := bytes.Index(raw, baseKey[:]), bytes.Index(raw, identityKey[:])
	if baseAt < 0 || identityAt < 0 {
		t.Fatal("keys not found in the pre-key message")
	}

	outOTK := &tally{t: t, name: "olm outbound, one-time key"}
	outID := &tally{t: t, name: "olm outbound, identity key"}
	inBase := &tally{t: t, name: "olm inbound, base key", later: olm.ErrBadMessageMAC}
	inID := &tally{t: t, name: "olm inbound, identity key", later: olm.ErrBadMessageMAC}
	for _, v := range vectors {
		pub, err := olm.NewCurve25519PublicKey(v.Public)
		if err != nil {
			t.Fatalf("tcId %d: %v", v.ID, err)
		}
		var want error
		if zeroShared(v) {
			want = olm.ErrBadPublicKey
		}
		_, err = alice.NewOutboundSession(bob.Curve25519Key(), pub)
		outOTK.check(v, err, want)
		_, err = alice.NewOutboundSession(pub, bobOTK)
		outID.check(v, err, want)

		// Inbound: the rewritten message gets past the key agreement only
		// to fail its MAC.
		wantIn := want
		if wantIn == nil {
			wantIn = olm.ErrBadMessageMAC
		}
		for _, c := range []struct {
			tally *tally
			at    int
			their olm.Curve25519PublicKey
		}{{inBase, baseAt, identityKey}, {inID, identityAt, pub}} {
			b := bytes.Clone(raw)
			copy(b[c.at:], v.Public)
			pm, err := olm.ParsePreKeyMessage(b)
			if err != nil {
				t.Fatalf("tcId %d: %v", v.ID, err)
			}
			_, _, err = bob.NewInboundSession(c.their, pm)
			c.tally.check(v, err, wantIn)
		}
	}
	for _, c := range []*tally{outOTK, outID, inBase, inID} {
		c.done(len(vectors))
	}
	// The message itself still opens a session: the rewrites above changed
	// nothing in bob's account.
	if _, plaintext, err := bob.NewInboundSession(identityKey, pre); err != nil || string(plaintext) != "wycheproof" {
		t.Fatalf("original pre-key message: %q, %v", plaintext, err)
	}
}

// TestX25519SAS runs every public key of x25519_test.json as the other
// device's SAS key.
func TestX25519SAS(t *testing.T) {
	vectors := x25519Vectors(t)
	c := &tally{t: t, name: "sas Establish"}
	for _, v := range vectors {
		s, err := sas.New()
		if err != nil {
			t.Fatal(err)
		}
		pub, err := sas.NewPublicKey(v.Public)
		if err != nil {
			t.Fatalf("tcId %d: %v", v.ID, err)
		}
		var want error
		if zeroShared(v) {
			want = sas.ErrBadPublicKey
		}
		_, err = s.Establish(pub)
		c.check(v, err, want)
	}
	c.done(len(vectors))
}

// TestX25519BackupEncrypt runs every public key of x25519_test.json as a
// backup's public key when encrypting to it.
func TestX25519BackupEncrypt(t *testing.T) {
	vectors := x25519Vectors(t)
	c := &tally{t: t, name: "keybackup Encrypt"}
	for _, v := range vectors {
		pub, err := keybackup.NewBackupPublicKey(v.Public)
		if err != nil {
			t.Fatalf("tcId %d: %v", v.ID, err)
		}
		var want error
		if zeroShared(v) {
			want = keybackup.ErrBadPublicKey
		}
		_, err = pub.Encrypt([]byte("{}"))
		c.check(v, err, want)
	}
	c.done(len(vectors))
}

// TestX25519BackupDecrypt is the one entry point where the private key can
// be Wycheproof's: each vector's private key becomes a backup key, and a
// session encrypted by hand under the keys derived from Wycheproof's shared
// secret, with the vector's public key as the ephemeral key, must decrypt.
// So this checks the secret itself, not only the refusals.
//
// Stricter than Wycheproof: keybackup refuses an ephemeral key that is not a
// canonical u-coordinate (top bit set, or 2^255-19 and above), which
// Wycheproof marks "acceptable" (NonCanonicalPublic and others). Reason:
// X25519 maps 2 to 20 encodings to the same key, so a backup entry could be
// re-encoded into distinct bytes that decrypt alike; every X25519
// implementation writes canonical keys, so refusing costs nothing.
func TestX25519BackupDecrypt(t *testing.T) {
	vectors := x25519Vectors(t)
	c := &tally{t: t, name: "keybackup Decrypt"}
	var stricter int
	plaintext := []byte(`{"wycheproof":true}`)
	for _, v := range vectors {
		k, err := keybackup.NewBackupKey(v.Private)
		if err != nil {
			t.Fatalf("tcId %d: %v", v.ID, err)
		}
		d := &keybackup.SessionData{Ephemeral: [32]byte(v.Public)}
		keys, err := hkdf.Key(sha256.New, v.Shared, nil, "", 80)
		if err != nil {
			t.Fatal(err)
		}
		block, err := aes.NewCipher(keys[:32])
		if err != nil {
			t.Fatal(err)
		}
		n := len(plaintext) + 16 - len(plaintext)%16
		d.Ciphertext = make([]byte, n)
		copy(d.Ciphertext, plaintext)
		for i := len(plaintext); i < n; i++ {
			d.Ciphertext[i] = byte(n - len(plaintext))
		}
		stdcipher.NewCBCEncrypter(block, keys[64:]).CryptBlocks(d.Ciphertext, d.Ciphertext)
		mac := hmac.New(sha256.New, keys[32:64]).Sum(nil)
		copy(d.MAC[:], mac)

		var want error
		if zeroShared(v) {
			want = keybackup.ErrBadMAC
		} else if !canonicalU(v.Public) {
			want = keybackup.ErrBadMAC
			stricter++
		}
		got, err := k.Decrypt(d)
		c.check(v, err, want)
		if want == nil && err == nil && !bytes.Equal(got, plaintext) {
			t.Errorf("tcId %d: decrypted %q", v.ID, got)
		}
	}
	c.done(len(vectors))
	t.Logf("keybackup Decrypt: %d non-canonical ephemeral keys refused (stricter than Wycheproof's acceptable)", stricter)
}

// ed25519Stricter lists the vectors of ed25519_test.json that Wycheproof
// calls valid and olm refuses, with the reason. Empty at the pinned commit:
// see internal/ed25519's table of the same name.
var ed25519Stricter = map[int]string{}

// TestEd25519Olm runs every vector of ed25519_test.json through
// olm.Ed25519PublicKey.Verify, the verification every package uses for
// device keys and signed JSON. A signature of the wrong length is refused
// by NewEd25519Signature already.
func TestEd25519Olm(t *testing.T) {
	vectors, err := wycheproof.Ed25519()
	if err != nil {
		t.Fatal(err)
	}
	var ran, valid, invalid int
	for _, v := range vectors {
		ran++
		pub, err := olm.NewEd25519PublicKey(v.PublicKey)
		if err != nil {
			t.Fatalf("tcId %d: %v", v.ID, err)
		}
		sig, err := olm.NewEd25519Signature(v.Sig)
		if err == nil {
			err = pub.Verify(v.Msg, sig)
		}
		_, stricter := ed25519Stricter[v.ID]
		if v.Result == wycheproof.Valid && !stricter {
			if err != nil {
				t.Errorf("tcId %d (%s %v): %v; want valid", v.ID, v.Comment, v.Flags, err)
			}
			valid++
			continue
		}
		if !errors.Is(err, olm.ErrBadSignature) {
			t.Errorf("tcId %d (%s %v): %v; want ErrBadSignature", v.ID, v.Comment, v.Flags, err)
		}
		invalid++
	}
	if ran != len(vectors) {
		t.Errorf("ran %d of %d", ran, len(vectors))
	}
	t.Logf("olm Ed25519: %d vectors run, %d accepted, %d refused", ran, valid, invalid)
}
