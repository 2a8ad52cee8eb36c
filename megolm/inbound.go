package megolm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/wipe"
)

// InboundGroupSession is the receiving side of a Megolm session: it
// decrypts the messages of one sender from its first known index on. It is
// secret. An InboundGroupSession is safe for concurrent use: a lock guards
// its state, and the signature check and decryption of a message run
// outside it. Copies of an InboundGroupSession value share one state.
type InboundGroupSession struct {
	st *inboundState
}

type inboundState struct {
	mu     sync.Mutex
	closed bool
	d      inboundData
	// verifier is the signing key checked and decoded, made on the first
	// Decrypt (so that unpickling stays cheap) and kept: every message of
	// the session is verified under the same key. verifierDone with a nil
	// verifier means the key is unusable (non-canonical, of small order or
	// not a point), and every message fails with ErrBadSignature.
	verifier     *ed25519.VerifyingKey
	verifierDone bool
}

// inboundData is the state of an inbound session, copied out under the
// lock when a computation needs it without the lock.
type inboundData struct {
	config           SessionConfig
	initial          ratchet // the first known index
	latest           ratchet // the highest index decrypted so far, a cache
	signingKey       [32]byte
	signatureChecked bool
	provenance       Provenance
}

// newInboundFromKey decodes a session key or exported key straight into a
// new session's state.
func newInboundFromKey(config SessionConfig, raw []byte, checked bool, p Provenance) *InboundGroupSession {
	st := &inboundState{}
	d := &st.d
	d.config, d.signatureChecked, d.provenance = config, checked, p
	d.signingKey = decodeKey(raw, &d.initial)
	d.latest = d.initial
	return &InboundGroupSession{st: st}
}

// lock locks the session's state and returns it; the caller unlocks it. It
// returns an error wrapping ErrNil for a nil or zero InboundGroupSession and
// ErrClosed after Close, and then nothing is locked.
func (s *InboundGroupSession) lock(op string) (*inboundState, error) {
	if s == nil || s.st == nil {
		return nil, fmt.Errorf("megolm: %s: %w", op, ErrNil)
	}
	s.st.mu.Lock()
	if s.st.closed {
		s.st.mu.Unlock()
		return nil, fmt.Errorf("megolm: %s: %w", op, ErrClosed)
	}
	return s.st, nil
}

// verifierLocked returns the session's verifying key, decoding it the
// first time; nil if the signing key is unusable. The caller holds st.mu.
func (st *inboundState) verifierLocked() *ed25519.VerifyingKey {
	if !st.verifierDone {
		st.verifier, _ = ed25519.NewVerifyingKey(st.d.signingKey[:])
		st.verifierDone = true
	}
	return st.verifier
}

// snapshot copies the session's state into d, which the caller provides
// (so that no copy is left in a stack frame) and clears. Errors are those
// of lock.
func (s *InboundGroupSession) snapshot(op string, d *inboundData) error {
	st, err := s.lock(op)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	*d = st.d
	return nil
}

func (d *inboundData) clear() {
	d.initial.clear()
	d.latest.clear()
}

// Close wipes the session's ratchets and forgets its signing key. It is
// idempotent and always returns nil. Afterwards every method fails with an
// error wrapping ErrClosed, and the methods without an error result return
// zero values: an empty session ID, a zero signing key, index 0, false,
// ProvenanceUnknown, and a nil export.
func (s *InboundGroupSession) Close() error {
	if s == nil || s.st == nil {
		return nil
	}
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil
	}
	st.closed = true
	st.verifier = nil
	wipe.Do(func() {
		st.d.clear()
		wipe.Array32(&st.d.signingKey)
		st.d = inboundData{}
	})
	return nil
}

// NewInboundGroupSession creates a version 1 session from a session key
// received in m.room_key. Its signature has been checked by ParseSessionKey,
// so the session's ratchet is tied to its signing key (SignatureChecked),
// and its provenance is ProvenanceDirect. Create sessions this way only from
// keys that arrived in m.room_key over Olm.
func NewInboundGroupSession(k *SessionKey) (*InboundGroupSession, error) {
	return NewInboundGroupSessionWithConfig(SessionConfigV1(), k)
}

