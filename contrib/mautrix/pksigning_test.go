package mautrix_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/id"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

func TestPKSigning(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	p, err := souverain.NewPKSigningFromSeed(seed)
	require.NoError(t, err)
	want := ed25519.NewKeyFromSeed(seed)

	assert.Equal(t, base64.RawStdEncoding.EncodeToString(want.Public().(ed25519.PublicKey)), string(p.PublicKey()))
	assert.Equal(t, seed, p.Seed())
	p.Seed()[0] = 0
	seed[1] = 0
	assert.Equal(t, bytes.Repeat([]byte{7}, 32), p.Seed(), "the seed is copied both ways")

	for _, msg := range []string{"", "hello", "{}"} {
		sig, err := p.Sign([]byte(msg))
		require.NoError(t, err)
		assert.Equal(t, base64.RawStdEncoding.EncodeToString(ed25519.Sign(want, []byte(msg))), string(sig))
	}

	r, err := souverain.NewPKSigning()
	require.NoError(t, err)
	r2, err := souverain.NewPKSigningFromSeed(r.Seed())
	require.NoError(t, err)
	assert.Equal(t, r.PublicKey(), r2.PublicKey())
	other, err := souverain.NewPKSigning()
	require.NoError(t, err)
	assert.NotEqual(t, r.PublicKey(), other.PublicKey())

	_, err = souverain.NewPKSigningFromSeed(make([]byte, 31))
	assert.ErrorIs(t, err, olm.ErrInputToSmall)
	_, err = souverain.NewPKSigningFromSeed(make([]byte, 33))
	assert.ErrorIs(t, err, olm.ErrBadInput)
	_, err = souverain.NewPKSigningFromSeed(nil)
	assert.ErrorIs(t, err, olm.ErrInputToSmall)
}

// SignJSON signs what mautrix-go's signature checks verify: the canonical
// JSON without "unsigned" and "signatures".
func TestPKSigningSignJSON(t *testing.T) {
	p, err := souverain.NewPKSigning()
	require.NoError(t, err)
	key := mautrix.CrossSigningKeys{
		UserID: "@alice:example.org",
		Usage:  []id.CrossSigningUsage{id.XSUsageMaster},
		Keys:   map[id.KeyID]id.Ed25519{id.NewKeyID(id.KeyAlgorithmEd25519, p.PublicKey().String()): p.PublicKey()},
		Signatures: signatures.Signatures{
			"@other:example.org": {"ed25519:X": "c2lnbmF0dXJl"},
		},
	}
	sig, err := p.SignJSON(key)
	require.NoError(t, err)
	key.Signatures["@alice:example.org"] = map[id.KeyID]string{id.NewKeyID(id.KeyAlgorithmEd25519, p.PublicKey().String()): sig}
	ok, err := signatures.VerifySignatureJSON(key, "@alice:example.org", p.PublicKey().String(), p.PublicKey())
	require.NoError(t, err)
	assert.True(t, ok)

	// Unsigned members and characters encoding/json escapes.
	obj := map[string]any{
		"a":        "<&> \u2028 é",
		"n":        12,
		"unsigned": map[string]any{"age": 5},
	}
	sig, err = p.SignJSON(obj)
	require.NoError(t, err)
	raw, err := base64.RawStdEncoding.DecodeString(sig)
	require.NoError(t, err)
	pub, err := base64.RawStdEncoding.DecodeString(string(p.PublicKey()))
	require.NoError(t, err)
	assert.True(t, ed25519.Verify(pub, []byte(`{"a":"<&> `+"\u2028"+` é","n":12}`), raw))

	// Values that are not objects are signed as they are.
	sig, err = p.SignJSON([]int{1, 2})
	require.NoError(t, err)
	raw, err = base64.RawStdEncoding.DecodeString(sig)
	require.NoError(t, err)
	assert.True(t, ed25519.Verify(pub, []byte(`[1,2]`), raw))

	_, err = p.SignJSON(map[string]any{"f": 1.5})
	assert.Error(t, err, "canonical JSON has no fractions")
}
