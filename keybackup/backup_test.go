package keybackup_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// pkVector is a vector of testdata/libolm-pk.json.
type pkVector struct {
	ID     string `json:"id"`
	Inputs struct {
		RecipientPrivateHex string `json:"recipient_private_hex"`
		EphemeralPrivateHex string `json:"ephemeral_private_hex"`
		PlaintextUTF8       string `json:"plaintext_utf8"`
	} `json:"inputs"`
	Expected struct {
		RecipientPublicKey string `json:"recipient_public_key"`
		Ephemeral          string `json:"ephemeral"`
		Ciphertext         string `json:"ciphertext"`
		MAC                string `json:"mac"`
	} `json:"expected"`
}

func loadPKVectors(t *testing.T) []pkVector {
	data, err := os.ReadFile("testdata/libolm-pk.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []pkVector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return f.Vectors
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLibolmPKVectors checks that encryption with libolm's inputs gives
// libolm's exact output, and that the output decrypts.
func TestLibolmPKVectors(t *testing.T) {
	for _, v := range loadPKVectors(t) {
		t.Run(v.ID, func(t *testing.T) {
			k, err := keybackup.NewBackupKey(mustHex(t, v.Inputs.RecipientPrivateHex))
			if err != nil {
				t.Fatal(err)
			}
			if got := k.PublicKey().String(); got != v.Expected.RecipientPublicKey {
				t.Fatalf("public key %s, want %s", got, v.Expected.RecipientPublicKey)
			}
			d, err := keybackup.EncryptFromRandom(k.PublicKey(), []byte(v.Inputs.PlaintextUTF8), mustHex(t, v.Inputs.EphemeralPrivateHex))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := d.MarshalJSON()
			want, _ := json.Marshal(map[string]string{"ciphertext": v.Expected.Ciphertext, "ephemeral": v.Expected.Ephemeral, "mac": v.Expected.MAC})
			if !bytes.Equal(got, want) {
				t.Fatalf("session data\n got %s\nwant %s", got, want)
			}
			parsed, err := keybackup.ParseSessionData(want)
			if err != nil {
				t.Fatal(err)
			}
			pt, err := k.Decrypt(parsed)
			if err != nil {
				t.Fatal(err)
			}
			if string(pt) != v.Inputs.PlaintextUTF8 {
				t.Fatalf("plaintext %q", pt)
			}
		})
	}
}

func TestBackupRoundTrip(t *testing.T) {
	k, err := keybackup.GenerateBackupKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 1000, 4096} {
		pt := make([]byte, n)
		rand.Read(pt)
		d, err := k.PublicKey().Encrypt(pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Ciphertext) != n+16-n%16 {
			t.Fatalf("%d bytes: ciphertext of %d", n, len(d.Ciphertext))
		}
		text, _ := d.MarshalJSON()
		if bytes.ContainsRune(text, '=') {
			t.Fatalf("padded base64 in %s", text)
		}
		back, err := keybackup.ParseSessionData(text)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, back); diff != "" {
			t.Fatal(diff)
		}
		got, err := k.Decrypt(back)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: plaintext differs", n)
		}
	}
}

// wireJSON writes s as another client might, without MarshalPlaintext's
// checks and normalization (a nil list stays null): for tests that need
// such input.
func wireJSON(s *keybackup.BackedUpSession) []byte {
	b, err := json.Marshal(struct {
		Algorithm                    string            `json:"algorithm"`
		ForwardingCurve25519KeyChain []string          `json:"forwarding_curve25519_key_chain"`
		SenderClaimedKeys            map[string]string `json:"sender_claimed_keys"`
		SenderKey                    string            `json:"sender_key"`
		SessionKey                   string            `json:"session_key"`
		SharedHistory                bool              `json:"shared_history,omitempty"`
	}{s.Algorithm, s.ForwardingCurve25519KeyChain, s.SenderClaimedKeys, senderText(s.SenderKey), s.SessionKey, s.SharedHistory})
	if err != nil {
		panic(err)
	}
	return b
}

// senderText is the wire form of a sender key, "" for the zero key (a
// session without one).
func senderText(k olm.Curve25519PublicKey) string {
	if k == (olm.Curve25519PublicKey{}) {
		return ""
	}
	return k.String()
}

