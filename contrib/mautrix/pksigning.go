package mautrix

import (
	"crypto/rand"
	"encoding/json"
	"fmt"

	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/internal/ed25519"
)

// PKSigningSeedSize is the size in bytes of a PKSigning seed.
const PKSigningSeedSize = ed25519.SeedSize

// PKSigning is an Ed25519 key pair made from a 32-byte seed, as the
// cross-signing keys are: mautrix-go's olm.PKSigning. The seed and key are
// secret. A PKSigning is safe for concurrent use.
type PKSigning struct {
	seed [PKSigningSeedSize]byte
	key  *ed25519.PrivateKey
}

var _ olm.PKSigning = (*PKSigning)(nil)

// NewPKSigning creates a key pair from a seed read from crypto/rand.
func NewPKSigning() (*PKSigning, error) {
	var seed [PKSigningSeedSize]byte
	rand.Read(seed[:])
	defer clear(seed[:])
	return NewPKSigningFromSeed(seed[:])
}

// NewPKSigningFromSeed creates the key pair of a 32-byte seed, the same as
// libolm's olm_pk_signing_key_from_seed. A shorter seed gives an error
// wrapping olm.ErrInputToSmall, as in libolm, and a longer one an error
// wrapping olm.ErrBadInput. The seed is copied.
func NewPKSigningFromSeed(seed []byte) (*PKSigning, error) {
	switch {
	case len(seed) < PKSigningSeedSize:
		return nil, fmt.Errorf("souverain: signing seed of %d bytes: %w", len(seed), olm.ErrInputToSmall)
	case len(seed) > PKSigningSeedSize:
		return nil, fmt.Errorf("souverain: signing seed of %d bytes: %w", len(seed), olm.ErrBadInput)
	}
	key, err := ed25519.NewKeyFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("souverain: signing seed: %w: %w", olm.ErrBadInput, err)
	}
	p := &PKSigning{key: key}
	copy(p.seed[:], seed)
	return p, nil
}

// Seed returns a copy of the seed.
func (p *PKSigning) Seed() []byte { return append([]byte(nil), p.seed[:]...) }

// PublicKey returns the public key in unpadded base64.
func (p *PKSigning) PublicKey() id.Ed25519 {
	pub := p.key.Public()
	return id.Ed25519(b64.Encode(pub[:]))
}

// Sign signs message and returns the signature in unpadded base64.
func (p *PKSigning) Sign(message []byte) ([]byte, error) {
	sig := p.key.Sign(message)
	return []byte(b64.Encode(sig[:])), nil
}

// SignJSON signs the canonical JSON of obj without its top-level "unsigned"
// and "signatures" fields, as the Matrix specification's "Signing JSON"
// says, and returns the signature in unpadded base64. Canonical JSON has
// only integers: a value holding a fraction gives an error.
func (p *PKSigning) SignJSON(obj any) (string, error) {
	payload, err := signingPayload(obj)
	if err != nil {
		return "", fmt.Errorf("souverain: sign JSON: %w", err)
	}
	sig, err := p.Sign(payload)
	return string(sig), err
}

// signingPayload returns the canonical JSON of obj, and for an object
// without its "unsigned" and "signatures" members.
func signingPayload(obj any) ([]byte, error) {
	canonical, err := canonicaljson.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if len(canonical) == 0 || canonical[0] != '{' || json.Unmarshal(canonical, &members) != nil {
		return canonical, nil
	}
	_, hasUnsigned := members["unsigned"]
	_, hasSignatures := members["signatures"]
	if !hasUnsigned && !hasSignatures {
		return canonical, nil
	}
	delete(members, "unsigned")
	delete(members, "signatures")
	rest := make(map[string]any, len(members))
	for k, v := range members {
		rest[k] = v
	}
	return canonicaljson.Marshal(rest)
}
