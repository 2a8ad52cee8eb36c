package pickle

import (
	"errors"
	"strings"
	"testing"
)

func TestVodozemacPickle(t *testing.T) {
	key := [32]byte{1}
	text := EncryptVodozemac(&key, []byte(`{"a":1}`))
	got, err := DecryptVodozemac(&key, text)
	if err != nil || string(got) != `{"a":1}` {
		t.Fatalf("%q %v", got, err)
	}
	// The same cipher as libolm's pickles: one reads the other.
	if got, err := DecryptLibolm(key[:], text); err != nil || string(got) != `{"a":1}` {
		t.Fatalf("libolm reader: %q %v", got, err)
	}
	wrong := key
	wrong[31] = 9
	tests := []struct {
		name string
		key  *[32]byte
		text string
		want error
	}{
		{"wrong key", &wrong, text, ErrBadKey},
		{"nil key", nil, text, ErrKeySize},
		{"not base64", &key, "a!b", ErrCorrupted},
		{"too short", &key, "AAAA", ErrCorrupted},
		{"not blocks", &key, text[:len(text)-2], ErrCorrupted},
		{"too long", &key, strings.Repeat("A", MaxVodozemacLen+4), ErrCorrupted},
	}
	for _, tc := range tests {
		if _, err := DecryptVodozemac(tc.key, tc.text); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
