package ed25519

import (
	"bytes"
	"testing"
)

func TestSeed(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, SeedSize)
	k, err := NewKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := k.Seed()
	if !ok || !bytes.Equal(got[:], seed) {
		t.Fatalf("Seed() = %x, %v; want %x, true", got, ok, seed)
	}
	exp, pub := k.Expanded(), k.Public()
	k2, err := NewKeyFromExpanded(exp[:], pub[:])
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := k2.Seed(); ok || got != [SeedSize]byte{} {
		t.Fatalf("key from expanded: Seed() = %x, %v; want zero, false", got, ok)
	}
}
