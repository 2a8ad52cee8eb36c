package vectors

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// This file reads libolm's Olm session pickles with the standard library
// only, so that the runner can check the root and chain keys of a session an
// implementation returns as a pickle (kinds olm.inbound_session and
// olm.outbound_session).

// openLibolmPickle decrypts a libolm pickle: unpadded base64 of an AES-256-CBC
// ciphertext followed by an 8-byte truncated HMAC-SHA-256 of it, keys and IV
// from HKDF-SHA-256(key, no salt, "Pickle").
func openLibolmPickle(pickle string, key []byte) ([]byte, error) {
	raw, err := base64.RawStdEncoding.DecodeString(pickle)
	if err != nil {
		return nil, fmt.Errorf("pickle is not unpadded base64: %v", err)
	}
	if len(raw) < 8+aes.BlockSize || (len(raw)-8)%aes.BlockSize != 0 {
		return nil, errors.New("pickle has a bad length")
	}
	ks, err := hkdf.Key(sha256.New, key, nil, "Pickle", 80)
	if err != nil {
		return nil, err
	}
	ct, tag := raw[:len(raw)-8], raw[len(raw)-8:]
	m := hmac.New(sha256.New, ks[32:64])
	m.Write(ct)
	if !hmac.Equal(m.Sum(nil)[:8], tag) {
		return nil, errors.New("pickle MAC does not verify under the vector's pickle key")
	}
	block, _ := aes.NewCipher(ks[:32])
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, ks[64:80]).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errors.New("pickle has bad padding")
	}
	return pt[:len(pt)-pad], nil
}

// pickleReader reads libolm's pickle encoding: big-endian uint32s, single
// bytes for booleans, raw key bytes.
type pickleReader struct {
	b   []byte
	err error
}

func (r *pickleReader) bytes(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errors.New("pickle is truncated")
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *pickleReader) uint32() uint32 { return binary.BigEndian.Uint32(r.bytes(4)) }

// olmChain is one chain of a pickled Olm session.
type olmChain struct {
	ratchetKey []byte // public
	chainKey   []byte
	index      uint32
}

// olmSessionState is the part of a pickled Olm session the runner checks.
type olmSessionState struct {
	rootKey   []byte
	senders   []olmChain
	receivers []olmChain
}

// parseLibolmSession decodes a session pickle (version 1) after
// openLibolmPickle.
func parseLibolmSession(p []byte) (olmSessionState, error) {
	r := &pickleReader{b: p}
	var s olmSessionState
	if v := r.uint32(); r.err == nil && v != 1 {
		return s, fmt.Errorf("session pickle version %d, want 1", v)
	}
	r.bytes(1 + 3*32) // received flag, Alice's identity key, base key, Bob's one-time key
	s.rootKey = r.bytes(32)
	n := r.uint32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		pub := r.bytes(32)
		r.bytes(32) // private ratchet key
		s.senders = append(s.senders, olmChain{pub, r.bytes(32), r.uint32()})
	}
	n = r.uint32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		s.receivers = append(s.receivers, olmChain{r.bytes(32), r.bytes(32), r.uint32()})
	}
	return s, r.err
}

// deriveSessionKeys returns the deriver for olm.outbound_session (the
// sender chain) or olm.inbound_session (the receiver chain): it fills
// root_key_hex, chain_key_hex, chain_index and ratchet_key from the result's
// session_pickle, decrypted with the vector's pickle_key.
func deriveSessionKeys(outbound bool) func(args, result map[string]json.RawMessage) error {
	return func(args, result map[string]json.RawMessage) error {
		var key, pickle string
		if err := json.Unmarshal(args["pickle_key"], &key); err != nil {
			return fmt.Errorf("bad test data: pickle_key: %v", err)
		}
		raw, ok := result["session_pickle"]
		if !ok {
			return errors.New("result has neither root_key_hex and chain_key_hex nor session_pickle")
		}
		if err := json.Unmarshal(raw, &pickle); err != nil {
			return errors.New("session_pickle is not a string")
		}
		p, err := openLibolmPickle(pickle, []byte(key))
		if err != nil {
			return fmt.Errorf("session_pickle: %v", err)
		}
		s, err := parseLibolmSession(p)
		if err != nil {
			return fmt.Errorf("session_pickle: %v", err)
		}
		chains := s.receivers
		if outbound {
			chains = s.senders
		}
		if len(chains) != 1 {
			return fmt.Errorf("session_pickle: %d chains, want one", len(chains))
		}
		c := chains[0]
		set := func(name string, v any) {
			if _, ok := result[name]; !ok {
				result[name] = mustJSON(v)
			}
		}
		set("root_key_hex", hex.EncodeToString(s.rootKey))
		set("chain_key_hex", hex.EncodeToString(c.chainKey))
		set("chain_index", c.index)
		set("ratchet_key", base64.RawStdEncoding.EncodeToString(c.ratchetKey))
		return nil
	}
}
