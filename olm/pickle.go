package olm

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/souverain/e2ee/internal/b64"

	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/pickle"
)

// Pickle versions of libolm's formats.
const (
	libolmAccountVersion = 4
	libolmSessionVersion = 1
	// libolmSessionVersionChainIndex is written by libolm's logging_enabled
	// branch: version 1 followed by an unused chain index.
	libolmSessionVersionChainIndex = 0x80000001
	// libolmMaxOneTimeKeys is the number of one-time keys libolm's account
	// holds (MAX_ONE_TIME_KEYS); PickleLibolm writes at most that many.
	libolmMaxOneTimeKeys = 100
	// ownAccountVersion is the body version of souverain's own account
	// pickles since they keep the Ed25519 seed: the layout of
	// ownAccountVersionNoSeed followed by a byte saying whether a seed
	// follows (an account from libolm has none) and the 32-byte seed.
	// Without it, an account read back could no longer be dehydrated
	// (ErrNotDehydratable) nor written with its seed in vodozemac's
	// formats. The number is far from libolm's small versions, and
	// libolm-format readers refuse it.
	ownAccountVersion = 0x536f0002
	// ownAccountVersionNoSeed is the body version of souverain's own
	// account pickles since they carry the record of used pre-key messages:
	// libolm's version 4 layout followed by that record. It is still read
	// (the account has no seed then), as are the version 4 bodies of own
	// pickles written before it.
	ownAccountVersionNoSeed = 0x536f0001
	// ownSessionVersion is the body version of souverain's own session
	// pickles since they keep skipped message keys per receiver chain (up
	// to MaxReceiverChains × MaxSkippedMessageKeys): libolm's version 1
	// layout with that larger list. Own pickles written before hold a
	// version 1 body, which is still read.
	ownSessionVersion = 0x536f0001
	// libolmMaxSkippedMessageKeys is the number of skipped message keys of
	// libolm's session (MAX_SKIPPED_MESSAGE_KEYS, per session).
	libolmMaxSkippedMessageKeys = 40
)

// Kinds of souverain pickles, bound into their authentication.
const (
	kindAccount = "olm.Account"
	kindSession = "olm.Session"
)

// Pickle encrypts the account in souverain's own pickle format under a
// 32-byte key: versioned, authenticated with AES-256-GCM, holding every
// one-time key, the record of used pre-key messages (see
// NewInboundSession) and the Ed25519 seed when the account has one. Use
// UnpickleAccount to read it back.
func (a *Account) Pickle(key []byte) (string, error) {
	st, err := a.lock("pickle account")
	if err != nil {
		return "", err
	}
	body := st.marshal(MaxOneTimeKeys, true)
	st.mu.Unlock()
	defer clear(body)
	s, err := pickle.Encrypt(key, kindAccount, body)
	if err != nil {
		return "", fmt.Errorf("olm: pickle account: %w", err)
	}
	return s, nil
}

// UnpickleAccount decrypts an account pickled with Pickle. Errors wrap
// ErrPickleKeySize, ErrBadPickleKey, ErrCorruptedPickle or
// ErrUnknownPickleVersion.
func UnpickleAccount(text string, key []byte) (*Account, error) {
	var a *Account
	var parseErr error
	err := pickle.Open(key, kindAccount, text, func(body []byte) error {
		a, parseErr = unmarshalAccount(body, true)
		return parseErr
	})
	switch {
	case parseErr != nil:
		return nil, parseErr
	case err != nil:
		return nil, fmt.Errorf("olm: unpickle account: %w%s", err, formatHint(text, key, kindAccount, false))
	}
	return a, nil
}

// PickleLibolm encrypts the account in libolm's pickle format (version 4)
// under a key of any length, as libolm and the Go and JavaScript clients
// built on it store accounts. libolm holds at most 100 one-time keys, so only
// the newest 100 are written. The format has no room for the record of used
// pre-key messages: it is not written, and an account read back from it
// accepts a replayed pre-key message on a fallback key again (the caller's
// store must keep its own record of session IDs; see NewInboundSession).
func (a *Account) PickleLibolm(key []byte) (string, error) {
	st, err := a.lock("pickle account")
	if err != nil {
		return "", err
	}
	body := st.marshal(libolmMaxOneTimeKeys, false)
	st.mu.Unlock()
	defer clear(body)
	return pickle.EncryptLibolm(key, body), nil
}

