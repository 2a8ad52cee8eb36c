package olm

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/internal/vzjson"
)

// Writing vodozemac's pickles, for a store that goes back to a
// vodozemac-based client. Reading them is the migration path; this is its
// reverse.

type vzFallbackOut struct {
	KeyID     uint64       `json:"key_id"`
	Key       vzjson.Bytes `json:"key"`
	Published bool         `json:"published"`
}

// MarshalVodozemac returns the account as the JSON of vodozemac's
// AccountPickle, as matrix-rust-sdk stores it: the Ed25519 key (its seed,
// or the expanded key of an account from libolm), the Curve25519 identity
// key, every one-time key (with the public halves of the unpublished ones)
// and the fallback keys, with their key IDs. The result is secret.
func (a *Account) MarshalVodozemac() ([]byte, error) {
	st, err := a.lock("vodozemac account")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	if err := st.checkKeys(); err != nil {
		return nil, err
	}
	return st.marshalVodozemac()
}

func (a *account) marshalVodozemac() ([]byte, error) {
	var secrets []vzjson.Bytes
	keep := func(b []byte) vzjson.Bytes {
		c := vzjson.Bytes(append([]byte(nil), b...))
		secrets = append(secrets, c)
		return c
	}
	defer func() {
		for _, s := range secrets {
			clear(s)
		}
	}()
	signing := vzjson.KeypairFor(a.signing)
	for _, v := range signing {
		secrets = append(secrets, v)
	}
	public := map[string]vzjson.Bytes{}
	private := map[string]vzjson.Bytes{}
	for _, k := range a.oneTimeKeys {
		id := strconv.FormatUint(uint64(k.id), 10)
		private[id] = keep(k.key.priv[:])
		if !k.published {
			public[id] = vzjson.Bytes(k.key.pub[:])
		}
	}
	fallback := func(i int) *vzFallbackOut {
		if i >= a.numFallback {
			return nil
		}
		f := &a.fallback[i]
		return &vzFallbackOut{KeyID: uint64(f.id), Key: keep(f.key.priv[:]), Published: f.published}
	}
	next := uint64(a.nextKeyID) + 1
	type otks struct {
		NextKeyID   uint64                  `json:"next_key_id"`
		PublicKeys  map[string]vzjson.Bytes `json:"public_keys"`
		PrivateKeys map[string]vzjson.Bytes `json:"private_keys"`
	}
	type fallbacks struct {
		KeyID               uint64         `json:"key_id"`
		FallbackKey         *vzFallbackOut `json:"fallback_key"`
		PreviousFallbackKey *vzFallbackOut `json:"previous_fallback_key"`
	}
	out, err := json.Marshal(struct {
		SigningKey       map[string]vzjson.Bytes `json:"signing_key"`
		DiffieHellmanKey vzjson.Bytes            `json:"diffie_hellman_key"`
		OneTimeKeys      otks                    `json:"one_time_keys"`
		FallbackKeys     fallbacks               `json:"fallback_keys"`
	}{signing, keep(a.identity.priv[:]), otks{next, public, private}, fallbacks{next, fallback(0), fallback(1)}})
	if err != nil {
		return nil, fmt.Errorf("olm: vodozemac account: %w", err)
	}
	return out, nil
}

// PickleVodozemac encrypts MarshalVodozemac's JSON under key as vodozemac's
// AccountPickle::encrypt does.
func (a *Account) PickleVodozemac(key *[32]byte) (string, error) {
	if key == nil {
		return "", fmt.Errorf("olm: pickle vodozemac account: %w", ErrPickleKeySize)
	}
	j, err := a.MarshalVodozemac()
	if err != nil {
		return "", err
	}
	defer clear(j)
	return pickle.EncryptVodozemac(key, j), nil
}

type vzChainKeyOut struct {
	Key   vzjson.Bytes `json:"key"`
	Index uint32       `json:"index"`
}

// MarshalVodozemac returns the session as the JSON of vodozemac's
// SessionPickle. vodozemac keeps skipped message keys inside their
// receiving chains, so a skipped key whose chain this session has already
// dropped is not written. The result is secret.
func (s *Session) MarshalVodozemac() ([]byte, error) {
	st, err := s.lock("vodozemac session")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	return st.marshalVodozemac()
}

