package olm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/b64"
	"golang.org/x/crypto/chacha20poly1305"
)

// dehydrationAccount returns a deterministic account with three one-time
// keys and a fallback key.
func dehydrationAccount(t testing.TB) *Account {
	t.Helper()
	a, err := newAccount(bytes.Repeat([]byte{0x11}, 64))
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 3*32)
	for i := range random {
		random[i] = byte(i)
	}
	if err := a.st.generateOneTimeKeys(random); err != nil {
		t.Fatal(err)
	}
	if err := a.st.generateFallbackKey(bytes.Repeat([]byte{0x77}, 32)); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDehydrateRoundTrip(t *testing.T) {
	a := dehydrationAccount(t)
	key := [32]byte{1, 2, 3}
	ct, nonce, err := a.Dehydrate(&key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := RehydrateAccount(ct, nonce, &key)
	if err != nil {
		t.Fatal(err)
	}
	if b.Curve25519Key() != a.Curve25519Key() || b.Ed25519Key() != a.Ed25519Key() {
		t.Fatal("identity keys differ after rehydration")
	}
	if len(b.st.oneTimeKeys) != 3 || len(b.OneTimeKeys()) != 0 {
		t.Fatalf("%d one-time keys, %d unpublished; want 3, 0", len(b.st.oneTimeKeys), len(b.OneTimeKeys()))
	}
	for i := range b.st.oneTimeKeys {
		if b.st.oneTimeKeys[i].key.pub != a.st.oneTimeKeys[i].key.pub || b.st.oneTimeKeys[i].id != KeyID(i) {
			t.Fatalf("one-time key %d differs", i)
		}
	}
	if b.st.numFallback != 1 || b.st.fallback[0].key.pub != a.st.fallback[0].key.pub {
		t.Fatal("fallback key lost")
	}
	// A rehydrated account is dehydratable again: it has the seed.
	if _, _, err := b.Dehydrate(&key); err != nil {
		t.Fatal(err)
	}
}

// TestDehydrateLayout checks the plaintext byte for byte against the layout
// of vodozemac's dehydrated_device::Pickle.
func TestDehydrateLayout(t *testing.T) {
	a := dehydrationAccount(t)
	key := [32]byte{9}
	nonce := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	ct, n, err := a.dehydrate(&key, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if n != b64.Encode(nonce[:]) {
		t.Fatalf("nonce %q", n)
	}
	raw, _ := b64.Decode(ct)
	aead, _ := chacha20poly1305.New(key[:])
	plain, err := aead.Open(nil, nonce[:], raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = binary.BigEndian.AppendUint32(want, 1)
	want = append(want, a.st.identity.priv[:]...)
	want = append(want, bytes.Repeat([]byte{0x11}, 32)...) // the seed
	want = binary.BigEndian.AppendUint32(want, 3)
	for i := range 3 {
		want = append(want, a.st.oneTimeKeys[i].key.priv[:]...)
	}
	want = append(want, 1)
	want = append(want, bytes.Repeat([]byte{0x77}, 32)...)
	if !bytes.Equal(plain, want) {
		t.Fatalf("plaintext\n got %x\nwant %x", plain, want)
	}
}

func TestDehydrateRefusesExpandedKey(t *testing.T) {
	a := dehydrationAccount(t)
	p, err := a.PickleLibolm([]byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	fromLibolm, err := UnpickleLibolmAccount(p, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	key := [32]byte{}
	if _, _, err := fromLibolm.Dehydrate(&key); !errors.Is(err, ErrNotDehydratable) {
		t.Fatalf("Dehydrate of a libolm account: %v, want ErrNotDehydratable", err)
	}
}

func TestRehydrateRefuses(t *testing.T) {
	a := dehydrationAccount(t)
	key := [32]byte{5}
	nonce := [12]byte{}
	seal := func(plain []byte) string {
		aead, _ := chacha20poly1305.New(key[:])
		return b64.Encode(aead.Seal(nil, nonce[:], plain, nil))
	}
	good, _ := a.st.marshalDehydrated()
	goodCT, n, _ := a.dehydrate(&key, nonce)
	wrongKey := [32]byte{6}
	flipped := []byte(goodCT)
	flipped[3] ^= 1
	if flipped[3] == '+' || flipped[3] == '/' {
		flipped[3] = 'A'
	}
	version2 := bytes.Clone(good)
	version2[3] = 2
	badFlag := bytes.Clone(good)
	badFlag[4+32+32+4+3*32] = 2
	tests := []struct {
		name      string
		ct, nonce string
		key       *[32]byte
		want      error
	}{
		{"wrong key", goodCT, n, &wrongKey, ErrBadPickleKey},
		{"changed ciphertext", string(flipped), n, &key, ErrBadPickleKey},
		{"short nonce", goodCT, b64.Encode(nonce[:11]), &key, ErrCorruptedPickle},
		{"bad nonce base64", goodCT, "!!!!", &key, ErrCorruptedPickle},
		{"bad ciphertext base64", "a*b", n, &key, ErrCorruptedPickle},
		{"empty ciphertext", "", n, &key, ErrBadPickleKey},
		{"version 2", seal(version2), n, &key, ErrUnknownPickleVersion},
		{"truncated", seal(good[:len(good)-1]), n, &key, ErrCorruptedPickle},
		{"trailing byte", seal(append(bytes.Clone(good), 0)), n, &key, ErrCorruptedPickle},
		{"fallback flag 2", seal(badFlag), n, &key, ErrCorruptedPickle},
		{"huge count", seal(append(good[:4+64:4+64], 0xff, 0xff, 0xff, 0xff)), n, &key, ErrCorruptedPickle},
		{"empty plaintext", seal(nil), n, &key, ErrCorruptedPickle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := RehydrateAccount(tc.ct, tc.nonce, tc.key); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := RehydrateAccount(goodCT, n, nil); err == nil {
		t.Fatal("nil key accepted")
	}
}

// TestRehydrateKeepsNewestKeys checks that a device holding more than
// MaxOneTimeKeys keeps the newest ones, as Account does.
func TestRehydrateKeepsNewestKeys(t *testing.T) {
	a := dehydrationAccount(t)
	random := make([]byte, 32*MaxOneTimeKeys)
	for i := range random {
		random[i] = byte(i * 7)
	}
	if err := a.st.generateOneTimeKeys(random); err != nil {
		t.Fatal(err)
	}
	body, _ := a.st.marshalDehydrated()
	// Make it MaxOneTimeKeys+3 keys by putting the dropped ones back.
	extra := dehydrationAccount(t)
	var b []byte
	b = append(b, body[:4+64]...)
	b = binary.BigEndian.AppendUint32(b, MaxOneTimeKeys+3)
	for i := range 3 {
		b = append(b, extra.st.oneTimeKeys[i].key.priv[:]...)
	}
	b = append(b, body[4+64+4:]...)
	r, err := unmarshalDehydrated(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.st.oneTimeKeys) != MaxOneTimeKeys || r.st.oneTimeKeys[MaxOneTimeKeys-1].key.pub != a.st.oneTimeKeys[MaxOneTimeKeys-1].key.pub {
		t.Fatalf("%d keys kept", len(r.st.oneTimeKeys))
	}
}