func testSession() *keybackup.BackedUpSession {
	return &keybackup.BackedUpSession{
		Algorithm:         keybackup.MegolmAlgorithm,
		SenderKey:         testSenderKey,
		SenderClaimedKeys: map[string]string{"ed25519": "SSdt6PT0W2BGpeSCdT2gNrIxOuBwMSTtPFFLDaIX3EI"},
		SessionKey:        "AQAAAABvWMNZjKFtebYIePKieQguozuoLgzeY6wKcyJjLJcJuR8xuHIdBEWOwuFLjDBnUlfhyIgUmvAvdJxsuX8BmAJ1o3cZ0y+2kUFdS7ZcLGQZFWpxp/vz3RU5NrRrW0/HZyqrp3/9OFspv63Vp9D8HD5HNBGxWzEJi6Yw5N2uR4KxTN82MLO3nVcFdUfq0+FS+2azcrvsWB1DVn6L+CgUOCZtxxDeLX/xCpbyi3AWaFv95dwy6kPpfNN7rkdAR0vn1u1d4uUHLX8iAIjp7Ht5uEIaSMBW1c9YDpaXQPSQZIIP7VvGv1aH8/+wovCt3LfMg3wBUyKpASWyYIaMl9Q0AS3fY6IEfg4zrIN5NCSXd/r2JDkvrT+KDNRCkUsi2wvA",
	}
}

func TestDecryptSession(t *testing.T) {
	k, _ := keybackup.GenerateBackupKey()
	s := testSession()
	d, err := k.PublicKey().EncryptSession(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.DecryptSession(d)
	if err != nil {
		t.Fatal(err)
	}
	want := *s
	want.ForwardingCurve25519KeyChain = []string{}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Fatal(diff)
	}
	// The JSON carries every field other clients require, with empty lists
	// rather than null.
	pt, _ := k.Decrypt(d)
	for _, field := range []string{`"algorithm":`, `"forwarding_curve25519_key_chain":[]`, `"sender_claimed_keys":{`, `"sender_key":`, `"session_key":`} {
		if !strings.Contains(string(pt), field) {
			t.Errorf("plaintext lacks %s: %s", field, pt)
		}
	}
}

