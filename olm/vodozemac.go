package olm

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/internal/vzjson"
)

// Reading vodozemac's own pickles: the JSON that vodozemac's AccountPickle
// and SessionPickle serialize to, encrypted with libolm's pickle cipher
// under a 32-byte key. This is how stores written by vodozemac-based
// clients (matrix-rust-sdk, Element X, Element Web) hold Olm state, so these
// functions are the migration path from them to souverain.

// vzAccount is vodozemac's AccountPickle.
type vzAccount struct {
	SigningKey       *vzjson.Ed25519Keypair `json:"signing_key"`
	DiffieHellmanKey *vzjson.Bytes32        `json:"diffie_hellman_key"`
	OneTimeKeys      *struct {
		NextKeyID   *uint64                   `json:"next_key_id"`
		KeyID       *uint64                   `json:"key_id"` // serde alias of next_key_id
		PublicKeys  map[string]vzjson.Bytes32 `json:"public_keys"`
		PrivateKeys map[string]vzjson.Bytes32 `json:"private_keys"`
	} `json:"one_time_keys"`
	FallbackKeys *struct {
		KeyID               *uint64     `json:"key_id"`
		FallbackKey         *vzFallback `json:"fallback_key"`
		PreviousFallbackKey *vzFallback `json:"previous_fallback_key"`
	} `json:"fallback_keys"`
}

type vzFallback struct {
	KeyID     *uint64         `json:"key_id"`
	Key       *vzjson.Bytes32 `json:"key"`
	Published *bool           `json:"published"`
}

func (a *vzAccount) clear() {
	if a.SigningKey != nil {
		a.SigningKey.Clear()
	}
	if a.DiffieHellmanKey != nil {
		clear(a.DiffieHellmanKey[:])
	}
	if a.OneTimeKeys != nil {
		for id, k := range a.OneTimeKeys.PrivateKeys {
			clear(k[:])
			a.OneTimeKeys.PrivateKeys[id] = k
		}
	}
	if a.FallbackKeys != nil {
		for _, f := range []*vzFallback{a.FallbackKeys.FallbackKey, a.FallbackKeys.PreviousFallbackKey} {
			if f != nil && f.Key != nil {
				clear(f.Key[:])
			}
		}
	}
}

// vzCurveKey returns the key pair of 32 private bytes (see curveKey.set).
func vzCurveKey(priv []byte) (curveKey, error) {
	var k curveKey
	err := k.set(priv)
	return k, err
}

func vzCorrupted(what string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(what, args...), ErrCorruptedPickle)
}

func vzDecode(data []byte, v any) error {
	if len(data) > pickle.MaxVodozemacLen {
		return vzCorrupted("%d bytes", len(data))
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptedPickle, err)
	}
	return nil
}

// vzKeyID converts one of vodozemac's 64-bit key IDs to this package's
// 32-bit ones; vodozemac counts from 0 and no account issues 2^32 keys.
func vzKeyID(id uint64) (KeyID, error) {
	if id > math.MaxUint32 {
		return 0, vzCorrupted("key ID %d beyond 2^32", id)
	}
	return KeyID(id), nil
}

// UnpickleVodozemacAccount reads an Account that vodozemac pickled
// (AccountPickle::encrypt) under key. Errors wrap ErrBadPickleKey (wrong
// key or changed pickle), ErrCorruptedPickle or ErrPickleKeySize.
func UnpickleVodozemacAccount(text string, key *[32]byte) (*Account, error) {
	plain, err := pickle.DecryptVodozemac(key, text)
	if err != nil {
		return nil, fmt.Errorf("olm: unpickle vodozemac account: %w", err)
	}
	defer clear(plain)
	return ParseVodozemacAccount(plain)
}

