package keybackup_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/souverain/e2ee/keybackup"
)

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// Recovery keys and key descriptions from mautrix-go v0.32.0,
// crypto/ssss/meta_test.go (real keys made by Element).
const (
	mautrixKey1ID       = "gEJqbfSEMnP5JXXcukpXEX1l0aI3MDs0"
	mautrixKey1Recovery = "EsTE s92N EtaX s2h6 VQYF 9Kao tHYL mkyL GKMh isZb KJ4E tvoC"
	mautrixKey1Pass     = "correct horse battery staple"
	mautrixKey1Meta     = `{
  "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
  "passphrase": {
    "algorithm": "m.pbkdf2",
    "iterations": 500000,
    "salt": "y863BOoqOadgDp8S3FtHXikDJEalsQ7d"
  },
  "iv": "xxkTK0L4UzxgAFkQ6XPwsw",
  "mac": "MEhooO0ZhFJNxUhvRMSxBnJfL20wkLgle3ocY0ee/eA"
}`
	mautrixKey2ID       = "NVe5vK6lZS9gEMQLJw0yqkzmE5Mr7dLv"
	mautrixKey2Recovery = "EsUC xSxt XJgQ dz19 8WBZ rHdE GZo7 ybsn EFmG Y5HY MDAG GNWe"
	mautrixKey2Meta     = `{
  "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
  "iv": "O0BOvTqiIAYjC+RMcyHfWw==",
  "mac": "7k6OruQlWg0UmQjxGZ0ad4Q6DdwkgnoI7G6X3IjBYtI="
}`
)

func randomKey(t testing.TB) []byte {
	k := make([]byte, keybackup.KeySize)
	rand.Read(k)
	return k
}

func TestRecoveryKeyMautrixExamples(t *testing.T) {
	for _, rk := range []string{mautrixKey1Recovery, mautrixKey2Recovery} {
		t.Run(rk[:4], func(t *testing.T) {
			key, err := keybackup.DecodeRecoveryKeyUnchecked(rk)
			if err != nil {
				t.Fatal(err)
			}
			again, err := keybackup.EncodeRecoveryKey(key)
			if err != nil {
				t.Fatal(err)
			}
			if again != rk {
				t.Fatalf("re-encoded %q, want %q", again, rk)
			}
		})
	}
}

func TestRecoveryKeyRoundTrip(t *testing.T) {
	keys := [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xff}, 32)}
	for range 200 {
		keys = append(keys, randomKey(t))
	}
	for _, key := range keys {
		rk, err := keybackup.EncodeRecoveryKey(key)
		if err != nil {
			t.Fatal(err)
		}
		groups := strings.Split(rk, " ")
		if len(groups) != 12 {
			t.Fatalf("%q: %d groups, want 12", rk, len(groups))
		}
		for _, g := range groups {
			if len(g) != 4 {
				t.Fatalf("%q: group %q", rk, g)
			}
		}
		got, err := keybackup.DecodeRecoveryKeyUnchecked(rk)
		if err != nil {
			t.Fatalf("%q: %v", rk, err)
		}
		if !bytes.Equal(got, key) {
			t.Fatalf("%q decoded to %x, want %x", rk, got, key)
		}
	}
}

func TestRecoveryKeyWhitespace(t *testing.T) {
	want, _ := keybackup.DecodeRecoveryKeyUnchecked(mautrixKey1Recovery)
	compact := strings.ReplaceAll(mautrixKey1Recovery, " ", "")
	for name, in := range map[string]string{
		"compact":      compact,
		"newlines":     strings.ReplaceAll(mautrixKey1Recovery, " ", "\n"),
		"crlf":         strings.ReplaceAll(mautrixKey1Recovery, " ", "\r\n"),
		"tabs":         strings.ReplaceAll(mautrixKey1Recovery, " ", "\t"),
		"double":       strings.ReplaceAll(mautrixKey1Recovery, " ", "  "),
		"surrounding":  "  \n" + mautrixKey1Recovery + " \n",
		"odd grouping": compact[:5] + " " + compact[5:17] + "\v" + compact[17:] + "\f",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := keybackup.DecodeRecoveryKeyUnchecked(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("different key")
			}
		})
	}
}

// encodeRaw encodes 35 arbitrary bytes as base58, to build keys with a bad
// prefix or parity.
func encodeRaw(raw []byte) string { return keybackup.Base58Encode(raw) }

