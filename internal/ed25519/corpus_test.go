package ed25519_test

import (
	"bytes"
	"crypto/sha512"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/edwards25519"
	"github.com/stretchr/testify/require"

	"github.com/souverain/e2ee/internal/ed25519"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz/FuzzVerify from the cases below")

// TestWriteFuzzCorpus regenerates the FuzzVerify seed corpus when run with
//
//	go test -run TestWriteFuzzCorpus -write-corpus
//
// and otherwise checks that the checked-in files are up to date.
func TestWriteFuzzCorpus(t *testing.T) {
	k, err := ed25519.NewKeyFromSeed(mustB64(t, matrixSeed))
	require.NoError(t, err)
	pub := k.Public()
	exp := k.Expanded()
	msg := []byte(`{"one":1,"two":"Two"}`)
	sig := k.Sign(msg)

	identity := mustHex(t, smallOrder[0].hex)
	identityForgery := make([]byte, 64)
	identityForgery[0] = 1

	// A signature with R = identity and S = k·a, which the cofactorless
	// equation accepts.
	a, err := new(edwards25519.Scalar).SetBytesWithClamping(exp[:32])
	require.NoError(t, err)
	h := sha512.New()
	h.Write(identity)
	h.Write(pub[:])
	h.Write(msg)
	c, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	require.NoError(t, err)
	identityR := append(bytes.Clone(identity), new(edwards25519.Scalar).Multiply(c, a).Bytes()...)

	sPlusL := sig
	s := leToInt(sig[32:])
	copy(sPlusL[32:], intToLE(s.Add(s, groupOrder)))

	flipped := sig
	flipped[5] ^= 0x10

	cases := []struct {
		name          string
		pub, msg, sig []byte
	}{
		{"rfc8032_test1", mustHex(t, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), nil,
			mustHex(t, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")},
		{"matrix_valid", pub[:], msg, sig[:]},
		{"identity_key_forgery", identity, msg, identityForgery},
		{"identity_r", pub[:], msg, identityR},
		{"s_plus_l", pub[:], msg, sPlusL[:]},
		{"flipped_bit", pub[:], msg, flipped[:]},
		{"noncanonical_identity_key", mustHex(t, smallOrder[12].hex), msg, identityForgery},
		{"order8_key", mustHex(t, smallOrder[4].hex), msg, sig[:]},
		{"short_signature", pub[:], msg, sig[:63]},
		{"short_key", pub[:31], msg, sig[:]},
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if *writeCorpus {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for _, c := range cases {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n[]byte(%q)\n", c.pub, c.msg, c.sig)
		path := filepath.Join(dir, c.name)
		if *writeCorpus {
			require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run with -write-corpus")
		if string(got) != content {
			t.Errorf("%s is out of date; run with -write-corpus", path)
		}
	}
}