// NewInboundGroupSessionWithConfig is NewInboundGroupSession for the given
// protocol version.
func NewInboundGroupSessionWithConfig(config SessionConfig, k *SessionKey) (*InboundGroupSession, error) {
	if err := k.usable("inbound group session"); err != nil {
		return nil, err
	}
	return newInboundFromKey(config, k.raw[:], true, ProvenanceDirect), nil
}

// ImportInboundGroupSession creates a version 1 session from an exported
// key, with ProvenanceUnknown: use ImportInboundGroupSessionFrom to record
// where the key came from. Nothing in an exported key proves that it comes
// from the session's creator, so SignatureChecked is false until a message
// has decrypted under it.
func ImportInboundGroupSession(k *ExportedSessionKey) (*InboundGroupSession, error) {
	return ImportInboundGroupSessionWithConfigFrom(SessionConfigV1(), k, ProvenanceUnknown)
}

// ImportInboundGroupSessionFrom creates a version 1 session from an
// exported key that arrived as p says: ProvenanceForwarded for
// m.forwarded_room_key, ProvenanceBackup for a server-side backup,
// ProvenanceExport for a key export file (or ProvenanceUnknown). An exported
// key cannot prove ProvenanceDirect: asking for it gives an error wrapping
// ErrBadProvenance, as does a value that names no provenance.
func ImportInboundGroupSessionFrom(k *ExportedSessionKey, p Provenance) (*InboundGroupSession, error) {
	return ImportInboundGroupSessionWithConfigFrom(SessionConfigV1(), k, p)
}

// ImportInboundGroupSessionWithConfig is ImportInboundGroupSession for the
// given protocol version.
func ImportInboundGroupSessionWithConfig(config SessionConfig, k *ExportedSessionKey) (*InboundGroupSession, error) {
	return ImportInboundGroupSessionWithConfigFrom(config, k, ProvenanceUnknown)
}

// ImportInboundGroupSessionWithConfigFrom is ImportInboundGroupSessionFrom
// for the given protocol version.
func ImportInboundGroupSessionWithConfigFrom(config SessionConfig, k *ExportedSessionKey, p Provenance) (*InboundGroupSession, error) {
	if err := k.usable("import group session"); err != nil {
		return nil, err
	}
	if !p.valid() || p == ProvenanceDirect {
		return nil, fmt.Errorf("megolm: import group session: an exported key cannot prove provenance %v: %w", p, ErrBadProvenance)
	}
	return newInboundFromKey(config, k.raw[:], false, p), nil
}

// Config returns the session's configuration (the zero SessionConfig after
// Close).
func (s *InboundGroupSession) Config() SessionConfig {
	st, err := s.lock("config")
	if err != nil {
		return SessionConfig{}
	}
	defer st.mu.Unlock()
	return st.d.config
}

// SessionID returns the session's ID: the sender's signing key in unpadded
// base64 ("" after Close).
func (s *InboundGroupSession) SessionID() string {
	st, err := s.lock("session ID")
	if err != nil {
		return ""
	}
	pub := st.d.signingKey
	st.mu.Unlock()
	return sessionID(pub[:])
}

// SigningKey returns the session's Ed25519 signing key, the public key
// whose unpadded base64 is the session ID (the zero key after Close).
func (s *InboundGroupSession) SigningKey() Ed25519PublicKey {
	st, err := s.lock("signing key")
	if err != nil {
		return Ed25519PublicKey{}
	}
	defer st.mu.Unlock()
	return st.d.signingKey
}

// FirstKnownIndex returns the lowest message index the session can decrypt.
func (s *InboundGroupSession) FirstKnownIndex() uint32 {
	st, err := s.lock("first known index")
	if err != nil {
		return 0
	}
	defer st.mu.Unlock()
	return st.d.initial.counter
}

