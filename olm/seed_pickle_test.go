package olm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/pickle"
)

// TestOwnPickleKeepsSeed: an account read back from souverain's own pickle
// keeps its Ed25519 seed, so that it can still be dehydrated (and written
// in vodozemac's formats with a seed); an account from libolm, which has
// none, still has none after the round trip; an own pickle written before
// the seed was stored (body version 0x536f0001) still opens, without a
// seed; a stored seed that is not the stored key's is refused.
func TestOwnPickleKeepsSeed(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	var dk [DehydrationKeySize]byte
	a, err := NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	a.GenerateOneTimeKeys(3)
	a.GenerateFallbackKey()
	b := a
	for range 2 {
		p, err := b.Pickle(key)
		if err != nil {
			t.Fatal(err)
		}
		if b, err = UnpickleAccount(p, key); err != nil {
			t.Fatal(err)
		}
	}
	seedA, okA := a.st.signing.Seed()
	seedB, okB := b.st.signing.Seed()
	if !okB || !okA || seedA != seedB {
		t.Fatal("the seed was lost in the own pickle")
	}
	if b.Ed25519Key() != a.Ed25519Key() || b.Sign([]byte("m")) != a.Sign([]byte("m")) {
		t.Fatal("identity or signature differs")
	}
	if _, _, err := b.Dehydrate(&dk); err != nil {
		t.Fatalf("an account read from its own pickle cannot be dehydrated: %v", err)
	}

	// From libolm: no seed before or after.
	lp, _ := a.PickleLibolm(key)
	fromLibolm, err := UnpickleLibolmAccount(lp, key)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := fromLibolm.Pickle(key)
	c, err := UnpickleAccount(p, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.st.signing.Seed(); ok {
		t.Fatal("a seed appeared")
	}
	if _, _, err := c.Dehydrate(&dk); !errors.Is(err, ErrNotDehydratable) {
		t.Fatalf("libolm account dehydrated: %v", err)
	}
	if c.Sign([]byte("m")) != a.Sign([]byte("m")) {
		t.Fatal("libolm account signs differently")
	}

	// The previous own version: the same body without the seed.
	body := a.st.marshal(MaxOneTimeKeys, true)
	if v := binary.BigEndian.Uint32(body); v != ownAccountVersion {
		t.Fatalf("own version %#x", v)
	}
	old := append([]byte(nil), body[:len(body)-1-32]...)
	binary.BigEndian.PutUint32(old, ownAccountVersionNoSeed)
	text, _ := pickle.Encrypt(key, kindAccount, old)
	d, err := UnpickleAccount(text, key)
	if err != nil {
		t.Fatalf("own pickle of the previous version: %v", err)
	}
	if _, ok := d.st.signing.Seed(); ok || d.Sign([]byte("m")) != a.Sign([]byte("m")) || len(d.OneTimeKeys()) != 3 {
		t.Fatal("own pickle of the previous version read wrong")
	}

	// A seed that is not the key's, and a bad seed flag.
	bad := append([]byte(nil), body...)
	bad[len(bad)-1] ^= 1
	if _, err := unmarshalAccount(bad, true); !errors.Is(err, ErrCorruptedPickle) {
		t.Errorf("other seed: %v", err)
	}
	bad = append([]byte(nil), body...)
	bad[len(bad)-33] = 2
	if _, err := unmarshalAccount(bad, true); !errors.Is(err, ErrCorruptedPickle) {
		t.Errorf("seed flag 2: %v", err)
	}
	if _, err := unmarshalAccount(body[:len(body)-1], true); !errors.Is(err, ErrCorruptedPickle) {
		t.Errorf("truncated seed: %v", err)
	}
}