// UnpickleLibolmAccount decrypts an account pickled by libolm (versions 2 to
// 4) or by PickleLibolm. The account goes on signing with the expanded
// Ed25519 key libolm stores, with signatures identical to libolm's. Errors
// wrap ErrBadPickleKey, ErrCorruptedPickle or ErrUnknownPickleVersion.
//
// The stored public keys are trusted once the pickle's MAC has verified:
// the account returns them as they are. Each identity key pair is checked
// once, before the account first signs or opens a session; an account whose
// pair does not match then signs nothing (Sign returns the zero signature)
// and its other methods fail with errors wrapping ErrCorruptedPickle.
func UnpickleLibolmAccount(text string, key []byte) (*Account, error) {
	var a *Account
	var parseErr error
	err := pickle.OpenLibolm(key, text, func(body []byte) error {
		a, parseErr = unmarshalAccount(body, false)
		return parseErr
	})
	switch {
	case parseErr != nil:
		return nil, fmt.Errorf("%w%s", parseErr, formatHint(text, key, kindAccount, true))
	case err != nil:
		return nil, fmt.Errorf("olm: unpickle libolm account: %w%s", err, formatHint(text, key, kindAccount, true))
	}
	return a, nil
}

func writeCurveKey(w *pickle.Writer, k *curveKey) {
	w.Bytes(k.pub[:])
	w.Bytes(k.priv[:])
}

func readCurveKey(r *pickle.Reader) curveKey {
	var k curveKey
	r.Read(k.pub[:])
	r.Read(k.priv[:])
	return k
}

func writeOneTimeKey(w *pickle.Writer, k *oneTimeKey) {
	w.U32(uint32(k.id))
	w.Bool(k.published)
	writeCurveKey(w, &k.key)
}

// readOneTimeKey reads a one-time key record into k, which it leaves zero
// if the input is short.
func readOneTimeKey(r *pickle.Reader, k *oneTimeKey) {
	if rec := r.Next(oneTimeKeyPickleSize); rec != nil {
		decodeOneTimeKey(rec, k)
	}
}

// decodeOneTimeKey decodes the oneTimeKeyPickleSize bytes of rec into k:
// key ID, published flag (any non-zero byte is true, as in libolm), public
// key, private key.
func decodeOneTimeKey(rec []byte, k *oneTimeKey) {
	rec = rec[:oneTimeKeyPickleSize]
	k.id = KeyID(binary.BigEndian.Uint32(rec))
	k.published = rec[4] != 0
	k.key.pub = Curve25519PublicKey(rec[5:37])
	k.key.priv = [32]byte(rec[37:69])
}

// marshal writes the account in libolm's version 4 layout, with at most
// maxKeys one-time keys (the newest), newest first as libolm orders them.
// With own, the body has version ownAccountVersion and ends with the record
// of used pre-key messages (a count, then key ID and session ID of each,
// oldest first), a byte whose bits 0 and 1 say whether the current and
// previous fallback keys have been used, and the Ed25519 seed (a byte, 1 if
// the account has one, then its 32 bytes).
//
// The buffer is allocated at its final size, so that growing it leaves no
// partial copy of the keys behind in memory.
func (a *account) marshal(maxKeys int, own bool) []byte {
	n := min(len(a.oneTimeKeys), maxKeys)
	size := 4 + 32 + 64 + 64 + 4 + n*oneTimeKeyPickleSize + 1 + a.numFallback*oneTimeKeyPickleSize + 4
	seed, hasSeed := a.signing.Seed()
	defer clear(seed[:])
	if own {
		size += 4 + len(a.usedPreKeys)*preKeyRecordPickleSize + 1 + 1
		if hasSeed {
			size += len(seed)
		}
	}
	w := &pickle.Writer{Buf: make([]byte, 0, size)}
	if own {
		w.U32(ownAccountVersion)
	} else {
		w.U32(libolmAccountVersion)
	}
	pub := a.signing.Public()
	w.Bytes(pub[:])
	exp := a.signing.Expanded()
	w.Bytes(exp[:])
	clear(exp[:])
	writeCurveKey(w, &a.identity)
	// n one-time keys, as sized above
	w.U32(uint32(n))
	for i := len(a.oneTimeKeys) - 1; i >= len(a.oneTimeKeys)-n; i-- {
		writeOneTimeKey(w, &a.oneTimeKeys[i])
	}
	w.U8(uint8(a.numFallback))
	for i := range a.numFallback {
		writeOneTimeKey(w, &a.fallback[i])
	}
	w.U32(a.nextKeyID)
	if own {
		w.U32(uint32(len(a.usedPreKeys)))
		for _, r := range a.usedPreKeys {
			w.U32(uint32(r.keyID))
			w.Bytes(r.sessionID[:])
		}
		var used uint8
		for i := range a.numFallback {
			if a.fallback[i].used {
				used |= 1 << i
			}
		}
		w.U8(used)
		w.Bool(hasSeed)
		if hasSeed {
			w.Bytes(seed[:])
		}
	}
	return w.Buf
}