func rawRecovery(key []byte, p0, p1 byte, fixParity bool, parityDelta byte) []byte {
	raw := append([]byte{p0, p1}, key...)
	var x byte
	for _, b := range raw {
		x ^= b
	}
	if fixParity {
		return append(raw, x^parityDelta)
	}
	return append(raw, parityDelta)
}

func TestRecoveryKeyErrors(t *testing.T) {
	good := strings.ReplaceAll(mautrixKey1Recovery, " ", "")
	key, _ := keybackup.DecodeRecoveryKeyUnchecked(good)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", keybackup.ErrRecoveryKeyLength},
		{"only spaces", "    \n ", keybackup.ErrRecoveryKeyLength},
		{"47 chars", good[:47], keybackup.ErrRecoveryKeyLength},
		{"49 chars", good + "1", keybackup.ErrRecoveryKeyLength},
		{"doubled", good + good, keybackup.ErrRecoveryKeyLength},
		{"huge", strings.Repeat("E", 1<<20), keybackup.ErrRecoveryKeyLength},
		{"zero", "0" + good[1:], keybackup.ErrRecoveryKeyCharacter},
		{"capital O", good[:10] + "O" + good[11:], keybackup.ErrRecoveryKeyCharacter},
		{"capital I", good[:47] + "I", keybackup.ErrRecoveryKeyCharacter},
		{"small l", good[:20] + "l" + good[21:], keybackup.ErrRecoveryKeyCharacter},
		{"plus", good[:30] + "+" + good[31:], keybackup.ErrRecoveryKeyCharacter},
		{"non-ASCII", good[:46] + "é", keybackup.ErrRecoveryKeyCharacter}, // 2 bytes
		{"NUL", good[:47] + "\x00", keybackup.ErrRecoveryKeyCharacter},
		{"leading 1s", "1" + good[:47], keybackup.ErrRecoveryKeyLength},
		{"too big", strings.Repeat("z", 48), keybackup.ErrRecoveryKeyLength},
		{"wrong prefix", encodeRaw(rawRecovery(key, 0x8B, 0x02, true, 0)), keybackup.ErrRecoveryKeyPrefix},
		{"wrong prefix 2", encodeRaw(rawRecovery(key, 0x8C, 0x01, true, 0)), keybackup.ErrRecoveryKeyPrefix},
		{"bad parity", encodeRaw(rawRecovery(key, 0x8B, 0x01, true, 1)), keybackup.ErrRecoveryKeyParity},
		{"parity 0x80", encodeRaw(rawRecovery(key, 0x8B, 0x01, true, 0x80)), keybackup.ErrRecoveryKeyParity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keybackup.DecodeRecoveryKeyUnchecked(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeRecoveryKeyUnchecked = %x, %v; want %v", got, err, tt.want)
			}
			if !errors.Is(err, keybackup.ErrBadFormat) {
				t.Fatalf("%v does not wrap ErrBadFormat", err)
			}
			if got != nil {
				t.Fatal("key returned with error")
			}
		})
	}
	// The position of a bad character is reported, the character not.
	_, err := keybackup.DecodeRecoveryKeyUnchecked("EsTE s92N EtaX s2h6 VQYF 9Kao tHYL mkyL GKMh isZb KJ4E tvo0")
	if err == nil || !strings.Contains(err.Error(), "character 48") {
		t.Fatalf("error %v should name character 48", err)
	}
}

func TestEncodeRecoveryKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := keybackup.EncodeRecoveryKey(make([]byte, n)); !errors.Is(err, keybackup.ErrBadFormat) {
			t.Errorf("%d bytes: err = %v", n, err)
		}
	}
}

// singleCharEdits returns every string that differs from s (compact base58)
// by one substituted character, one deleted character, one inserted
// character or two swapped neighbours.
func singleCharEdits(s string) []string {
	var out []string
	for i := range len(s) {
		for _, c := range []byte(base58Alphabet + "0OIl+/") {
			if c != s[i] {
				out = append(out, s[:i]+string(c)+s[i+1:])
			}
		}
		out = append(out, s[:i]+s[i+1:])
		if i+1 < len(s) && s[i] != s[i+1] {
			out = append(out, s[:i]+string(s[i+1])+string(s[i])+s[i+2:])
		}
	}
	for i := 0; i <= len(s); i++ {
		out = append(out, s[:i]+"2"+s[i:])
	}
	return out
}