// ParseVodozemacAccount reads the JSON of vodozemac's AccountPickle,
// unencrypted, as matrix-rust-sdk stores it in the "pickle" field of its
// PickledAccount (inside the store's own encryption).
//
// The account keeps its identity keys, its one-time keys (published or not;
// the newest MaxOneTimeKeys if there are more) and its fallback keys, with
// their key IDs. An Ed25519 key vodozemac holds as a seed stays one, so the
// account can still be dehydrated; one that vodozemac took over from libolm
// in expanded form stays expanded. Every stored public key is checked
// against its private key. Errors wrap ErrCorruptedPickle.
func ParseVodozemacAccount(data []byte) (*Account, error) {
	var p vzAccount
	err := vzDecode(data, &p)
	defer p.clear()
	if err != nil {
		return nil, fmt.Errorf("olm: vodozemac account: %w", err)
	}
	a, err := p.account()
	if err != nil {
		return nil, fmt.Errorf("olm: vodozemac account: %w", err)
	}
	return a, nil
}

func (p *vzAccount) account() (*Account, error) {
	if p.SigningKey == nil || p.DiffieHellmanKey == nil || p.OneTimeKeys == nil || p.FallbackKeys == nil {
		return nil, vzCorrupted("missing field")
	}
	signing, err := p.SigningKey.PrivateKey()
	if err != nil {
		return nil, vzCorrupted("signing key: %v", err)
	}
	identity, err := vzCurveKey(p.DiffieHellmanKey[:])
	if err != nil {
		return nil, err
	}
	a := &account{signing: signing, identity: identity}

	otk := p.OneTimeKeys
	next := otk.NextKeyID
	if next == nil {
		next = otk.KeyID
	}
	if next == nil {
		return nil, vzCorrupted("one-time keys: no next_key_id")
	}
	ids := make([]uint64, 0, len(otk.PrivateKeys))
	for s := range otk.PrivateKeys {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil || strconv.FormatUint(id, 10) != s {
			return nil, vzCorrupted("one-time key ID %q", s)
		}
		ids = append(ids, id)
	}
	for s := range otk.PublicKeys {
		if _, ok := otk.PrivateKeys[s]; !ok {
			return nil, vzCorrupted("public one-time key %q without a private key", s)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if over := len(ids) - MaxOneTimeKeys; over > 0 {
		ids = ids[over:]
	}
	last := uint64(0)
	if *next > 0 {
		last = *next - 1
	}
	a.oneTimeKeys = make([]oneTimeKey, 0, len(ids))
	for _, id := range ids {
		s := strconv.FormatUint(id, 10)
		priv := otk.PrivateKeys[s]
		k, err := vzCurveKey(priv[:])
		if err != nil {
			return nil, err
		}
		pub, unpublished := otk.PublicKeys[s]
		if unpublished && Curve25519PublicKey(pub) != k.pub {
			return nil, vzCorrupted("one-time key %d does not match its public key", id)
		}
		kid, err := vzKeyID(id)
		if err != nil {
			return nil, err
		}
		a.oneTimeKeys = append(a.oneTimeKeys, oneTimeKey{id: kid, published: !unpublished, key: k})
		last = max(last, id)
	}

	fb := p.FallbackKeys
	if fb.KeyID == nil {
		return nil, vzCorrupted("fallback keys: no key_id")
	}
	if *fb.KeyID > 0 {
		last = max(last, *fb.KeyID-1)
	}
	keys := []*vzFallback{fb.FallbackKey, fb.PreviousFallbackKey}
	if keys[0] == nil && keys[1] != nil {
		return nil, vzCorrupted("a previous fallback key without a current one")
	}
	for i, f := range keys {
		if f == nil {
			break
		}
		if f.KeyID == nil || f.Key == nil || f.Published == nil {
			return nil, vzCorrupted("fallback key: missing field")
		}
		k, err := vzCurveKey(f.Key[:])
		if err != nil {
			return nil, err
		}
		kid, err := vzKeyID(*f.KeyID)
		if err != nil {
			return nil, err
		}
		a.fallback[i] = oneTimeKey{id: kid, published: *f.Published, key: k}
		a.numFallback = i + 1
		last = max(last, *f.KeyID)
	}
	lastID, err := vzKeyID(last)
	if err != nil {
		return nil, err
	}
	a.nextKeyID = uint32(lastID)
	return &Account{st: a}, nil
}

// vzSession is vodozemac's SessionPickle.
type vzSession struct {
	SessionKeys *struct {
		IdentityKey *vzjson.Bytes32 `json:"identity_key"`
		BaseKey     *vzjson.Bytes32 `json:"base_key"`
		OneTimeKey  *vzjson.Bytes32 `json:"one_time_key"`
	} `json:"session_keys"`
	SendingRatchet  *vzDoubleRatchet `json:"sending_ratchet"`
	ReceivingChains *struct {
		Inner []vzReceiverChain `json:"inner"`
	} `json:"receiving_chains"`
	Config *vzjson.Config `json:"config"`
}

// vzDoubleRatchet is vodozemac's DoubleRatchetState, tagged by "type":
// "inactive" holds the root key ({"key": …}) and the other side's ratchet
// key; "active" holds the root key and our ratchet key in active_ratchet,
// and the sending chain.
type vzDoubleRatchet struct {
	Type            string `json:"type"`
	InactiveRootKey *struct {
		Key *vzjson.Bytes32 `json:"key"`
	} `json:"root_key"`
	RemoteRatchetKey *vzjson.Bytes32 `json:"ratchet_key"`
	ActiveRatchet    *struct {
		RootKey    *vzjson.Bytes32 `json:"root_key"`
		RatchetKey *vzjson.Bytes32 `json:"ratchet_key"`
	} `json:"active_ratchet"`
	SymmetricKeyRatchet *vzChainKey `json:"symmetric_key_ratchet"`
}

type vzChainKey struct {
	Key   *vzjson.Bytes32 `json:"key"`
	Index *uint64         `json:"index"`
}

type vzReceiverChain struct {
	RatchetKey         *vzjson.Bytes32 `json:"ratchet_key"`
	HKDFRatchet        *vzChainKey     `json:"hkdf_ratchet"`
	SkippedMessageKeys *struct {
		Inner []vzChainKey `json:"inner"`
	} `json:"skipped_message_keys"`
}

func (c *vzChainKey) get() (key [32]byte, index uint32, err error) {
	if c == nil || c.Key == nil || c.Index == nil {
		return key, 0, vzCorrupted("chain or message key: missing field")
	}
	if *c.Index > math.MaxUint32 {
		return key, 0, vzCorrupted("chain index %d beyond 2^32", *c.Index)
	}
	return *c.Key, uint32(*c.Index), nil
}

func (p *vzSession) clear() {
	if r := p.SendingRatchet; r != nil {
		if r.InactiveRootKey != nil && r.InactiveRootKey.Key != nil {
			clear(r.InactiveRootKey.Key[:])
		}
		if r.ActiveRatchet != nil {
			for _, k := range []*vzjson.Bytes32{r.ActiveRatchet.RootKey, r.ActiveRatchet.RatchetKey} {
				if k != nil {
					clear(k[:])
				}
			}
		}
		if r.SymmetricKeyRatchet != nil && r.SymmetricKeyRatchet.Key != nil {
			clear(r.SymmetricKeyRatchet.Key[:])
		}
	}
	if p.ReceivingChains != nil {
		for _, c := range p.ReceivingChains.Inner {
			if c.HKDFRatchet != nil && c.HKDFRatchet.Key != nil {
				clear(c.HKDFRatchet.Key[:])
			}
			if c.SkippedMessageKeys != nil {
				for _, k := range c.SkippedMessageKeys.Inner {
					if k.Key != nil {
						clear(k.Key[:])
					}
				}
			}
		}
	}
}

// UnpickleVodozemacSession reads a Session that vodozemac pickled
// (SessionPickle::encrypt) under key. Errors wrap ErrBadPickleKey,
// ErrCorruptedPickle or ErrPickleKeySize.
func UnpickleVodozemacSession(text string, key *[32]byte) (*Session, error) {
	plain, err := pickle.DecryptVodozemac(key, text)
	if err != nil {
		return nil, fmt.Errorf("olm: unpickle vodozemac session: %w", err)
	}
	defer clear(plain)
	return ParseVodozemacSession(plain)
}

// ParseVodozemacSession reads the JSON of vodozemac's SessionPickle,
// unencrypted, as matrix-rust-sdk stores it.
//
// Both vodozemac and this package keep up to MaxSkippedMessageKeys skipped
// message keys per receiving chain; if a chain holds more, the newest are
// kept. vodozemac's ratchet counters are not kept (they only serve its
// debugging output).
// Errors wrap ErrCorruptedPickle.
func ParseVodozemacSession(data []byte) (*Session, error) {
	var p vzSession
	err := vzDecode(data, &p)
	defer p.clear()
	if err != nil {
		return nil, fmt.Errorf("olm: vodozemac session: %w", err)
	}
	s, err := p.session()
	if err != nil {
		return nil, fmt.Errorf("olm: vodozemac session: %w", err)
	}
	return s, nil
}

func (p *vzSession) session() (*Session, error) {
	keys := p.SessionKeys
	if keys == nil || keys.IdentityKey == nil || keys.BaseKey == nil || keys.OneTimeKey == nil ||
		p.SendingRatchet == nil || p.ReceivingChains == nil {
		return nil, vzCorrupted("missing field")
	}
	n, err := p.Config.Number()
	if err != nil {
		return nil, vzCorrupted("%v", err)
	}
	config := SessionConfigV1()
	if n == 2 {
		config = SessionConfigV2()
	}
	chains := p.ReceivingChains.Inner // oldest first
	if len(chains) > MaxReceiverChains {
		return nil, vzCorrupted("%d receiving chains", len(chains))
	}
	s := &session{
		config:        config,
		received:      len(chains) > 0,
		aliceIdentity: Curve25519PublicKey(*keys.IdentityKey),
		aliceBase:     Curve25519PublicKey(*keys.BaseKey),
		bobOneTime:    Curve25519PublicKey(*keys.OneTimeKey),
	}
	if len(chains) > 0 {
		s.receivers = make([]receiverChain, len(chains))
	}
	for i := range chains {
		c := &chains[len(chains)-1-i] // newest first
		if c.RatchetKey == nil || c.SkippedMessageKeys == nil {
			return nil, vzCorrupted("receiving chain: missing field")
		}
		key, index, err := c.HKDFRatchet.get()
		if err != nil {
			return nil, err
		}
		s.receivers[i] = receiverChain{ratchetKey: Curve25519PublicKey(*c.RatchetKey), chain: chainKey{key: key, index: index}}
		skipped := c.SkippedMessageKeys.Inner // oldest first
		for j := len(skipped) - 1; j >= max(0, len(skipped)-MaxSkippedMessageKeys); j-- {
			key, index, err := skipped[j].get()
			if err != nil {
				return nil, err
			}
			s.skipped = append(s.skipped, skippedKey{ratchetKey: Curve25519PublicKey(*c.RatchetKey), key: key, index: index})
		}
	}
	r := p.SendingRatchet
	switch r.Type {
	case "active":
		if r.ActiveRatchet == nil || r.ActiveRatchet.RootKey == nil || r.ActiveRatchet.RatchetKey == nil {
			return nil, vzCorrupted("active ratchet: missing field")
		}
		key, index, err := r.SymmetricKeyRatchet.get()
		if err != nil {
			return nil, err
		}
		ratchet, err := vzCurveKey(r.ActiveRatchet.RatchetKey[:])
		if err != nil {
			return nil, err
		}
		s.rootKey = *r.ActiveRatchet.RootKey
		s.sender = &senderChain{ratchet: ratchet, chain: chainKey{key: key, index: index}}
	case "inactive":
		if r.InactiveRootKey == nil || r.InactiveRootKey.Key == nil || r.RemoteRatchetKey == nil {
			return nil, vzCorrupted("inactive ratchet: missing field")
		}
		// The next ratchet step is made with the key of the newest
		// receiving chain, which this package keeps first. vodozemac keeps
		// its chains oldest first, except those it took over from a libolm
		// pickle (newest first), so find the chain by its key.
		remote := Curve25519PublicKey(*r.RemoteRatchetKey)
		at := -1
		for i := range s.receivers {
			if s.receivers[i].ratchetKey == remote {
				at = i
				break
			}
		}
		if at < 0 {
			return nil, vzCorrupted("inactive ratchet: no receiving chain has its key")
		}
		newest := s.receivers[at]
		copy(s.receivers[1:at+1], s.receivers[:at])
		s.receivers[0] = newest
		s.rootKey = *r.InactiveRootKey.Key
	default:
		return nil, vzCorrupted("ratchet type %q", r.Type)
	}
	return &Session{st: s}, nil
}