const (
	oneTimeKeyPickleSize   = 4 + 1 + 32 + 32
	preKeyRecordPickleSize = 4 + 32
)

// unmarshalAccount decodes an account body; trusted is set for souverain's
// own pickles, which may have the body versions ownAccountVersion and
// ownAccountVersionNoSeed.
//
// The identity key pairs are taken as stored: both formats authenticate
// their content under the pickle key (AES-GCM, or libolm's HMAC), so a pair
// that does not match was written by whoever holds that key. For libolm's
// format, which other programs write, each pair is still checked, once,
// before the account first uses its private keys (checkKeys: before the
// first signature, which must never be made with a public key other than
// the signing key's, and before the first Diffie-Hellman), rather than
// here: recomputing both public keys costs two fixed-base scalar
// multiplications, more than the rest of reading the pickle, and an account
// is often read only to be written back or to give its public keys.
func unmarshalAccount(body []byte, trusted bool) (*Account, error) {
	r := pickle.NewReader(body)
	version := r.U32()
	switch {
	case r.Err() != nil:
		return nil, fmt.Errorf("olm: unpickle account: %w", r.Err())
	case version == 1:
		return nil, fmt.Errorf("olm: unpickle account: version 1 stored a broken Ed25519 key: %w", ErrUnknownPickleVersion)
	case (version == ownAccountVersion || version == ownAccountVersionNoSeed) && trusted:
	case version < 2 || version > 4:
		return nil, fmt.Errorf("olm: unpickle account: version %d: %w", version, ErrUnknownPickleVersion)
	}
	var pub [32]byte
	var exp [64]byte
	r.Read(pub[:])
	r.Read(exp[:])
	a := &account{identity: readCurveKey(r)}
	n := r.Count(oneTimeKeyPickleSize)
	keys := make([]oneTimeKey, n)
	// Count has checked that the records are there.
	if recs := r.Next(n * oneTimeKeyPickleSize); recs != nil {
		for i := n - 1; i >= 0; i-- { // stored newest first
			decodeOneTimeKey(recs[:oneTimeKeyPickleSize], &keys[i])
			recs = recs[oneTimeKeyPickleSize:]
		}
	}
	if over := n - MaxOneTimeKeys; over > 0 {
		keys = keys[over:]
	}
	a.oneTimeKeys = keys
	switch version {
	case 3:
		// Version 3 always stored two fallback records and used their
		// published flags to say how many were real.
		readOneTimeKey(r, &a.fallback[0])
		readOneTimeKey(r, &a.fallback[1])
		switch {
		case a.fallback[0].published && a.fallback[1].published:
			a.numFallback = 2
		case a.fallback[0].published:
			a.numFallback = 1
			a.fallback[1] = oneTimeKey{}
		default:
			a.fallback = [2]oneTimeKey{}
		}
	case 4, ownAccountVersion, ownAccountVersionNoSeed:
		a.numFallback = int(r.U8())
		if a.numFallback > 2 {
			return nil, fmt.Errorf("olm: unpickle account: %d fallback keys: %w", a.numFallback, ErrCorruptedPickle)
		}
		for i := range a.numFallback {
			readOneTimeKey(r, &a.fallback[i])
		}
	}
	a.nextKeyID = r.U32()
	var seed [32]byte
	defer clear(seed[:])
	hasSeed := false
	if version == ownAccountVersion || version == ownAccountVersionNoSeed {
		n := r.Count(preKeyRecordPickleSize)
		if n > MaxPreKeyRecords {
			return nil, fmt.Errorf("olm: unpickle account: %d pre-key records: %w", n, ErrCorruptedPickle)
		}
		if n > 0 {
			a.usedPreKeys = make([]preKeyRecord, n)
		}
		for i := range a.usedPreKeys {
			a.usedPreKeys[i].keyID = KeyID(r.U32())
			r.Read(a.usedPreKeys[i].sessionID[:])
		}
		used := r.U8()
		if used>>a.numFallback != 0 {
			return nil, fmt.Errorf("olm: unpickle account: used flags %#x for %d fallback keys: %w", used, a.numFallback, ErrCorruptedPickle)
		}
		for i := range a.numFallback {
			a.fallback[i].used = used&(1<<i) != 0
		}
	}
	if version == ownAccountVersion {
		switch flag := r.U8(); flag {
		case 0:
		case 1:
			hasSeed = true
			r.Read(seed[:])
		default:
			if r.Err() == nil {
				return nil, fmt.Errorf("olm: unpickle account: seed flag %d: %w", flag, ErrCorruptedPickle)
			}
		}
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("olm: unpickle account: %w", err)
	}
	var signing *ed25519.PrivateKey
	var err error
	if hasSeed {
		signing, err = ed25519.NewKeyFromStoredSeed(seed[:], exp[:], pub[:])
	} else {
		signing, err = ed25519.NewKeyFromStored(exp[:], pub[:])
	}
	clear(exp[:])
	if err != nil {
		return nil, fmt.Errorf("olm: unpickle account: ed25519 key: %w: %v", ErrCorruptedPickle, err)
	}
	a.signing = signing
	a.keysUnchecked = !trusted
	return &Account{st: a}, nil
}