// SignatureChecked reports whether the session's ratchet is known to belong
// to its signing key: the session was created from a SessionKey, whose
// signature covers the ratchet, or a message signed by the signing key has
// authenticated under the ratchet. It is libolm's "verified" flag. It says
// nothing about who holds the signing key: an attacker who writes a backup
// entry or an export file for a session of their own makes it true with one
// message of theirs. Who the session comes from is its Provenance.
func (s *InboundGroupSession) SignatureChecked() bool {
	st, err := s.lock("signature checked")
	if err != nil {
		return false
	}
	defer st.mu.Unlock()
	return st.d.signatureChecked
}

// IsVerified is SignatureChecked, under libolm's name.
//
// Deprecated: the name suggests that the sender is authenticated, which it
// does not say. Use SignatureChecked for libolm's flag and Provenance for
// what the session's origin proves.
func (s *InboundGroupSession) IsVerified() bool { return s.SignatureChecked() }

// Provenance returns how the session reached this device. It is set when the
// session is created and never rises.
func (s *InboundGroupSession) Provenance() Provenance {
	st, err := s.lock("provenance")
	if err != nil {
		return ProvenanceUnknown
	}
	defer st.mu.Unlock()
	return st.d.provenance
}

// ratchetAt sets r to the ratchet at index, from the latest ratchet when it
// is not past index, else from the initial one. The cost is bounded by
// about a thousand hash steps whatever the distance. The caller provides r
// and clears it.
func (d *inboundData) ratchetAt(index uint32, r *ratchet) error {
	if err := d.baseFor(index, r); err != nil {
		return err
	}
	if r.counter != index {
		r.advanceTo(index)
	}
	return nil
}

// baseFor sets r to the ratchet from which index is reached: the latest
// one when it is not past index, else the initial one.
func (d *inboundData) baseFor(index uint32, r *ratchet) error {
	if index < d.initial.counter {
		return fmt.Errorf("index %d before the first known index %d: %w", index, d.initial.counter, ErrUnknownMessageIndex)
	}
	if index >= d.latest.counter {
		*r = d.latest
	} else {
		*r = d.initial
	}
	return nil
}

// Decrypt checks the signature of a Megolm message, then its MAC, then
// decrypts it, and returns the plaintext and the message's index. It is all
// or nothing: on error the session is unchanged. Every index from the first
// known one up to 2^32−1 can be decrypted, in any order and more than once;
// detecting replays is the caller's job (remember the event ID per session
// ID and index).
//
// Errors wrap ErrMessageTooLarge, ErrBadMessageFormat, ErrBadMessageVersion,
// ErrBadSignature, ErrUnknownMessageIndex or ErrBadMessageMAC, or ErrNil or
// ErrClosed.
func (s *InboundGroupSession) Decrypt(message []byte) ([]byte, uint32, error) {
	if s == nil || s.st == nil {
		return nil, 0, fmt.Errorf("megolm: decrypt: %w", ErrNil)
	}
	var m Message
	if err := parseMessage(message, &m); err != nil {
		return nil, 0, err
	}
	// The work runs outside the lock, on a copy of the ratchet the index is
	// reached from; only a success takes the lock again, to commit.
	var r ratchet
	defer r.clear()
	st, err := s.lock("decrypt")
	if err != nil {
		return nil, 0, err
	}
	config := st.d.config
	verifier := st.verifierLocked()
	indexErr := st.d.baseFor(m.index, &r)
	st.mu.Unlock()
	if m.version != config.messageVersion() {
		return nil, 0, fmt.Errorf("megolm: decrypt: message version %d in a version %d session: %w", m.version, config.Version(), ErrBadMessageVersion)
	}
	data, sig := m.signed()
	if verifier == nil || verifier.Verify(data, sig) != nil {
		return nil, 0, fmt.Errorf("megolm: decrypt: %w", ErrBadSignature)
	}
	if indexErr != nil {
		return nil, 0, fmt.Errorf("megolm: decrypt: %w", indexErr)
	}
	if r.counter != m.index {
		r.advanceTo(m.index)
	}
	keys := r.keys()
	defer keys.Clear()
	authed, mac := m.authenticated()
	if !keys.VerifyMAC(authed, mac) {
		return nil, 0, fmt.Errorf("megolm: decrypt: %w", ErrBadMessageMAC)
	}
	plaintext, err := keys.Decrypt(m.ciphertext)
	if err != nil {
		return nil, 0, fmt.Errorf("megolm: decrypt: %w: %v", ErrBadMessageFormat, err)
	}
	st, err = s.lock("decrypt")
	if err != nil {
		clear(plaintext) // closed meanwhile
		return nil, 0, err
	}
	defer st.mu.Unlock()
	// Commit: cache the ratchet if it is the furthest seen and still at or
	// past the first known index (AdvanceTo may have run meanwhile).
	if m.index > st.d.latest.counter && m.index >= st.d.initial.counter {
		st.d.latest = r
	}
	st.d.signatureChecked = true
	return plaintext, m.index, nil
}

