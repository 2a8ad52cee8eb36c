package vectors

import (
	"crypto/ed25519"
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/signedjson"
)

// Native returns this library's own implementation of Impl. Each operation
// goes through the library's public API (olm, megolm, sas, keybackup,
// signedjson) or, for primitives that have none, the internal package the
// library uses (internal/b64, internal/canonicaljson, internal/cipher,
// internal/x25519). nativeOps in native_ops.go lists the operations.
func Native() Impl { return native{} }

type native struct {
	deterministic bool // see DeterministicNative
}

func (native) UnpaddedBase64Encode(src []byte) string { return b64.Encode(src) }

func (native) UnpaddedBase64Decode(s string) ([]byte, error) { return b64.Decode(s) }

func (native) CanonicalJSON(jsonText []byte) ([]byte, error) {
	return canonicaljson.Canonicalize(jsonText)
}

// SignJSON follows the Matrix appendix "Signing JSON", through the
// library's signedjson package.
func (native) SignJSON(seed []byte, entity, keyID string, jsonText []byte) ([]byte, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("vectors: sign JSON: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return signedjson.Sign(jsonText, entity, keyID, ed25519.NewKeyFromSeed(seed))
}
