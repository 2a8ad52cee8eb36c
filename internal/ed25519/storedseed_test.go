package ed25519

import (
	"bytes"
	"errors"
	"testing"
)

func TestNewKeyFromStoredSeed(t *testing.T) {
	seed := bytes.Repeat([]byte{9}, SeedSize)
	k, err := NewKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	exp, pub := k.Expanded(), k.Public()
	got, err := NewKeyFromStoredSeed(seed, exp[:], pub[:])
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := got.Seed(); !ok || !bytes.Equal(s[:], seed) {
		t.Error("the seed was not kept")
	}
	if got.Sign([]byte("m")) != k.Sign([]byte("m")) || got.Public() != pub {
		t.Error("the key differs")
	}
	other := bytes.Repeat([]byte{8}, SeedSize)
	for _, tc := range []struct {
		name           string
		seed, exp, pub []byte
	}{
		{"seed of another key", other, exp[:], pub[:]},
		{"short seed", seed[:31], exp[:], pub[:]},
		{"short expanded key", seed, exp[:63], pub[:]},
		{"short public key", seed, exp[:], pub[:31]},
	} {
		if _, err := NewKeyFromStoredSeed(tc.seed, tc.exp, tc.pub); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