// ExportAt returns the session's key at index, in the unsigned export
// format, for forwarding or backup. Errors wrap ErrUnknownMessageIndex when
// index is before the first known index, or ErrNil or ErrClosed.
func (s *InboundGroupSession) ExportAt(index uint32) (*ExportedSessionKey, error) {
	st, err := s.lock("export")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	return st.d.exportAt(index)
}

func (d *inboundData) exportAt(index uint32) (*ExportedSessionKey, error) {
	var r ratchet
	defer r.clear()
	if err := d.ratchetAt(index, &r); err != nil {
		return nil, fmt.Errorf("megolm: export: %w", err)
	}
	k := &ExportedSessionKey{state: keyValid}
	encodeKey(k.raw[:], exportVersion, &r, d.signingKey)
	return k, nil
}

// Export returns the session's key at its first known index, or nil after
// Close.
func (s *InboundGroupSession) Export() *ExportedSessionKey {
	st, err := s.lock("export")
	if err != nil {
		return nil
	}
	defer st.mu.Unlock()
	k, _ := st.d.exportAt(st.d.initial.counter)
	return k
}

// AdvanceTo moves the session's first known index forward to index for
// good: earlier messages can no longer be decrypted by it, which gives the
// partial forward secrecy the Megolm specification recommends. It reports
// whether the session moved; an index at or before the first known one
// changes nothing, and so does a closed session.
func (s *InboundGroupSession) AdvanceTo(index uint32) bool {
	st, err := s.lock("advance")
	if err != nil {
		return false
	}
	defer st.mu.Unlock()
	d := &st.d
	if index <= d.initial.counter {
		return false
	}
	d.initial.advanceTo(index)
	if d.latest.counter < index {
		d.latest = d.initial
	}
	return true
}

// Ordering says how two sessions with the same ID relate.
type Ordering int

// Orderings returned by Compare.
const (
	// Equal sessions have connected ratchets and the same first known index.
	Equal Ordering = iota
	// Better means the receiver's first known index is lower: it decrypts
	// more.
	Better
	// Worse means the other session decrypts more.
	Worse
	// Unconnected sessions share no ratchet: different signing keys,
	// protocol versions, or ratchets that do not lead to each other. One
	// of them is not genuine.
	Unconnected
)

// String returns the ordering's name.
func (o Ordering) String() string {
	switch o {
	case Equal:
		return "Equal"
	case Better:
		return "Better"
	case Worse:
		return "Worse"
	case Unconnected:
		return "Unconnected"
	}
	return fmt.Sprintf("Ordering(%d)", int(o))
}