// Pickle encrypts the session in souverain's own pickle format under a
// 32-byte key, with every skipped message key (up to MaxSkippedMessageKeys
// per receiver chain). Use UnpickleSession to read it back.
func (s *Session) Pickle(key []byte) (string, error) {
	st, err := s.lock("pickle session")
	if err != nil {
		return "", err
	}
	w := &pickle.Writer{Buf: make([]byte, 0, 1+st.pickleSize(true))}
	w.U8(uint8(st.config.Version()))
	st.marshal(w, true)
	st.mu.Unlock()
	defer clear(w.Buf)
	out, err := pickle.Encrypt(key, kindSession, w.Buf)
	if err != nil {
		return "", fmt.Errorf("olm: pickle session: %w", err)
	}
	return out, nil
}

// UnpickleSession decrypts a session pickled with Pickle. Errors wrap
// ErrPickleKeySize, ErrBadPickleKey, ErrCorruptedPickle or
// ErrUnknownPickleVersion.
func UnpickleSession(text string, key []byte) (*Session, error) {
	var s *Session
	var parseErr error
	err := pickle.Open(key, kindSession, text, func(body []byte) error {
		s, parseErr = unmarshalOwnSession(body)
		return parseErr
	})
	switch {
	case parseErr != nil:
		return nil, parseErr
	case err != nil:
		return nil, fmt.Errorf("olm: unpickle session: %w%s", err, formatHint(text, key, kindSession, false))
	}
	return s, nil
}

// unmarshalOwnSession decodes the body of souverain's own session pickle:
// the configuration byte, then the session.
func unmarshalOwnSession(body []byte) (*Session, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("olm: unpickle session: %w", ErrCorruptedPickle)
	}
	var config SessionConfig
	switch body[0] {
	case 1:
		config = SessionConfigV1()
	case 2:
		config = SessionConfigV2()
	default:
		return nil, fmt.Errorf("olm: unpickle session: configuration %d: %w", body[0], ErrCorruptedPickle)
	}
	return unmarshalSession(body[1:], config, true)
}

// PickleLibolm encrypts the session in libolm's pickle format (version 1)
// under a key of any length. libolm has no version 2 sessions, so a version
// 2 session gives an error wrapping ErrSessionConfig. libolm's format holds
// 40 skipped message keys per session, where a souverain session keeps 40
// per receiver chain (MaxSkippedMessageKeys): the newest 40 are written and
// the older ones are lost, so that their messages no longer decrypt once the
// session is read back (by libolm or UnpickleLibolmSession). Pickle keeps
// them all.
func (s *Session) PickleLibolm(key []byte) (string, error) {
	st, err := s.lock("pickle session")
	if err != nil {
		return "", err
	}
	if st.config.Version() != 1 {
		st.mu.Unlock()
		return "", fmt.Errorf("olm: pickle session for libolm: %w", ErrSessionConfig)
	}
	w := &pickle.Writer{Buf: make([]byte, 0, st.pickleSize(false))}
	st.marshal(w, false)
	st.mu.Unlock()
	defer clear(w.Buf)
	return pickle.EncryptLibolm(key, w.Buf), nil
}