func (s *session) marshalVodozemac() ([]byte, error) {
	var secrets []vzjson.Bytes
	keep := func(b []byte) vzjson.Bytes {
		c := vzjson.Bytes(append([]byte(nil), b...))
		secrets = append(secrets, c)
		return c
	}
	defer func() {
		for _, b := range secrets {
			clear(b)
		}
	}()
	type receiver struct {
		RatchetKey         vzjson.Bytes  `json:"ratchet_key"`
		HKDFRatchet        vzChainKeyOut `json:"hkdf_ratchet"`
		SkippedMessageKeys struct {
			Inner []vzChainKeyOut `json:"inner"`
		} `json:"skipped_message_keys"`
	}
	chains := make([]receiver, 0, len(s.receivers))
	for i := len(s.receivers) - 1; i >= 0; i-- { // oldest first
		c := &s.receivers[i]
		r := receiver{RatchetKey: vzjson.Bytes(c.ratchetKey[:]), HKDFRatchet: vzChainKeyOut{keep(c.chain.key[:]), c.chain.index}}
		r.SkippedMessageKeys.Inner = []vzChainKeyOut{}
		for j := len(s.skipped) - 1; j >= 0; j-- { // oldest first
			if k := &s.skipped[j]; k.ratchetKey == c.ratchetKey {
				r.SkippedMessageKeys.Inner = append(r.SkippedMessageKeys.Inner, vzChainKeyOut{keep(k.key[:]), k.index})
			}
		}
		chains = append(chains, r)
	}
	var ratchet any
	switch {
	case s.sender != nil:
		ratchet = struct {
			Type          string `json:"type"`
			ActiveRatchet struct {
				RootKey    vzjson.Bytes `json:"root_key"`
				RatchetKey vzjson.Bytes `json:"ratchet_key"`
			} `json:"active_ratchet"`
			SymmetricKeyRatchet vzChainKeyOut `json:"symmetric_key_ratchet"`
		}{Type: "active", ActiveRatchet: struct {
			RootKey    vzjson.Bytes `json:"root_key"`
			RatchetKey vzjson.Bytes `json:"ratchet_key"`
		}{keep(s.rootKey[:]), keep(s.sender.ratchet.priv[:])}, SymmetricKeyRatchet: vzChainKeyOut{keep(s.sender.chain.key[:]), s.sender.chain.index}}
	case len(s.receivers) > 0:
		ratchet = struct {
			Type    string `json:"type"`
			RootKey struct {
				Key vzjson.Bytes `json:"key"`
			} `json:"root_key"`
			RatchetKey vzjson.Bytes `json:"ratchet_key"`
		}{Type: "inactive", RootKey: struct {
			Key vzjson.Bytes `json:"key"`
		}{keep(s.rootKey[:])}, RatchetKey: vzjson.Bytes(s.receivers[0].ratchetKey[:])}
	default:
		return nil, fmt.Errorf("olm: vodozemac session: no chains: %w", ErrCorruptedPickle)
	}
	type keys struct {
		IdentityKey vzjson.Bytes `json:"identity_key"`
		BaseKey     vzjson.Bytes `json:"base_key"`
		OneTimeKey  vzjson.Bytes `json:"one_time_key"`
	}
	out, err := json.Marshal(struct {
		SessionKeys     keys `json:"session_keys"`
		SendingRatchet  any  `json:"sending_ratchet"`
		ReceivingChains struct {
			Inner []receiver `json:"inner"`
		} `json:"receiving_chains"`
		Config vzjson.Config `json:"config"`
	}{
		SessionKeys:    keys{s.aliceIdentity[:], s.aliceBase[:], s.bobOneTime[:]},
		SendingRatchet: ratchet,
		ReceivingChains: struct {
			Inner []receiver `json:"inner"`
		}{chains},
		Config: vzjson.ConfigFor(s.config.Version()),
	})
	if err != nil {
		return nil, fmt.Errorf("olm: vodozemac session: %w", err)
	}
	return out, nil
}

// PickleVodozemac encrypts MarshalVodozemac's JSON under key as vodozemac's
// SessionPickle::encrypt does.
func (s *Session) PickleVodozemac(key *[32]byte) (string, error) {
	if key == nil {
		return "", fmt.Errorf("olm: pickle vodozemac session: %w", ErrPickleKeySize)
	}
	j, err := s.MarshalVodozemac()
	if err != nil {
		return "", err
	}
	defer clear(j)
	return pickle.EncryptVodozemac(key, j), nil
}
