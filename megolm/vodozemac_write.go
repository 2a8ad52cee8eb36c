package megolm

import (
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/internal/vzjson"
)

// Writing vodozemac's pickles, for a store that goes back to a
// vodozemac-based client. Reading them is the migration path; this is its
// reverse.

type vzRatchetOut struct {
	Inner   vzjson.Bytes `json:"inner"`
	Counter uint32       `json:"counter"`
}

// MarshalVodozemac returns the session as the JSON of vodozemac's
// InboundGroupSessionPickle, as matrix-rust-sdk stores it: the ratchet at
// the first known index, the signing key, whether it is verified, and the
// configuration. The result is secret.
func (s *InboundGroupSession) MarshalVodozemac() ([]byte, error) {
	st, err := s.lock("vodozemac inbound group session")
	if err != nil {
		return nil, err
	}
	d := st.d
	st.mu.Unlock()
	defer d.initial.clear()
	defer d.latest.clear()
	b := d.initial.bytes()
	defer clear(b[:])
	out, err := json.Marshal(struct {
		InitialRatchet     vzRatchetOut  `json:"initial_ratchet"`
		SigningKey         vzjson.Bytes  `json:"signing_key"`
		SigningKeyVerified bool          `json:"signing_key_verified"`
		Config             vzjson.Config `json:"config"`
	}{vzRatchetOut{b[:], d.initial.counter}, d.signingKey[:], d.signatureChecked, vzjson.ConfigFor(d.config.Version())})
	if err != nil {
		return nil, fmt.Errorf("megolm: vodozemac inbound group session: %w", err)
	}
	return out, nil
}

// PickleVodozemac encrypts MarshalVodozemac's JSON under key as vodozemac's
// InboundGroupSessionPickle::encrypt does.
func (s *InboundGroupSession) PickleVodozemac(key *[32]byte) (string, error) {
	if key == nil {
		return "", fmt.Errorf("megolm: pickle vodozemac inbound group session: %w", ErrPickleKeySize)
	}
	j, err := s.MarshalVodozemac()
	if err != nil {
		return "", err
	}
	defer clear(j)
	return pickle.EncryptVodozemac(key, j), nil
}

// MarshalVodozemac returns the session as the JSON of vodozemac's
// GroupSessionPickle: the ratchet, the signing key (its seed, or the
// expanded key of a session from libolm) and the configuration. The result
// is secret.
func (s *GroupSession) MarshalVodozemac() ([]byte, error) {
	st, err := s.lock("vodozemac group session")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	b := st.ratchet.bytes()
	defer clear(b[:])
	kp := vzjson.KeypairFor(st.signing)
	defer func() {
		for _, v := range kp {
			clear(v)
		}
	}()
	out, err := json.Marshal(struct {
		Ratchet    vzRatchetOut            `json:"ratchet"`
		SigningKey map[string]vzjson.Bytes `json:"signing_key"`
		Config     vzjson.Config           `json:"config"`
	}{vzRatchetOut{b[:], st.ratchet.counter}, kp, vzjson.ConfigFor(st.config.Version())})
	if err != nil {
		return nil, fmt.Errorf("megolm: vodozemac group session: %w", err)
	}
	return out, nil
}

// PickleVodozemac encrypts MarshalVodozemac's JSON under key as vodozemac's
// GroupSessionPickle::encrypt does.
func (s *GroupSession) PickleVodozemac(key *[32]byte) (string, error) {
	if key == nil {
		return "", fmt.Errorf("megolm: pickle vodozemac group session: %w", ErrPickleKeySize)
	}
	j, err := s.MarshalVodozemac()
	if err != nil {
		return "", err
	}
	defer clear(j)
	return pickle.EncryptVodozemac(key, j), nil
}