// UnpickleLibolmSession decrypts a session pickled by libolm or by
// PickleLibolm. Errors wrap ErrBadPickleKey, ErrCorruptedPickle or
// ErrUnknownPickleVersion.
func UnpickleLibolmSession(text string, key []byte) (*Session, error) {
	var s *Session
	var parseErr error
	err := pickle.OpenLibolm(key, text, func(body []byte) error {
		s, parseErr = unmarshalSession(body, SessionConfigV1(), false)
		return parseErr
	})
	switch {
	case parseErr != nil:
		return nil, fmt.Errorf("%w%s", parseErr, formatHint(text, key, kindSession, true))
	case err != nil:
		return nil, fmt.Errorf("olm: unpickle libolm session: %w%s", err, formatHint(text, key, kindSession, true))
	}
	return s, nil
}

// pickleSize returns the length of what marshal writes, so that callers
// allocate the buffer once: growing it would leave partial copies of the
// keys behind in memory.
func (s *session) pickleSize(own bool) int {
	skipped := len(s.skipped)
	if !own {
		skipped = min(skipped, libolmMaxSkippedMessageKeys)
	}
	n := 4 + 1 + 3*32 + 32 + 4 + 4 + len(s.receivers)*(32+32+4) + 4 + skipped*(32+32+4)
	if s.sender != nil {
		n += 32 + 32 + 32 + 4
	}
	return n
}

// marshal writes the session in libolm's version 1 layout. With own, the
// version is ownSessionVersion and every skipped message key is written;
// otherwise the newest libolmMaxSkippedMessageKeys.
func (s *session) marshal(w *pickle.Writer, own bool) {
	skipped := s.skipped
	if own {
		w.U32(ownSessionVersion)
	} else {
		w.U32(libolmSessionVersion)
		skipped = skipped[:min(len(skipped), libolmMaxSkippedMessageKeys)]
	}
	w.Bool(s.received)
	w.Bytes(s.aliceIdentity[:])
	w.Bytes(s.aliceBase[:])
	w.Bytes(s.bobOneTime[:])
	w.Bytes(s.rootKey[:])
	if s.sender != nil {
		w.U32(1)
		writeCurveKey(w, &s.sender.ratchet)
		w.Bytes(s.sender.chain.key[:])
		w.U32(s.sender.chain.index)
	} else {
		w.U32(0)
	}
	w.U32(uint32(len(s.receivers)))
	for i := range s.receivers {
		c := &s.receivers[i]
		w.Bytes(c.ratchetKey[:])
		w.Bytes(c.chain.key[:])
		w.U32(c.chain.index)
	}
	w.U32(uint32(len(skipped)))
	for i := range skipped {
		k := &skipped[i]
		w.Bytes(k.ratchetKey[:])
		w.Bytes(k.key[:])
		w.U32(k.index)
	}
}