func TestEncryptSessionIncomplete(t *testing.T) {
	k, _ := keybackup.GenerateBackupKey()
	for name, edit := range map[string]func(*keybackup.BackedUpSession){
		"no session key": func(s *keybackup.BackedUpSession) { s.SessionKey = "" },
		"no sender key":  func(s *keybackup.BackedUpSession) { s.SenderKey = olm.Curve25519PublicKey{} },
		"olm algorithm":  func(s *keybackup.BackedUpSession) { s.Algorithm = "m.olm.v1.curve25519-aes-sha2" },
	} {
		t.Run(name, func(t *testing.T) {
			s := testSession()
			edit(s)
			if _, err := k.PublicKey().EncryptSession(s); err == nil {
				t.Fatal("incomplete session encrypted")
			}
			// And such a session, written by someone else, is refused on
			// decryption with the one decryption error.
			d, _ := k.PublicKey().Encrypt(wireJSON(s))
			_, err := k.DecryptSession(d)
			if !errors.Is(err, keybackup.ErrBadMAC) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestDecryptMustFail flips every bit of the MAC and the ephemeral key and
// every byte of the ciphertext, and decrypts with wrong keys.
func TestDecryptMustFail(t *testing.T) {
	k, _ := keybackup.GenerateBackupKey()
	pt := []byte(`{"algorithm":"m.megolm.v1.aes-sha2","sender_key":"x","session_key":"y","sender_claimed_keys":{},"forwarding_curve25519_key_chain":[]}`)
	d, _ := k.PublicKey().Encrypt(pt)
	_, wantErr := k.Decrypt(&keybackup.SessionData{Ephemeral: d.Ephemeral, Ciphertext: d.Ciphertext})

	t.Run("mac", func(t *testing.T) {
		for i := range len(d.MAC) * 8 {
			e := *d
			e.MAC[i/8] ^= 1 << (i % 8)
			if _, err := k.Decrypt(&e); err != wantErr {
				t.Fatalf("bit %d: err = %v", i, err)
			}
		}
	})
	t.Run("ephemeral", func(t *testing.T) {
		for i := range len(d.Ephemeral) * 8 {
			e := *d
			e.Ephemeral[i/8] ^= 1 << (i % 8)
			if _, err := k.Decrypt(&e); err != wantErr {
				t.Fatalf("bit %d: err = %v", i, err)
			}
		}
	})
	t.Run("ciphertext", func(t *testing.T) {
		// The v1 MAC does not cover the ciphertext (BackupAlgorithm): a
		// changed ciphertext is caught by the padding or the JSON, or
		// decrypts to something else, never to the original.
		caught := 0
		for i := range d.Ciphertext {
			e := *d
			e.Ciphertext = bytes.Clone(d.Ciphertext)
			e.Ciphertext[i] ^= 0x55
			got, err := k.Decrypt(&e)
			if err == nil && bytes.Equal(got, pt) {
				t.Fatalf("byte %d: changed ciphertext gave the plaintext", i)
			}
			if _, err := k.DecryptSession(&e); err != nil {
				if err != wantErr {
					t.Fatalf("byte %d: err = %v", i, err)
				}
				caught++
			}
		}
		t.Logf("%d of %d changed bytes caught by padding or JSON", caught, len(d.Ciphertext))
	})
	t.Run("wrong key", func(t *testing.T) {
		for range 20 {
			other, _ := keybackup.GenerateBackupKey()
			if _, err := other.Decrypt(d); err != wantErr {
				t.Fatalf("err = %v", err)
			}
			if _, err := other.DecryptSession(d); err != wantErr {
				t.Fatalf("err = %v", err)
			}
			if err := other.Matches(k.PublicKey()); !errors.Is(err, keybackup.ErrWrongKey) {
				t.Fatalf("Matches = %v", err)
			}
		}
		if err := k.Matches(k.PublicKey()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestUniformDecryptError checks that every kind of decryption failure
// gives the very same error value.
func TestUniformDecryptError(t *testing.T) {
	k, _ := keybackup.GenerateBackupKey()
	other, _ := keybackup.GenerateBackupKey()

	good, _ := k.PublicKey().Encrypt(bytes.Repeat([]byte("a"), 40))
	badMAC := *good
	badMAC.MAC[0] ^= 1

	// Bad padding under a valid MAC: change the last byte of the
	// second-to-last block, which changes the padding byte.
	badPad := *good
	badPad.Ciphertext = bytes.Clone(good.Ciphertext)
	badPad.Ciphertext[len(badPad.Ciphertext)-17] ^= 0x20

	notJSON, _ := k.PublicKey().Encrypt([]byte("not JSON"))
	lowOrder := *good
	lowOrder.Ephemeral = [32]byte{} // the zero point: all-zero shared secret
	nonCanonical := *good
	nonCanonical.Ephemeral[31] |= 0x80

	var errs []error
	for name, f := range map[string]func() error{
		"bad MAC":       func() error { _, err := k.DecryptSession(&badMAC); return err },
		"bad padding":   func() error { _, err := k.DecryptSession(&badPad); return err },
		"bad JSON":      func() error { _, err := k.DecryptSession(notJSON); return err },
		"wrong key":     func() error { _, err := other.DecryptSession(good); return err },
		"low order":     func() error { _, err := k.DecryptSession(&lowOrder); return err },
		"non-canonical": func() error { _, err := k.DecryptSession(&nonCanonical); return err },
	} {
		err := f()
		if !errors.Is(err, keybackup.ErrBadMAC) {
			t.Fatalf("%s: err = %v", name, err)
		}
		errs = append(errs, err)
	}
	for _, err := range errs[1:] {
		if err != errs[0] {
			t.Fatalf("errors differ: %v and %v", err, errs[0])
		}
	}
}

func TestParseSessionDataErrors(t *testing.T) {
	k, _ := keybackup.GenerateBackupKey()
	d, _ := k.PublicKey().Encrypt([]byte("x"))
	good, _ := d.MarshalJSON()
	var m map[string]string
	json.Unmarshal(good, &m)
	with := func(field, value string) []byte {
		c := map[string]string{}
		for k, v := range m {
			c[k] = v
		}
		if value == "-" {
			delete(c, field)
		} else {
			c[field] = value
		}
		b, _ := json.Marshal(c)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, keybackup.ErrBadFormat},
		{"array", []byte(`[]`), keybackup.ErrBadFormat},
		{"number field", []byte(`{"ciphertext":1}`), keybackup.ErrBadFormat},
		{"no ephemeral", with("ephemeral", "-"), keybackup.ErrBadFormat},
		{"short ephemeral", with("ephemeral", m["ephemeral"][:40]), keybackup.ErrBadFormat},
		{"long ephemeral", with("ephemeral", m["ephemeral"]+"AAAA"), keybackup.ErrBadFormat},
		{"no mac", with("mac", "-"), keybackup.ErrBadFormat},
		{"long mac", with("mac", m["mac"]+"A"), keybackup.ErrBadFormat},
		{"mac not base64", with("mac", "!!!!!!!!!!!"), keybackup.ErrBadFormat},
		{"no ciphertext", with("ciphertext", "-"), keybackup.ErrBadFormat},
		{"empty ciphertext", with("ciphertext", ""), keybackup.ErrBadFormat},
		{"ciphertext not block multiple", with("ciphertext", m["ciphertext"]+"AAAA"), keybackup.ErrBadFormat},
		{"ciphertext url-safe", with("ciphertext", strings.NewReplacer("+", "-", "/", "_").Replace(m["ciphertext"])+"-_-_"), keybackup.ErrBadFormat},
		{"too large", append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), keybackup.MaxSessionDataSize)...), `"}`...), keybackup.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := keybackup.ParseSessionData(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// Padded base64 and unknown fields are accepted.
	padded := with("ephemeral", m["ephemeral"]+"=")
	padded = bytes.Replace(padded, []byte(`{`), []byte(`{"mac2":"future",`), 1)
	if _, err := keybackup.ParseSessionData(padded); err != nil {
		t.Fatal(err)
	}
}

// TestDecryptMalformedSessionData checks hand-built SessionData values.
func TestDecryptMalformedSessionData(t *testing.T) {
	k, _ := keybackup.GenerateBackupKey()
	for _, n := range []int{0, 1, 15, 17, keybackup.MaxSessionDataSize + 16} {
		_, err := k.Decrypt(&keybackup.SessionData{Ciphertext: make([]byte, n)})
		if !errors.Is(err, keybackup.ErrBadFormat) {
			t.Errorf("%d bytes: err = %v", n, err)
		}
	}
	k.Close()
	if _, err := k.Decrypt(&keybackup.SessionData{Ciphertext: make([]byte, 16)}); err == nil {
		t.Fatal("closed key decrypted")
	}
}

func TestEncryptToLowOrderKey(t *testing.T) {
	for _, pub := range []keybackup.BackupPublicKey{{}, {1}} {
		_, err := pub.Encrypt([]byte("x"))
		if !errors.Is(err, keybackup.ErrBadPublicKey) {
			t.Errorf("%x: err = %v", pub, err)
		}
	}
	if _, err := (keybackup.BackupPublicKey{9}).Encrypt(make([]byte, keybackup.MaxSessionDataSize)); !errors.Is(err, keybackup.ErrTooLarge) {
		t.Errorf("huge plaintext: err = %v", err)
	}
}

func TestBackupKeyEncodings(t *testing.T) {
	k, _ := keybackup.GenerateBackupKey()
	fromB64, err := keybackup.ParseBackupKey(k.Encode())
	if err != nil {
		t.Fatal(err)
	}
	fromRecovery, err := keybackup.BackupKeyFromRecoveryKey(k.RecoveryKey(), k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, _ := keybackup.NewBackupKey(k.Bytes())
	for _, o := range []*keybackup.BackupKey{fromB64, fromRecovery, fromBytes} {
		if o.PublicKey() != k.PublicKey() || !bytes.Equal(o.Bytes(), k.Bytes()) {
			t.Fatal("different key")
		}
	}
	// Padded base64, as some clients store it.
	if _, err := keybackup.ParseBackupKey(k.Encode() + "="); err != nil {
		t.Fatal(err)
	}
	pub, err := keybackup.ParseBackupPublicKey(k.PublicKey().String())
	if err != nil || pub != k.PublicKey() {
		t.Fatal("public key round trip", err)
	}
	for _, bad := range []string{"", "AAAA", k.Encode()[:40], k.Encode() + "AAAA", "****"} {
		if _, err := keybackup.ParseBackupKey(bad); !errors.Is(err, keybackup.ErrBadFormat) {
			t.Errorf("ParseBackupKey(%q) = %v", bad, err)
		}
		if _, err := keybackup.ParseBackupPublicKey(bad); !errors.Is(err, keybackup.ErrBadPublicKey) {
			t.Errorf("ParseBackupPublicKey(%q) = %v", bad, err)
		}
	}
	if _, err := keybackup.BackupKeyFromRecoveryKey("nope", k.PublicKey()); !errors.Is(err, keybackup.ErrRecoveryKeyLength) {
		t.Fatal(err)
	}
}

// TestWrongRecoveryKey: a well-formed recovery key of another backup is
// refused by BackupKeyFromRecoveryKey, and unchecked by Matches before
// use; it decrypts nothing.
func TestWrongRecoveryKey(t *testing.T) {
	k, _ := keybackup.GenerateBackupKey()
	d, _ := k.PublicKey().EncryptSession(testSession())
	other, _ := keybackup.GenerateBackupKey()
	if _, err := keybackup.BackupKeyFromRecoveryKey(other.RecoveryKey(), k.PublicKey()); !errors.Is(err, keybackup.ErrWrongKey) {
		t.Fatalf("BackupKeyFromRecoveryKey(other) = %v", err)
	}
	typed, err := keybackup.BackupKeyFromRecoveryKeyUnchecked(other.RecoveryKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := typed.Matches(k.PublicKey()); !errors.Is(err, keybackup.ErrWrongKey) {
		t.Fatalf("Matches = %v", err)
	}
	if _, err := typed.DecryptSession(d); !errors.Is(err, keybackup.ErrBadMAC) {
		t.Fatalf("DecryptSession = %v", err)
	}
	right, _ := keybackup.BackupKeyFromRecoveryKey("  "+k.RecoveryKey()+"\n", k.PublicKey())
	if err := right.Matches(k.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := right.DecryptSession(d); err != nil {
		t.Fatal(err)
	}
}
