package keybackup_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// The m.cross_signing.master secret of mautrix-go v0.32.0
// crypto/ssss/key_test.go, encrypted with key 1, and its plaintext (the
// private key, 32 bytes, stored in padded base64).
const mautrixMasterSecret = `{
  "encrypted": {
    "gEJqbfSEMnP5JXXcukpXEX1l0aI3MDs0": {
      "iv": "BpKP9nQJTE9jrsAssoxPqQ==",
      "ciphertext": "fNRiiiidezjerTgV+G6pUtmeF3izzj5re/mVvY0hO2kM6kYGrxLuIu2ej80=",
      "mac": "/gWGDGMyOLmbJp+aoSLh5JxCs0AdS6nAhjzpe+9G2Q0="
    }
  }
}`

var mautrixMasterPlain = []byte{
	0x68, 0xf9, 0x7f, 0xd1, 0x92, 0x2e, 0xec, 0xf6,
	0xb8, 0x2b, 0xb8, 0x90, 0xd2, 0x4d, 0x06, 0x52,
	0x98, 0x4e, 0x7a, 0x1d, 0x70, 0x3b, 0x9e, 0x86,
	0x7b, 0x7e, 0xba, 0xf7, 0xfe, 0xb9, 0x5b, 0x6f,
}

func mustDescription(t testing.TB, s string) *keybackup.KeyDescription {
	d, err := keybackup.ParseKeyDescription([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSecretStorageMautrixKeys(t *testing.T) {
	d1 := mustDescription(t, mautrixKey1Meta)
	d2 := mustDescription(t, mautrixKey2Meta)
	k1, err := d1.UnlockWithRecoveryKey(mautrixKey1ID, mautrixKey1Recovery)
	if err != nil {
		t.Fatal(err)
	}
	if k1.RecoveryKey() != mautrixKey1Recovery || k1.ID() != mautrixKey1ID {
		t.Fatal("key 1 changed")
	}
	k2, err := d2.UnlockWithRecoveryKey(mautrixKey2ID, mautrixKey2Recovery)
	if err != nil {
		t.Fatal(err)
	}
	// Crossed keys fail the check.
	if _, err := d1.UnlockWithRecoveryKey(mautrixKey1ID, mautrixKey2Recovery); !errors.Is(err, keybackup.ErrWrongKey) {
		t.Fatalf("key 2 against description 1: %v", err)
	}
	if _, err := d2.UnlockWithRecoveryKey(mautrixKey2ID, mautrixKey1Recovery); !errors.Is(err, keybackup.ErrWrongKey) {
		t.Fatalf("key 1 against description 2: %v", err)
	}
	if _, err := d2.UnlockWithPassphrase(mautrixKey2ID, "x"); !errors.Is(err, keybackup.ErrNoPassphrase) {
		t.Fatalf("passphrase without parameters: %v", err)
	}

	content, err := keybackup.ParseSecretContent([]byte(mautrixMasterSecret))
	if err != nil {
		t.Fatal(err)
	}
	es, err := content.For(k1.ID())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := k1.Decrypt(keybackup.SecretCrossSigningMaster, es)
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.StdEncoding.EncodeToString(mautrixMasterPlain); string(plain) != want {
		t.Fatalf("plaintext %q, want %q", plain, want)
	}
	// The seed gives a public key; DecryptCrossSigningKey checks it.
	pub, _ := olm.NewEd25519PublicKey(ed25519.NewKeyFromSeed(mautrixMasterPlain).Public().(ed25519.PublicKey))
	seed, err := k1.DecryptCrossSigningKey(keybackup.SecretCrossSigningMaster, es, pub)
	if err != nil || !bytes.Equal(seed, mautrixMasterPlain) {
		t.Fatalf("DecryptCrossSigningKey = %x, %v", seed, err)
	}
	other := newMasterKey(t)
	if _, err := k1.DecryptCrossSigningKey(keybackup.SecretCrossSigningMaster, es, other.pub); !errors.Is(err, keybackup.ErrWrongKey) {
		t.Fatalf("wrong public key: %v", err)
	}

	_, wantErr := k2.Decrypt(keybackup.SecretCrossSigningMaster, es)
	if !errors.Is(wantErr, keybackup.ErrBadMAC) {
		t.Fatalf("key 2: %v", wantErr)
	}
	if _, err := k1.Decrypt(keybackup.SecretCrossSigningSelfSigning, es); err != wantErr {
		t.Fatalf("wrong name: %v", err)
	}
	if _, err := content.For(k2.ID()); !errors.Is(err, keybackup.ErrWrongKey) {
		t.Fatalf("For(key 2) = %v", err)
	}
}

func TestSecretStorageMautrixPassphrase(t *testing.T) {
	if testing.Short() {
		t.Skip("500 000 PBKDF2 iterations")
	}
	d1 := mustDescription(t, mautrixKey1Meta)
	k, err := d1.UnlockWithPassphrase(mautrixKey1ID, mautrixKey1Pass)
	if err != nil {
		t.Fatal(err)
	}
	if k.RecoveryKey() != mautrixKey1Recovery {
		t.Fatal("passphrase gave another key")
	}
	if _, err := d1.UnlockWithPassphrase(mautrixKey1ID, "incorrect horse battery staple"); !errors.Is(err, keybackup.ErrWrongPassphrase) || !errors.Is(err, keybackup.ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func TestKeyDescriptionParse(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  error
		check bool
	}{
		{"key 1", mautrixKey1Meta, nil, true},
		{"key 2, padded", mautrixKey2Meta, nil, true},
		{"unverifiable", `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2"}`, nil, false},
		{"with name", `{"name":"Default key","algorithm":"m.secret_storage.v1.aes-hmac-sha2"}`, nil, false},
		// mautrix accepts this 32-byte IV by truncating it; the
		// specification says 16 bytes and so does this package.
		{"long IV", `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","iv":"O0BOvTqiIAYjC+RMcyHfW2f/gdxjceTxoYtNlpPduJ8=","mac":"7k6OruQlWg0UmQjxGZ0ad4Q6DdwkgnoI7G6X3IjBYtI="}`, keybackup.ErrBadFormat, false},
		{"broken IV", `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","iv":"MeowMeowMeow","mac":"7k6OruQlWg0UmQjxGZ0ad4Q6DdwkgnoI7G6X3IjBYtI="}`, keybackup.ErrBadFormat, false},
		{"broken MAC", `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","iv":"O0BOvTqiIAYjC+RMcyHfWw==","mac":"7k6OruQlWg0UmQjxGZ0ad4Q6DdwkgnoI7G6X3IjBYtIMeowMeowMeow"}`, keybackup.ErrBadFormat, false},
		{"IV only", `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","iv":"O0BOvTqiIAYjC+RMcyHfWw=="}`, keybackup.ErrBadFormat, false},
		{"MAC only", `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","mac":"7k6OruQlWg0UmQjxGZ0ad4Q6DdwkgnoI7G6X3IjBYtI="}`, keybackup.ErrBadFormat, false},
		{"other algorithm", `{"algorithm":"m.secret_storage.v2"}`, keybackup.ErrUnsupportedAlgorithm, false},
		{"no algorithm", `{}`, keybackup.ErrUnsupportedAlgorithm, false},
		{"not JSON", `{`, keybackup.ErrBadFormat, false},
		{"iterations as string", `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","passphrase":{"algorithm":"m.pbkdf2","salt":"s","iterations":"5"}}`, keybackup.ErrBadFormat, false},
		{"too large", `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","name":"` + strings.Repeat("n", keybackup.MaxSecretSize) + `"}`, keybackup.ErrTooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := keybackup.ParseKeyDescription([]byte(tt.in))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			if d.HasCheck() != tt.check {
				t.Fatalf("HasCheck = %v", d.HasCheck())
			}
			// Encoding and decoding again gives the same description.
			text, _ := d.MarshalJSON()
			if bytes.ContainsRune(text, '=') {
				t.Fatalf("padded base64: %s", text)
			}
			again, err := keybackup.ParseKeyDescription(text)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(d, again); diff != "" {
				t.Fatal(diff)
			}
		})
	}
	// Without check values any key is taken, as the specification says.
	d := mustDescription(t, `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2"}`)
	if err := d.CheckKey(randomKey(t)); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckKey(make([]byte, 31)); !errors.Is(err, keybackup.ErrBadFormat) {
		t.Fatal(err)
	}
}

// TestPassphraseLimits checks the iteration counts read from account data.
func TestPassphraseLimits(t *testing.T) {
	tests := []struct {
		name string
		p    keybackup.Passphrase
		want error
	}{
		{"2^31", keybackup.Passphrase{Algorithm: "m.pbkdf2", Salt: "s", Iterations: 1 << 31}, keybackup.ErrIterations},
		{"max+1", keybackup.Passphrase{Algorithm: "m.pbkdf2", Salt: "s", Iterations: keybackup.MaxPBKDF2Iterations + 1}, keybackup.ErrIterations},
		{"zero", keybackup.Passphrase{Algorithm: "m.pbkdf2", Salt: "s"}, keybackup.ErrIterations},
		{"negative", keybackup.Passphrase{Algorithm: "m.pbkdf2", Salt: "s", Iterations: -1}, keybackup.ErrIterations},
		{"128 bits", keybackup.Passphrase{Algorithm: "m.pbkdf2", Salt: "s", Iterations: 1, Bits: 128}, keybackup.ErrBadFormat},
		{"other algorithm", keybackup.Passphrase{Algorithm: "m.argon2", Salt: "s", Iterations: 1}, keybackup.ErrUnsupportedAlgorithm},
		{"ok", keybackup.Passphrase{Algorithm: "m.pbkdf2", Salt: "s", Iterations: 1, Bits: 256}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := tt.p.DeriveKey("pass")
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && len(k) != 32 {
				t.Fatalf("key of %d bytes", len(k))
			}
		})
	}
	// From JSON: a description with a huge count is refused before any
	// work, so this returns at once.
	d := mustDescription(t, `{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","passphrase":{"algorithm":"m.pbkdf2","salt":"s","iterations":2147483648}}`)
	if _, err := d.UnlockWithPassphrase("id", "x"); !errors.Is(err, keybackup.ErrIterations) {
		t.Fatalf("err = %v", err)
	}
}

// TestPassphraseSaltIsText checks that the salt is used as the bytes of
// the string, with the example of the specification's parameters.
func TestPassphraseSaltIsText(t *testing.T) {
	p := keybackup.Passphrase{Algorithm: "m.pbkdf2", Salt: "MmMsAlty", Iterations: 1000}
	a, _ := p.DeriveKey("pass")
	p.Salt = "MmMsAltz"
	b, _ := p.DeriveKey("pass")
	if bytes.Equal(a, b) {
		t.Fatal("salt ignored")
	}
}

func TestNewSecretStorageKeyFromPassphrase(t *testing.T) {
	for _, n := range []int{1, 100_000, keybackup.MinPBKDF2Iterations - 1, keybackup.MaxPBKDF2Iterations + 1, -5} {
		if _, err := keybackup.NewSecretStorageKeyFromPassphrase("k", "pass", n); !errors.Is(err, keybackup.ErrIterations) {
			t.Errorf("%d iterations: err = %v", n, err)
		}
	}
	// A full run with the default count, once.
	if !testing.Short() {
		k, err := keybackup.NewSecretStorageKeyFromPassphrase("k", "pass", 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := k.Description(); d.Passphrase.Iterations != keybackup.MinPBKDF2Iterations || len(d.Passphrase.Salt) != 32 {
			t.Fatalf("passphrase parameters %+v", d.Passphrase)
		}
	}
	// The rest with a small count through the test hook.
	k, err := keybackup.NewSecretStorageKeyFromPassphraseWeak("My key", "correct horse", 1000)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := k.Description().MarshalJSON()
	d := mustDescription(t, string(text))
	if d.Name != "My key" || d.Passphrase == nil || !d.HasCheck() {
		t.Fatalf("description %s", text)
	}
	again, err := d.UnlockWithPassphrase(k.ID(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), k.Bytes()) {
		t.Fatal("different key")
	}
	if _, err := d.UnlockWithPassphrase(k.ID(), "correct horsf"); !errors.Is(err, keybackup.ErrWrongPassphrase) {
		t.Fatalf("err = %v", err)
	}
	if _, err := d.UnlockWithRecoveryKey(k.ID(), k.RecoveryKey()); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateSecretStorageKey(t *testing.T) {
	ids := map[string]bool{}
	for range 50 {
		k, err := keybackup.GenerateSecretStorageKey("")
		if err != nil {
			t.Fatal(err)
		}
		d := k.Description()
		if len(d.IV) != 16 || d.IV[8]&0x80 != 0 {
			t.Fatalf("check IV %x: bit 63 set", d.IV)
		}
		if len(k.ID()) != 32 || ids[k.ID()] {
			t.Fatalf("key ID %q", k.ID())
		}
		ids[k.ID()] = true
		if err := d.CheckKey(k.Bytes()); err != nil {
			t.Fatal(err)
		}
		es, _ := k.Encrypt("x", []byte("secret"))
		if es.IV[8]&0x80 != 0 {
			t.Fatalf("secret IV %x: bit 63 set", es.IV)
		}
	}
}

func TestSecretRoundTrip(t *testing.T) {
	k, _ := keybackup.GenerateSecretStorageKey("")
	for _, n := range []int{0, 1, 16, 43, 100, 1000} {
		secret := make([]byte, n)
		rand.Read(secret)
		content := keybackup.SecretContent{Encrypted: map[string]*keybackup.EncryptedSecret{}}
		es, err := k.Encrypt("net.example.secret", secret)
		if err != nil {
			t.Fatal(err)
		}
		content.Encrypted[k.ID()] = es
		text, _ := json.Marshal(content)
		if bytes.ContainsRune(text, '=') {
			t.Fatalf("padded base64: %s", text)
		}
		back, err := keybackup.ParseSecretContent(text)
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Decrypt("net.example.secret", back.Encrypted[k.ID()])
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("%d bytes: %x, %v", n, got, err)
		}
	}
	if _, err := k.Encrypt("x", make([]byte, keybackup.MaxSecretSize)); !errors.Is(err, keybackup.ErrTooLarge) {
		t.Fatalf("huge secret: %v", err)
	}
}

// TestSecretUniformError: bad MAC, changed ciphertext, wrong name and wrong
// key give one error value.
func TestSecretUniformError(t *testing.T) {
	k, _ := keybackup.GenerateSecretStorageKey("")
	other, _ := keybackup.GenerateSecretStorageKey("")
	es, _ := k.Encrypt(keybackup.SecretCrossSigningUserSigning, []byte("c2VjcmV0"))
	_, want := other.Decrypt(keybackup.SecretCrossSigningUserSigning, es)
	if !errors.Is(want, keybackup.ErrBadMAC) {
		t.Fatal(want)
	}
	for i := range len(es.MAC) * 8 {
		e := *es
		e.MAC[i/8] ^= 1 << (i % 8)
		if _, err := k.Decrypt(keybackup.SecretCrossSigningUserSigning, &e); err != want {
			t.Fatalf("MAC bit %d: %v", i, err)
		}
	}
	for i := range es.Ciphertext {
		e := *es
		e.Ciphertext = bytes.Clone(es.Ciphertext)
		e.Ciphertext[i] ^= 1
		if _, err := k.Decrypt(keybackup.SecretCrossSigningUserSigning, &e); err != want {
			t.Fatalf("ciphertext byte %d: %v", i, err)
		}
	}
	for _, name := range []string{keybackup.SecretCrossSigningMaster, keybackup.SecretCrossSigningSelfSigning, keybackup.SecretMegolmBackup, ""} {
		if _, err := k.Decrypt(name, es); err != want {
			t.Fatalf("name %q: %v", name, err)
		}
	}
}

// TestSecretIVNotAuthenticated: the MAC does not cover the IV, so a
// flipped IV bit decrypts to a different plaintext. The typed decrypters
// catch it by checking the key against its public key (SECURITY.md 47).
func TestSecretIVNotAuthenticated(t *testing.T) {
	k, _ := keybackup.GenerateSecretStorageKey("")
	bk, _ := keybackup.GenerateBackupKey()
	es, err := k.EncryptBackupKey(bk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.DecryptBackupKey(es, bk.PublicKey())
	if err != nil || !bytes.Equal(got.Bytes(), bk.Bytes()) {
		t.Fatalf("DecryptBackupKey = %v", err)
	}
	master := newMasterKey(t)
	seed := master.priv.Seed()
	mes, _ := k.EncryptCrossSigningKey(keybackup.SecretCrossSigningMaster, seed)
	if s, err := k.DecryptCrossSigningKey(keybackup.SecretCrossSigningMaster, mes, master.pub); err != nil || !bytes.Equal(s, seed) {
		t.Fatalf("DecryptCrossSigningKey = %v", err)
	}
	for i := range 128 {
		e := *es
		e.IV[i/8] ^= 1 << (i % 8)
		if _, err := k.Decrypt(keybackup.SecretMegolmBackup, &e); err != nil {
			t.Fatalf("IV bit %d: the MAC should not cover the IV: %v", i, err)
		}
		if _, err := k.DecryptBackupKey(&e, bk.PublicKey()); !errors.Is(err, keybackup.ErrWrongKey) && !errors.Is(err, keybackup.ErrBadMAC) {
			t.Fatalf("IV bit %d: backup key accepted: %v", i, err)
		}
		m := *mes
		m.IV[i/8] ^= 1 << (i % 8)
		if _, err := k.DecryptCrossSigningKey(keybackup.SecretCrossSigningMaster, &m, master.pub); !errors.Is(err, keybackup.ErrWrongKey) && !errors.Is(err, keybackup.ErrBadMAC) {
			t.Fatalf("IV bit %d: cross-signing key accepted: %v", i, err)
		}
	}
	// A secret that is not a key of the right size.
	bad, _ := k.Encrypt(keybackup.SecretMegolmBackup, []byte("not base64!"))
	if _, err := k.DecryptBackupKey(bad, bk.PublicKey()); !errors.Is(err, keybackup.ErrBadMAC) {
		t.Fatalf("err = %v", err)
	}
	if _, err := k.EncryptCrossSigningKey(keybackup.SecretCrossSigningMaster, seed[:31]); !errors.Is(err, keybackup.ErrBadFormat) {
		t.Fatalf("short seed: %v", err)
	}
}

// TestSecretCounterWrap: an IV whose low 64 bits are near the end wraps
// like WebCrypto's 64-bit counter, and stays decryptable.
func TestSecretCounterWrap(t *testing.T) {
	k, _ := keybackup.GenerateSecretStorageKey("")
	iv := [16]byte{8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xfe}
	secret := bytes.Repeat([]byte("0123456789abcdef"), 4)
	es, err := k.EncryptSecretWith("x", secret, iv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Decrypt("x", es)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatal("wrapped counter round trip failed")
	}
	// Blocks 0 and 1 use counters ...fe and ...ff; block 2 wraps to the
	// IV with a zero low half, not to a carry into the high half.
	zeroLow := iv
	for i := 8; i < 16; i++ {
		zeroLow[i] = 0
	}
	es2, _ := k.EncryptSecretWith("x", secret[32:], zeroLow)
	if !bytes.Equal(es.Ciphertext[32:], es2.Ciphertext) {
		t.Fatal("counter carried into the high half")
	}
}

func TestParseEncryptedSecretErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          ``,
		"iv short":       `{"iv":"AAAA","ciphertext":"","mac":"` + strings.Repeat("A", 43) + `"}`,
		"mac short":      `{"iv":"` + strings.Repeat("A", 22) + `","ciphertext":"","mac":"AAAA"}`,
		"ciphertext bad": `{"iv":"` + strings.Repeat("A", 22) + `","ciphertext":"*","mac":"` + strings.Repeat("A", 43) + `"}`,
		"iv missing":     `{"ciphertext":"","mac":"` + strings.Repeat("A", 43) + `"}`,
	} {
		if _, err := keybackup.ParseEncryptedSecret([]byte(in)); !errors.Is(err, keybackup.ErrBadFormat) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	for name, in := range map[string]string{
		"not object":   `[]`,
		"bad secret":   `{"encrypted":{"k":{"iv":"AAAA"}}}`,
		"encrypted []": `{"encrypted":[]}`,
	} {
		if _, err := keybackup.ParseSecretContent([]byte(in)); !errors.Is(err, keybackup.ErrBadFormat) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestPBKDF2Cap: counts above 10^6 from input are refused before any work
// (a server could otherwise make each attempt take seconds), and the cap
// is not below what Element writes (SECURITY 48).
func TestPBKDF2Cap(t *testing.T) {
	if keybackup.MaxPBKDF2Iterations != 1_000_000 || keybackup.MaxPBKDF2Iterations < 500_000 || keybackup.MinPBKDF2Iterations > keybackup.MaxPBKDF2Iterations {
		t.Fatalf("MaxPBKDF2Iterations = %d", keybackup.MaxPBKDF2Iterations)
	}
	for _, n := range []int{1_000_001, 2_000_000, 10_000_000} {
		start := time.Now()
		p := keybackup.Passphrase{Algorithm: keybackup.PBKDF2Algorithm, Salt: "s", Iterations: n}
		if _, err := p.DeriveKey("p"); !errors.Is(err, keybackup.ErrIterations) {
			t.Errorf("%d iterations: %v", n, err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("%d iterations: refused after %v", n, d)
		}
	}
}
