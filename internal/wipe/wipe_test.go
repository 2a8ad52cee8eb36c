package wipe

import "testing"

func TestBytes(t *testing.T) {
	b := []byte{1, 2, 3}
	Bytes(b)
	var a32 [32]byte
	a32[7] = 9
	Array32(&a32)
	var a64 [64]byte
	a64[63] = 9
	Array64(&a64)
	if b[0]|b[1]|b[2] != 0 || a32 != [32]byte{} || a64 != [64]byte{} {
		t.Fatal("not cleared")
	}
	ran := false
	Do(func() { ran = true })
	if !ran {
		t.Fatal("Do did not call f")
	}
}
