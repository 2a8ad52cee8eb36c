package megolm

import (
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/internal/vzjson"
)

// Reading vodozemac's own pickles: the JSON that vodozemac's
// GroupSessionPickle and InboundGroupSessionPickle serialize to, encrypted
// with libolm's pickle cipher under a 32-byte key. This is how stores
// written by vodozemac-based clients (matrix-rust-sdk, Element X, Element
// Web) hold Megolm sessions, so these functions are the migration path from
// them to souverain.

// vzInbound is vodozemac's InboundGroupSessionPickle.
type vzInbound struct {
	InitialRatchet     *vzjson.Ratchet `json:"initial_ratchet"`
	SigningKey         *vzjson.Bytes32 `json:"signing_key"`
	SigningKeyVerified *bool           `json:"signing_key_verified"`
	Config             *vzjson.Config  `json:"config"`
}

// vzOutbound is vodozemac's GroupSessionPickle.
type vzOutbound struct {
	Ratchet    *vzjson.Ratchet        `json:"ratchet"`
	SigningKey *vzjson.Ed25519Keypair `json:"signing_key"`
	Config     *vzjson.Config         `json:"config"`
}

func vzConfig(c *vzjson.Config) (SessionConfig, error) {
	n, err := c.Number()
	if err != nil {
		return SessionConfig{}, fmt.Errorf("%w: %v", ErrCorruptedPickle, err)
	}
	if n == 2 {
		return SessionConfigV2(), nil
	}
	return SessionConfigV1(), nil
}

func vzDecode(data []byte, v any) error {
	if len(data) > pickle.MaxVodozemacLen {
		return fmt.Errorf("%w: %d bytes", ErrCorruptedPickle, len(data))
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptedPickle, err)
	}
	return nil
}

// UnpickleVodozemacInboundGroupSession reads an InboundGroupSession that
// vodozemac pickled (InboundGroupSessionPickle::encrypt) under key. Errors
// wrap ErrBadPickleKey (wrong key or changed pickle), ErrCorruptedPickle or
// ErrPickleKeySize.
func UnpickleVodozemacInboundGroupSession(text string, key *[32]byte) (*InboundGroupSession, error) {
	plain, err := pickle.DecryptVodozemac(key, text)
	if err != nil {
		return nil, fmt.Errorf("megolm: unpickle vodozemac inbound group session: %w", err)
	}
	defer clear(plain)
	return ParseVodozemacInboundGroupSession(plain)
}

// ParseVodozemacInboundGroupSession reads the JSON of vodozemac's
// InboundGroupSessionPickle, unencrypted, as matrix-rust-sdk stores it in
// the "pickle" field of its PickledInboundGroupSession (inside the store's
// own encryption). The session starts at its initial ratchet; the signing
// key's verified flag is kept. Errors wrap ErrCorruptedPickle.
func ParseVodozemacInboundGroupSession(data []byte) (*InboundGroupSession, error) {
	var p vzInbound
	if err := vzDecode(data, &p); err != nil {
		return nil, fmt.Errorf("megolm: vodozemac inbound group session: %w", err)
	}
	if p.InitialRatchet != nil && p.InitialRatchet.Inner != nil {
		defer clear(p.InitialRatchet.Inner[:])
	}
	if p.InitialRatchet == nil || p.InitialRatchet.Inner == nil || p.InitialRatchet.Counter == nil ||
		p.SigningKey == nil || p.SigningKeyVerified == nil {
		return nil, fmt.Errorf("megolm: vodozemac inbound group session: missing field: %w", ErrCorruptedPickle)
	}
	config, err := vzConfig(p.Config)
	if err != nil {
		return nil, fmt.Errorf("megolm: vodozemac inbound group session: %w", err)
	}
	var r ratchet
	r.setBytes(p.InitialRatchet.Inner[:])
	r.counter = *p.InitialRatchet.Counter
	// vodozemac's pickle records whether the signing key was checked, not
	// where the key came from: the provenance is ProvenanceUnknown, as for
	// libolm's pickles.
	return &InboundGroupSession{st: &inboundState{d: inboundData{
		config:           config,
		initial:          r,
		latest:           r,
		signingKey:       *p.SigningKey,
		signatureChecked: *p.SigningKeyVerified,
	}}}, nil
}

// UnpickleVodozemacGroupSession reads an outbound GroupSession that
// vodozemac pickled (GroupSessionPickle::encrypt) under key. Errors wrap
// ErrBadPickleKey, ErrCorruptedPickle or ErrPickleKeySize.
func UnpickleVodozemacGroupSession(text string, key *[32]byte) (*GroupSession, error) {
	plain, err := pickle.DecryptVodozemac(key, text)
	if err != nil {
		return nil, fmt.Errorf("megolm: unpickle vodozemac group session: %w", err)
	}
	defer clear(plain)
	return ParseVodozemacGroupSession(plain)
}

// ParseVodozemacGroupSession reads the JSON of vodozemac's
// GroupSessionPickle, unencrypted. The signing key may be a seed
// ({"Normal": …}) or an expanded key from libolm ({"Expanded": …}).
// Errors wrap ErrCorruptedPickle.
func ParseVodozemacGroupSession(data []byte) (*GroupSession, error) {
	var p vzOutbound
	if err := vzDecode(data, &p); err != nil {
		return nil, fmt.Errorf("megolm: vodozemac group session: %w", err)
	}
	if p.SigningKey != nil {
		defer p.SigningKey.Clear()
	}
	if p.Ratchet != nil && p.Ratchet.Inner != nil {
		defer clear(p.Ratchet.Inner[:])
	}
	if p.Ratchet == nil || p.Ratchet.Inner == nil || p.Ratchet.Counter == nil || p.SigningKey == nil {
		return nil, fmt.Errorf("megolm: vodozemac group session: missing field: %w", ErrCorruptedPickle)
	}
	config, err := vzConfig(p.Config)
	if err != nil {
		return nil, fmt.Errorf("megolm: vodozemac group session: %w", err)
	}
	signing, err := vzSigningKey(p.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("megolm: vodozemac group session: %w", err)
	}
	st := &groupState{config: config, signing: signing}
	st.ratchet.setBytes(p.Ratchet.Inner[:])
	st.ratchet.counter = *p.Ratchet.Counter
	return &GroupSession{st: st}, nil
}

// vzSigningKey builds the signing key of an Ed25519KeypairPickle.
func vzSigningKey(k *vzjson.Ed25519Keypair) (*ed25519.PrivateKey, error) {
	key, err := k.PrivateKey()
	if err != nil {
		return nil, fmt.Errorf("signing key: %w: %v", ErrCorruptedPickle, err)
	}
	return key, nil
}