// Connected reports whether the two sessions are copies of the same ratchet:
// same signing key and protocol version, and the one with the lower first
// known index leads to the other's ratchet. The ratchets are compared in
// constant time.
func (s *InboundGroupSession) Connected(other *InboundGroupSession) bool {
	var a, b inboundData
	defer a.clear()
	defer b.clear()
	if !snapshots(s, other, &a, &b) {
		return false
	}
	return connected(&a, &b)
}

// snapshots copies the states of a and b into da and db, one after the
// other so that no two locks are ever held at once; false if either is nil,
// zero or closed. The caller clears da and db.
func snapshots(a, b *InboundGroupSession, da, db *inboundData) bool {
	return a.snapshot("compare", da) == nil && b.snapshot("compare", db) == nil
}

// connected is Connected on two snapshots.
func connected(a, b *inboundData) bool {
	if a.config != b.config || a.signingKey != b.signingKey {
		return false
	}
	lo, hi := a, b
	if lo.initial.counter > hi.initial.counter {
		lo, hi = hi, lo
	}
	var r ratchet
	defer r.clear()
	if lo.ratchetAt(hi.initial.counter, &r) != nil {
		return false
	}
	return r.equal(&hi.initial)
}

// Compare says whether s is Better, Worse or Equal to other, or Unconnected
// with it. A client keeps the better of two connected sessions and refuses
// an unconnected one with the same ID.
func (s *InboundGroupSession) Compare(other *InboundGroupSession) Ordering {
	var a, b inboundData
	defer a.clear()
	defer b.clear()
	if !snapshots(s, other, &a, &b) {
		return Unconnected
	}
	return compare(&a, &b)
}

func compare(a, b *inboundData) Ordering {
	if !connected(a, b) {
		return Unconnected
	}
	switch {
	case a.initial.counter < b.initial.counter:
		return Better
	case a.initial.counter > b.initial.counter:
		return Worse
	}
	return Equal
}

// Merge returns a new session with the lower first known index of the two,
// or nil if they are unconnected. Its SignatureChecked is true if either's
// is, and its provenance is the higher of the two.
//
// Taking the higher provenance is sound because Connected has proven that
// the two are the same session: the same signing key, and a ratchet that
// hashes forward to the other's, which no one can compute without the
// genuine earlier state. Provenance is a property of the signing key (who
// holds it), and every message, at any index, must carry that key's
// signature before it decrypts. So a direct session at index 5 merged with
// a forwarded copy from index 0 stays direct: messages 0 to 4 are readable
// thanks to the forwarder, yet each of them is proven to come from the
// session's creator by its signature. The sender identity the application
// keeps beside the session is the one of the higher-provenance copy. A
// session's provenance is therefore never lowered by a merge, and an
// imported copy never replaces a direct one.
func (s *InboundGroupSession) Merge(other *InboundGroupSession) *InboundGroupSession {
	var a, b inboundData
	defer a.clear()
	defer b.clear()
	if !snapshots(s, other, &a, &b) {
		return nil
	}
	var best *inboundData
	switch compare(&a, &b) {
	case Equal, Better:
		best = &a
	case Worse:
		best = &b
	default:
		return nil
	}
	st := &inboundState{}
	d := &st.d
	d.config, d.signingKey = a.config, a.signingKey
	d.initial = best.initial
	d.latest = best.initial
	d.signatureChecked = a.signatureChecked || b.signatureChecked
	d.provenance = max(a.provenance, b.provenance)
	return &InboundGroupSession{st: st}
}

// Format prints the session ID and first known index, never the key.
func (s InboundGroupSession) Format(f fmt.State, verb rune) {
	st, err := s.lock("format")
	if err != nil {
		if errors.Is(err, ErrClosed) {
			fmt.Fprint(f, "megolm.InboundGroupSession{closed}")
		} else {
			fmt.Fprint(f, "megolm.InboundGroupSession{}")
		}
		return
	}
	st.mu.Unlock()
	fmt.Fprintf(f, "megolm.InboundGroupSession{SessionID: %s, FirstKnownIndex: %d}", s.SessionID(), s.FirstKnownIndex())
}