// unmarshalSession decodes a session body in libolm's layout; own allows
// souverain's ownSessionVersion, with up to MaxSkippedMessageKeys per
// ratchet key and MaxReceiverChains × MaxSkippedMessageKeys in all, where
// libolm's versions hold at most libolmMaxSkippedMessageKeys.
func unmarshalSession(body []byte, config SessionConfig, own bool) (*Session, error) {
	r := pickle.NewReader(body)
	version := r.U32()
	maxSkipped := libolmMaxSkippedMessageKeys
	switch {
	case r.Err() != nil, version == libolmSessionVersion, version == libolmSessionVersionChainIndex:
	case version == ownSessionVersion && own:
		maxSkipped = maxSkippedPerSession
	default:
		return nil, fmt.Errorf("olm: unpickle session: version %d: %w", version, ErrUnknownPickleVersion)
	}
	s := &session{config: config}
	s.received = r.Bool()
	r.Read(s.aliceIdentity[:])
	r.Read(s.aliceBase[:])
	r.Read(s.bobOneTime[:])
	r.Read(s.rootKey[:])
	switch n := r.Count(32 + 32 + 32 + 4); {
	case n == 1:
		s.sender = &senderChain{ratchet: readCurveKey(r)}
		r.Read(s.sender.chain.key[:])
		s.sender.chain.index = r.U32()
	case n > 1:
		return nil, fmt.Errorf("olm: unpickle session: %d sender chains: %w", n, ErrCorruptedPickle)
	}
	n := r.Count(32 + 32 + 4)
	if n > MaxReceiverChains {
		return nil, fmt.Errorf("olm: unpickle session: %d receiver chains: %w", n, ErrCorruptedPickle)
	}
	if n > 0 {
		s.receivers = make([]receiverChain, n)
	}
	for i := range s.receivers {
		c := &s.receivers[i]
		r.Read(c.ratchetKey[:])
		r.Read(c.chain.key[:])
		c.chain.index = r.U32()
	}
	n = r.Count(32 + 32 + 4)
	if n > maxSkipped {
		return nil, fmt.Errorf("olm: unpickle session: %d skipped keys: %w", n, ErrCorruptedPickle)
	}
	if n > 0 {
		s.skipped = make([]skippedKey, n)
	}
	for i := range s.skipped {
		k := &s.skipped[i]
		r.Read(k.ratchetKey[:])
		r.Read(k.key[:])
		k.index = r.U32()
	}
	if version == libolmSessionVersionChainIndex {
		r.U32() // an unused chain index
	}
	if version == ownSessionVersion && len(s.skipped) > MaxSkippedMessageKeys {
		perChain := make(map[Curve25519PublicKey]int)
		for i := range s.skipped {
			if perChain[s.skipped[i].ratchetKey]++; perChain[s.skipped[i].ratchetKey] > MaxSkippedMessageKeys {
				return nil, fmt.Errorf("olm: unpickle session: more than %d skipped keys on a chain: %w", MaxSkippedMessageKeys, ErrCorruptedPickle)
			}
		}
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("olm: unpickle session: %w", err)
	}
	if s.sender == nil && len(s.receivers) == 0 {
		return nil, fmt.Errorf("olm: unpickle session: no chains: %w", ErrCorruptedPickle)
	}
	return &Session{st: s}, nil
}

// formatHint says, for a pickle that did not open, which format and kind it
// is or looks like, when that is not what was asked for (kind, in libolm's
// format when libolm is set): opening one format with the other's function
// otherwise gives errors like "bad length 207". With the right key the
// answer is certain, since the other format is tried; without it, the
// guess rests on the layouts: libolm's pickles are CBC blocks and an 8-byte
// MAC (a length of 8 modulo 16), souverain's start with version byte 1.
// Only failures pay for this.
func formatHint(text string, key []byte, kind string, libolm bool) string {
	name := func(kind string, libolm bool) string {
		n := "Account"
		if kind == kindSession {
			n = "Session"
		}
		if libolm {
			return "libolm " + strings.ToLower(n) + " pickle: open it with UnpickleLibolm" + n
		}
		return "souverain " + strings.ToLower(n) + " pickle: open it with Unpickle" + n
	}
	if len(text) > pickle.MaxLen {
		return ""
	}
	for _, k := range []string{kindAccount, kindSession} {
		if !libolm && k == kind {
			continue
		}
		if body, err := pickle.Decrypt(key, k, text); err == nil {
			clear(body)
			return " (this is a " + name(k, false) + ")"
		}
	}
	if body, err := pickle.DecryptLibolm(key, text); err == nil {
		k := kindAccount
		if len(body) >= 4 {
			if v := binary.BigEndian.Uint32(body); v == libolmSessionVersion || v == libolmSessionVersionChainIndex {
				k = kindSession
			}
		}
		clear(body)
		if !libolm || k != kind {
			return " (this is a " + name(k, true) + ")"
		}
		return ""
	}
	raw, err := b64.Decode(text)
	if err != nil || len(raw) < 24 {
		return ""
	}
	libolmShape := (len(raw)-8)%16 == 0
	switch {
	case libolm && !libolmShape && raw[0] == 1:
		return " (this looks like a pickle in souverain's own format: open it with UnpickleAccount or UnpickleSession)"
	case !libolm && libolmShape && raw[0] != 1:
		return " (this looks like a pickle in libolm's format: open it with UnpickleLibolmAccount or UnpickleLibolmSession)"
	}
	return ""
}
