package vectors

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/canonicaljson"
)

// Native returns this library's own implementation of Impl: internal/b64
// for base64, internal/canonicaljson for canonical JSON, and crypto/ed25519
// over canonical JSON for signing.
func Native() Impl { return native{} }

type native struct{}

func (native) UnpaddedBase64Encode(src []byte) string { return b64.Encode(src) }

func (native) UnpaddedBase64Decode(s string) ([]byte, error) { return b64.Decode(s) }

func (native) CanonicalJSON(jsonText []byte) ([]byte, error) {
	return canonicaljson.Canonicalize(jsonText)
}

// SignJSON follows the Matrix appendix "Signing JSON".
func (native) SignJSON(seed []byte, entity, keyID string, jsonText []byte) ([]byte, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("vectors: sign JSON: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	// Canonicalize first: it refuses duplicate keys, floats and bad UTF-8,
	// which encoding/json would let through.
	canon, err := canonicaljson.Canonicalize(jsonText)
	if err != nil {
		return nil, fmt.Errorf("vectors: sign JSON: %w", err)
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errors.New("vectors: sign JSON: input is not a JSON object")
	}

	sigs := map[string]any{}
	if s, ok := obj["signatures"]; ok {
		if sigs, ok = s.(map[string]any); !ok {
			return nil, errors.New("vectors: sign JSON: \"signatures\" is not an object")
		}
	}
	unsigned, hasUnsigned := obj["unsigned"]
	delete(obj, "signatures")
	delete(obj, "unsigned")

	payload, err := canonicaljson.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("vectors: sign JSON: %w", err)
	}
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(seed), payload)

	entitySigs := map[string]any{}
	if s, ok := sigs[entity]; ok {
		if entitySigs, ok = s.(map[string]any); !ok {
			return nil, fmt.Errorf("vectors: sign JSON: signatures of %q are not an object", entity)
		}
	}
	entitySigs[keyID] = b64.Encode(sig)
	sigs[entity] = entitySigs
	obj["signatures"] = sigs
	if hasUnsigned {
		obj["unsigned"] = unsigned
	}
	return canonicaljson.Marshal(obj)
}
