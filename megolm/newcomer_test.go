package megolm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// TestSigningKeyType: the signing key is a typed key whose base64 is the
// session ID, the same on both sides, and converts to olm's key type.
func TestSigningKeyType(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	if in.SigningKey() != out.SigningKey() || in.SigningKey().String() != in.SessionID() || out.SigningKey().String() != out.SessionID() {
		t.Fatal("signing key and session ID differ")
	}
	k := olm.Ed25519PublicKey(in.SigningKey())
	if k.String() != in.SessionID() || string(k.Bytes()) != string(in.SigningKey().Bytes()) {
		t.Fatal("conversion to olm.Ed25519PublicKey")
	}
}

func TestAlgorithmName(t *testing.T) {
	if megolm.Algorithm != "m.megolm.v1.aes-sha2" || keybackup.MegolmAlgorithm != megolm.Algorithm {
		t.Fatal(megolm.Algorithm, keybackup.MegolmAlgorithm)
	}
}

// TestPickleFormatHints opens each pickle with every other reader: the
// error keeps its sentinel and names the format and kind the input looks
// like, and the function that reads it.
func TestPickleFormatHints(t *testing.T) {
	out := newSession(t)
	in := inbound(t, out)
	ownOut, _ := out.Pickle(testKey)
	ownIn, _ := in.Pickle(testKey)
	libOut, _ := out.PickleLibolm(testKey)
	libIn, _ := in.PickleLibolm(testKey)
	readers := map[string]func(string) error{
		"UnpickleGroupSession":              func(p string) error { _, err := megolm.UnpickleGroupSession(p, testKey); return err },
		"UnpickleInboundGroupSession":       func(p string) error { _, err := megolm.UnpickleInboundGroupSession(p, testKey); return err },
		"UnpickleLibolmGroupSession":        func(p string) error { _, err := megolm.UnpickleLibolmGroupSession(p, testKey); return err },
		"UnpickleLibolmInboundGroupSession": func(p string) error { _, err := megolm.UnpickleLibolmInboundGroupSession(p, testKey); return err },
	}
	pickles := map[string]struct{ text, looks string }{
		"UnpickleGroupSession":              {ownOut, "a GroupSession pickle in souverain's format"},
		"UnpickleInboundGroupSession":       {ownIn, "an InboundGroupSession pickle in souverain's format"},
		"UnpickleLibolmGroupSession":        {libOut, "a GroupSession pickle in libolm's format"},
		"UnpickleLibolmInboundGroupSession": {libIn, "an InboundGroupSession pickle in libolm's format"},
	}
	for right, p := range pickles {
		for name, read := range readers {
			err := read(p.text)
			if name == right {
				if err != nil {
					t.Errorf("%s of its own pickle: %v", name, err)
				}
				continue
			}
			if !errors.Is(err, megolm.ErrBadPickleKey) && !errors.Is(err, megolm.ErrCorruptedPickle) && !errors.Is(err, megolm.ErrUnknownPickleVersion) {
				t.Errorf("%s of %s: no sentinel: %v", name, right, err)
			}
			if err == nil || !strings.Contains(err.Error(), "looks like "+p.looks+": read it with "+right) {
				t.Errorf("%s of the pickle %s reads: %v", name, right, err)
			}
		}
	}
	// Something else gets no guess.
	for _, text := range []string{"", "AAAA"} {
		if _, err := megolm.UnpickleLibolmGroupSession(text, testKey); err == nil || strings.Contains(err.Error(), "looks like") {
			t.Errorf("garbage: %v", err)
		}
	}
}