// TestRecoveryKeySingleCharacterChange checks that every single-character
// change to a recovery key is caught. The format's own checks (length,
// alphabet, prefix, parity) catch nearly all; the parity byte is an XOR and
// a substitution that changes several bytes can slip through it, so the
// rest are caught by checking the key against its key description, as
// KeyDescription.UnlockWithRecoveryKey does.
func TestRecoveryKeySingleCharacterChange(t *testing.T) {
	cases := []struct{ recovery, meta string }{
		{mautrixKey1Recovery, mautrixKey1Meta},
		{mautrixKey2Recovery, mautrixKey2Meta},
	}
	for range 3 {
		k, _ := keybackup.GenerateSecretStorageKey("test")
		d, _ := k.Description().MarshalJSON()
		cases = append(cases, struct{ recovery, meta string }{k.RecoveryKey(), string(d)})
	}
	var total, byFormat int
	for _, c := range cases {
		desc, err := keybackup.ParseKeyDescription([]byte(c.meta))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := desc.UnlockWithRecoveryKey("id", c.recovery); err != nil {
			t.Fatalf("original key refused: %v", err)
		}
		for _, edit := range singleCharEdits(strings.ReplaceAll(c.recovery, " ", "")) {
			total++
			_, err := keybackup.DecodeRecoveryKeyUnchecked(edit)
			if err != nil {
				byFormat++
				if !errors.Is(err, keybackup.ErrBadFormat) {
					t.Fatalf("%q: %v", edit, err)
				}
			}
			if _, err := desc.UnlockWithRecoveryKey("id", edit); err == nil {
				t.Fatalf("edited key %q accepted", edit)
			} else if !errors.Is(err, keybackup.ErrBadFormat) && !errors.Is(err, keybackup.ErrWrongKey) {
				t.Fatalf("%q: unexpected error %v", edit, err)
			}
		}
	}
	t.Logf("%d single-character edits: %d caught by the format checks, %d more by the key check", total, byFormat, total-byFormat)
}

// TestBase58Reference compares the codec with a math/big reference for
// random inputs with and without leading zeros.
func TestBase58Reference(t *testing.T) {
	ref := func(b []byte) string {
		n := new(big.Int).SetBytes(b)
		var out []byte
		r := new(big.Int)
		base := big.NewInt(58)
		for n.Sign() > 0 {
			n.DivMod(n, base, r)
			out = append(out, base58Alphabet[r.Int64()])
		}
		for _, c := range b {
			if c != 0 {
				break
			}
			out = append(out, '1')
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return string(out)
	}
	inputs := [][]byte{{}, {0}, {0, 0}, {0, 1}, {57}, {58}, {0xff}, {0, 0, 0xff, 0xff}}
	for range 300 {
		n := make([]byte, 1)
		rand.Read(n)
		b := make([]byte, int(n[0])%64)
		rand.Read(b)
		if len(b) > 0 && n[0]&1 == 1 {
			b[0] = 0
		}
		inputs = append(inputs, b)
	}
	for _, b := range inputs {
		want := ref(b)
		if got := keybackup.Base58Encode(b); got != want {
			t.Fatalf("encode %x = %q, want %q", b, got, want)
		}
		got, _, ok := keybackup.Base58Decode([]byte(want))
		if !ok || !bytes.Equal(got, b) {
			t.Fatalf("decode %q = %x, %v; want %x", want, got, ok, b)
		}
	}
	for i := range 256 {
		c := byte(i)
		_, at, ok := keybackup.Base58Decode([]byte{'2', c})
		if want := strings.IndexByte(base58Alphabet, c) >= 0; ok != want || (!ok && at != 1) {
			t.Errorf("character %q: ok = %v at %d, want %v", c, ok, at, want)
		}
	}
}

// TestRecoveryKeyTypoChecked: single-character typos that pass the
// recovery key's parity check (about 0.3%) are refused by the default path,
// BackupKeyFromRecoveryKey, which checks the key against the backup's
// public key (SECURITY 50).
func TestRecoveryKeyTypoChecked(t *testing.T) {
	passed := 0
	for i := 0; passed < 3 && i < 20; i++ {
		k, _ := keybackup.GenerateBackupKey()
		for _, edit := range singleCharEdits(strings.ReplaceAll(k.RecoveryKey(), " ", "")) {
			if _, err := keybackup.DecodeRecoveryKeyUnchecked(edit); err != nil {
				continue
			}
			passed++
			if _, err := keybackup.BackupKeyFromRecoveryKey(edit, k.PublicKey()); !errors.Is(err, keybackup.ErrWrongKey) {
				t.Fatalf("typo %q: %v, want ErrWrongKey", edit, err)
			}
		}
	}
	if passed == 0 {
		t.Fatal("no typo passed the parity check: the test proves nothing")
	}
}
