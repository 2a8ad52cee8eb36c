package pickle

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/b64"
)

// TestOpenLibolm checks OpenLibolm against DecryptLibolm on bodies below
// and above the size of the kept buffers, and that the body it hands over
// is wiped once f returns.
func TestOpenLibolm(t *testing.T) {
	key := []byte("pickle key")
	for _, n := range []int{0, 1, 15, 16, 100, 3692, maxPooled - 20, maxPooled + 100} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i%251 + 1)
		}
		text := EncryptLibolm(key, body)
		want, err := DecryptLibolm(key, text)
		if err != nil || !bytes.Equal(want, body) {
			t.Fatalf("n=%d: DecryptLibolm = %x, %v", n, want, err)
		}
		for range 2 { // the second time from a kept buffer
			var seen []byte
			err := OpenLibolm(key, text, func(b []byte) error {
				if !bytes.Equal(b, body) {
					t.Fatalf("n=%d: OpenLibolm gave %x", n, b)
				}
				seen = b
				return nil
			})
			if err != nil {
				t.Fatalf("n=%d: OpenLibolm: %v", n, err)
			}
			if !bytes.Equal(seen, make([]byte, n)) {
				t.Fatalf("n=%d: body not wiped after f returned", n)
			}
		}
	}
}

func TestOpenLibolmErrors(t *testing.T) {
	key := []byte("pickle key")
	text := EncryptLibolm(key, []byte("a libolm pickle body"))
	errF := errors.New("from f")
	raw, _ := b64.Decode(text)
	raw[0] ^= 1
	for _, tt := range []struct {
		name string
		key  []byte
		text string
		f    error
		want error
	}{
		{"wrong key", []byte("other key"), text, nil, ErrBadKey},
		{"changed ciphertext", key, b64.Encode(raw), nil, ErrBadKey},
		{"not base64", key, text[:10] + "!" + text[11:], nil, ErrCorrupted},
		{"bad length", key, text[:len(text)-4], nil, ErrCorrupted},
		{"empty", key, "", nil, ErrCorrupted},
		{"too long", key, strings.Repeat("A", MaxLen+4), nil, ErrCorrupted},
		{"error from f", key, text, errF, errF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := OpenLibolm(tt.key, tt.text, func([]byte) error { called = true; return tt.f })
			if !errors.Is(err, tt.want) {
				t.Fatalf("OpenLibolm: %v, want %v", err, tt.want)
			}
			if called != (tt.f != nil) {
				t.Fatalf("f called: %v", called)
			}
			if _, err := DecryptLibolm(tt.key, tt.text); tt.f == nil && !errors.Is(err, tt.want) {
				t.Fatalf("DecryptLibolm: %v, want %v", err, tt.want)
			}
		})
	}
	// Every failure left the kept buffers zeroed.
	for range 4 {
		bp, _ := buffers.Get().(*[]byte)
		if bp == nil {
			break
		}
		if b := (*bp)[:cap(*bp)]; !bytes.Equal(b, make([]byte, len(b))) {
			t.Fatal("a kept buffer is not zeroed")
		}
	}
}

func TestOpenLibolmDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under the race detector")
	}
	key := []byte("pickle key")
	text := EncryptLibolm(key, make([]byte, 3692))
	f := func([]byte) error { return nil }
	OpenLibolm(key, text, f)
	if n := testing.AllocsPerRun(20, func() { OpenLibolm(key, text, f) }); n > 1 {
		// The AES key schedule is the one allocation.
		t.Errorf("OpenLibolm made %v allocations, want at most 1", n)
	}
}

// TestOpen checks Open against Decrypt as TestOpenLibolm does for the libolm
// format.
func TestOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	for _, n := range []int{0, 1, 16, 3700, maxPooled - 40, maxPooled + 100} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i%251 + 1)
		}
		text, err := Encrypt(key, "kind", body)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Decrypt(key, "kind", text)
		if err != nil || !bytes.Equal(want, body) {
			t.Fatalf("n=%d: Decrypt = %x, %v", n, want, err)
		}
		for range 2 {
			var seen []byte
			err := Open(key, "kind", text, func(b []byte) error {
				if !bytes.Equal(b, body) {
					t.Fatalf("n=%d: Open gave %x", n, b)
				}
				seen = b
				return nil
			})
			if err != nil {
				t.Fatalf("n=%d: Open: %v", n, err)
			}
			if !bytes.Equal(seen, make([]byte, n)) {
				t.Fatalf("n=%d: body not wiped after f returned", n)
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	text, _ := Encrypt(key, "kind", []byte("a pickle body"))
	raw, _ := b64.Decode(text)
	raw[20] ^= 1
	v2, _ := b64.Decode(text)
	v2[0] = 2
	errF := errors.New("from f")
	for _, tt := range []struct {
		name, kind, text string
		key              []byte
		f, want          error
	}{
		{"wrong key", "kind", text, bytes.Repeat([]byte{8}, KeySize), nil, ErrBadKey},
		{"other kind", "other", text, key, nil, ErrBadKey},
		{"changed ciphertext", "kind", b64.Encode(raw), key, nil, ErrBadKey},
		{"short key", "kind", text, key[:31], nil, ErrKeySize},
		{"version 2", "kind", b64.Encode(v2), key, nil, ErrVersion},
		{"not base64", "kind", text[:10] + "!" + text[11:], key, nil, ErrCorrupted},
		{"too short", "kind", text[:20], key, nil, ErrCorrupted},
		{"too long", "kind", strings.Repeat("A", MaxLen+4), key, nil, ErrCorrupted},
		{"error from f", "kind", text, key, errF, errF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := Open(tt.key, tt.kind, tt.text, func([]byte) error { called = true; return tt.f })
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			if called != (tt.f != nil) {
				t.Fatalf("f called: %v", called)
			}
			if _, err := Decrypt(tt.key, tt.kind, tt.text); tt.f == nil && !errors.Is(err, tt.want) {
				t.Fatalf("Decrypt: %v, want %v", err, tt.want)
			}
		})
	}
	for range 4 {
		bp, _ := buffers.Get().(*[]byte)
		if bp == nil {
			break
		}
		if b := (*bp)[:cap(*bp)]; !bytes.Equal(b, make([]byte, len(b))) {
			t.Fatal("a kept buffer is not zeroed")
		}
	}
}
