// Package vzjson decodes the JSON that vodozemac's pickles hold: serde's
// rendering of Rust structs, where keys and ratchets are arrays of numbers
// (0 to 255), session configurations are {"version": "V1"} or "V2", and
// enums are externally tagged ({"Normal": …}) or internally tagged
// ({"type": "active", …}).
package vzjson

import (
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"github.com/souverain/e2ee/internal/ed25519"
)

// ErrBadBytes means a JSON byte array is malformed or of the wrong length.
var ErrBadBytes = errors.New("malformed byte array")

// parseBytes decodes a JSON array of exactly len(dst) numbers from 0 to
// 255 into dst. It allocates nothing, and on error clears dst.
func parseBytes(data []byte, dst []byte) error {
	i := 0
	skip := func() {
		for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
			i++
		}
	}
	fail := func(why string) error {
		clear(dst)
		return fmt.Errorf("%w: %s", ErrBadBytes, why)
	}
	skip()
	if i >= len(data) || data[i] != '[' {
		return fail("not an array")
	}
	i++
	n := 0
	skip()
	if i < len(data) && data[i] == ']' {
		i++
	} else {
		for {
			skip()
			start, v := i, 0
			for i < len(data) && data[i] >= '0' && data[i] <= '9' && i-start < 4 {
				v = v*10 + int(data[i]-'0')
				i++
			}
			switch {
			case i == start:
				return fail("not a number")
			case i-start > 1 && data[start] == '0':
				return fail("leading zero")
			case v > 255 || (i < len(data) && data[i] >= '0' && data[i] <= '9'):
				return fail("number out of range")
			case n >= len(dst):
				return fail(fmt.Sprintf("more than %d bytes", len(dst)))
			}
			dst[n] = byte(v)
			n++
			skip()
			if i < len(data) && data[i] == ',' {
				i++
				continue
			}
			if i < len(data) && data[i] == ']' {
				i++
				break
			}
			return fail("expected , or ]")
		}
	}
	skip()
	if i != len(data) {
		return fail("trailing data")
	}
	if n != len(dst) {
		return fail(fmt.Sprintf("%d bytes, want %d", n, len(dst)))
	}
	return nil
}

// Bytes32 is a 32-byte key as a JSON array of numbers.
type Bytes32 [32]byte

// UnmarshalJSON decodes exactly 32 numbers from 0 to 255.
func (b *Bytes32) UnmarshalJSON(data []byte) error { return parseBytes(data, b[:]) }

// Bytes64 is a 64-byte key (an expanded Ed25519 key).
type Bytes64 [64]byte

// UnmarshalJSON decodes exactly 64 numbers from 0 to 255.
func (b *Bytes64) UnmarshalJSON(data []byte) error { return parseBytes(data, b[:]) }

// Bytes128 is a Megolm ratchet.
type Bytes128 [128]byte

// UnmarshalJSON decodes exactly 128 numbers from 0 to 255.
func (b *Bytes128) UnmarshalJSON(data []byte) error { return parseBytes(data, b[:]) }

// Config is a session configuration, {"version": "V1"} or {"version": "V2"};
// a missing configuration is version 1, as vodozemac's default_config.
type Config struct {
	Version string `json:"version"`
}

// Number returns 1 or 2, or an error for any other version.
func (c *Config) Number() (int, error) {
	if c == nil {
		return 1, nil
	}
	switch c.Version {
	case "V1":
		return 1, nil
	case "V2":
		return 2, nil
	default:
		return 0, fmt.Errorf("session config version %q", c.Version)
	}
}

// Ed25519Keypair is vodozemac's Ed25519KeypairPickle: {"Normal": seed} for
// a key it made, {"Expanded": expanded key} for one from libolm.
type Ed25519Keypair struct {
	Normal   *Bytes32 `json:"Normal"`
	Expanded *Bytes64 `json:"Expanded"`
}

// Clear zeroes the secrets.
func (k *Ed25519Keypair) Clear() {
	if k.Normal != nil {
		clear(k.Normal[:])
	}
	if k.Expanded != nil {
		clear(k.Expanded[:])
	}
}

// Ratchet is a Megolm ratchet: {"inner": [128 bytes], "counter": n}.
type Ratchet struct {
	Inner   *Bytes128 `json:"inner"`
	Counter *uint32   `json:"counter"`
}

// PrivateKey returns the key pair as this module's Ed25519 key: from the
// seed for {"Normal": …} (the key keeps its seed), from the expanded key for
// {"Expanded": …}, its public key computed from the scalar as vodozemac
// does.
func (k *Ed25519Keypair) PrivateKey() (*ed25519.PrivateKey, error) {
	switch {
	case k.Normal != nil && k.Expanded == nil:
		return ed25519.NewKeyFromSeed(k.Normal[:])
	case k.Expanded != nil && k.Normal == nil:
		var wide [64]byte
		copy(wide[:32], k.Expanded[:32])
		defer clear(wide[:])
		s, err := new(edwards25519.Scalar).SetUniformBytes(wide[:])
		if err != nil {
			return nil, err
		}
		pub := new(edwards25519.Point).ScalarBaseMult(s).Bytes()
		return ed25519.NewKeyFromExpanded(k.Expanded[:], pub)
	default:
		return nil, errors.New("the Ed25519 key pair must be exactly one of Normal and Expanded")
	}
}

// Bytes renders b as serde_json renders a byte array: [n,n,…].
type Bytes []byte

// MarshalJSON writes the array of numbers.
func (b Bytes) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 2+4*len(b))
	out = append(out, '[')
	for i, c := range b {
		if i > 0 {
			out = append(out, ',')
		}
		switch {
		case c >= 100:
			out = append(out, '0'+c/100, '0'+c/10%10, '0'+c%10)
		case c >= 10:
			out = append(out, '0'+c/10, '0'+c%10)
		default:
			out = append(out, '0'+c)
		}
	}
	return append(out, ']'), nil
}

// ConfigFor returns the session configuration of version 1 or 2.
func ConfigFor(version int) Config { return Config{Version: fmt.Sprintf("V%d", version)} }

// KeypairFor renders an Ed25519 key pair: the seed if the key has one, else
// the expanded key. The result holds secrets.
func KeypairFor(k *ed25519.PrivateKey) map[string]Bytes {
	if seed, ok := k.Seed(); ok {
		return map[string]Bytes{"Normal": seed[:]}
	}
	exp := k.Expanded()
	return map[string]Bytes{"Expanded": exp[:]}
}
