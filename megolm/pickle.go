package megolm

import (
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/pickle"
)

// Pickle versions of the layout inside both formats. libolm writes
// outbound version 1 and inbound versions 1 (no verified flag) and 2;
// souverain's own format writes inbound version 3, libolm's version 2 layout
// followed by the provenance (1 byte).
const (
	libolmOutboundVersion = 1
	libolmInboundVersion  = 2
	ownInboundVersion     = 3
)

// Kinds of souverain pickles, bound into their authentication.
const (
	kindOutbound = "megolm.GroupSession"
	kindInbound  = "megolm.InboundGroupSession"
)

func writeRatchet(w *pickle.Writer, r *ratchet) {
	var b [RatchetSize]byte
	r.putBytes(&b)
	w.Bytes(b[:])
	clear(b[:])
	w.U32(r.counter)
}

// readRatchet reads a ratchet into rt, which the caller provides so that
// no copy is left in a stack frame.
func readRatchet(r *pickle.Reader, rt *ratchet) {
	var b [RatchetSize]byte
	r.Read(b[:])
	rt.setBytes(b[:])
	clear(b[:])
	rt.counter = r.U32()
}

// marshal writes libolm's outbound layout: version 1 ‖ ratchet (128) ‖
// counter ‖ Ed25519 public key (32) ‖ expanded private key (64).
func (s *groupState) marshal(w *pickle.Writer) {
	w.U32(libolmOutboundVersion)
	writeRatchet(w, &s.ratchet)
	pub := s.signing.Public()
	w.Bytes(pub[:])
	exp := s.signing.Expanded()
	w.Bytes(exp[:])
	clear(exp[:])
}

func unmarshalGroupSession(body []byte, config SessionConfig) (*GroupSession, error) {
	r := pickle.NewReader(body)
	if v := r.U32(); r.Err() == nil && v != libolmOutboundVersion {
		return nil, fmt.Errorf("megolm: unpickle group session: version %d: %w", v, ErrUnknownPickleVersion)
	}
	s := &groupState{config: config}
	readRatchet(r, &s.ratchet)
	var pub [32]byte
	var exp [64]byte
	r.Read(pub[:])
	r.Read(exp[:])
	defer clear(exp[:])
	if err := r.Finish(); err != nil {
		s.ratchet.clear()
		return nil, fmt.Errorf("megolm: unpickle group session: %w", err)
	}
	signing, err := ed25519.NewKeyFromExpanded(exp[:], pub[:])
	if err != nil {
		s.ratchet.clear()
		return nil, fmt.Errorf("megolm: unpickle group session: signing key: %w: %v", ErrCorruptedPickle, err)
	}
	s.signing = signing
	return &GroupSession{st: s}, nil
}

// marshal writes libolm's inbound layout: version 2 ‖ initial ratchet and
// counter ‖ latest ratchet and counter ‖ signing key (32) ‖ verified (1).
//
// libolm's "verified" flag is SignatureChecked; the provenance has no place
// in it and is dropped (a libolm pickle is read back as ProvenanceUnknown).
func (s *inboundData) marshal(w *pickle.Writer) {
	w.U32(libolmInboundVersion)
	s.marshalFields(w)
}

// marshalOwn writes the layout of souverain's own format: version 3 ‖ the
// fields of version 2 ‖ provenance (1).
func (s *inboundData) marshalOwn(w *pickle.Writer) {
	w.U32(ownInboundVersion)
	s.marshalFields(w)
	w.U8(uint8(s.provenance))
}

func (s *inboundData) marshalFields(w *pickle.Writer) {
	writeRatchet(w, &s.initial)
	writeRatchet(w, &s.latest)
	w.Bytes(s.signingKey[:])
	w.Bool(s.signatureChecked)
}

// unmarshalInboundGroupSession reads an inbound layout: libolm's versions 1
// and 2, and with own also version 3 of souverain's format. Versions 1 and 2
// carry no provenance and give ProvenanceUnknown, whatever their verified
// flag says: the flag becomes true after any decryption, so it proves
// nothing about the session's origin.
func unmarshalInboundGroupSession(body []byte, config SessionConfig, own bool) (*InboundGroupSession, error) {
	st := &inboundState{}
	if err := unmarshalInbound(body, config, own, &st.d); err != nil {
		return nil, err
	}
	return &InboundGroupSession{st: st}, nil
}

// unmarshalInbound reads an inbound layout into s, a new session's state.
func unmarshalInbound(body []byte, config SessionConfig, own bool, s *inboundData) error {
	r := pickle.NewReader(body)
	v := r.U32()
	if r.Err() == nil && v != 1 && v != libolmInboundVersion && (!own || v != ownInboundVersion) {
		return fmt.Errorf("megolm: unpickle inbound group session: version %d: %w", v, ErrUnknownPickleVersion)
	}
	s.config = config
	readRatchet(r, &s.initial)
	readRatchet(r, &s.latest)
	r.Read(s.signingKey[:])
	s.signatureChecked = true // version 1 had no flag: every key was signed
	if v >= libolmInboundVersion {
		s.signatureChecked = r.Bool()
	}
	if v == ownInboundVersion {
		s.provenance = Provenance(r.U8())
		if r.Err() == nil && !s.provenance.valid() {
			s.clear()
			return fmt.Errorf("megolm: unpickle inbound group session: provenance %d: %w", s.provenance, ErrCorruptedPickle)
		}
	}
	if err := r.Finish(); err != nil {
		s.clear()
		return fmt.Errorf("megolm: unpickle inbound group session: %w", err)
	}
	if s.latest.counter < s.initial.counter {
		// libolm's circular window allows it; this package's linear one
		// does not, so fall back to the initial ratchet.
		s.latest = s.initial
	}
	return nil
}

// checkLatest drops a cached latest ratchet that does not follow from the
// initial one. libolm can store such a cache: it advances its latest
// ratchet before checking a message's MAC, and wraps it past 2^32−1. The
// check costs at most about a thousand hash steps, once per libolm unpickle.
func (s *inboundData) checkLatest() {
	if s.latest.counter == s.initial.counter && s.latest.equal(&s.initial) {
		return
	}
	r := s.initial
	r.advanceTo(s.latest.counter)
	if !r.equal(&s.latest) {
		s.latest = s.initial
	}
	r.clear()
}

// Pickle encrypts the session in souverain's own pickle format under a
// 32-byte key. Use UnpickleGroupSession to read it back.
func (s *GroupSession) Pickle(key []byte) (string, error) {
	st, err := s.lock("pickle")
	if err != nil {
		return "", err
	}
	defer st.mu.Unlock()
	return ownPickle(key, kindOutbound, st.config, st.marshal)
}

// PickleLibolm encrypts the session in libolm's pickle format under a key of
// any length. A version 2 session gives an error wrapping ErrSessionConfig.
func (s *GroupSession) PickleLibolm(key []byte) (string, error) {
	st, err := s.lock("pickle")
	if err != nil {
		return "", err
	}
	defer st.mu.Unlock()
	return libolmPickle(key, st.config, st.marshal)
}

// UnpickleGroupSession decrypts a session pickled with Pickle. Errors wrap
// ErrPickleKeySize, ErrBadPickleKey, ErrCorruptedPickle or
// ErrUnknownPickleVersion; when the input looks like another kind of
// pickle (libolm's format, or an inbound session), the error says so.
func UnpickleGroupSession(text string, key []byte) (*GroupSession, error) {
	var s *GroupSession
	var parseErr error
	err := ownOpen(key, kindOutbound, text, func(body []byte, config SessionConfig) error {
		s, parseErr = unmarshalGroupSession(body, config)
		return parseErr
	})
	switch {
	case parseErr != nil:
		return nil, pickleError("", parseErr, text, ownOutbound)
	case err != nil:
		return nil, pickleError("unpickle group session", err, text, ownOutbound)
	}
	return s, nil
}

// UnpickleLibolmGroupSession decrypts an outbound session pickled by libolm
// or by PickleLibolm. Errors are those of UnpickleGroupSession.
func UnpickleLibolmGroupSession(text string, key []byte) (*GroupSession, error) {
	var s *GroupSession
	var parseErr error
	err := pickle.OpenLibolm(key, text, func(body []byte) error {
		s, parseErr = unmarshalGroupSession(body, SessionConfigV1())
		return parseErr
	})
	switch {
	case parseErr != nil:
		return nil, pickleError("", parseErr, text, libolmOutbound)
	case err != nil:
		return nil, pickleError("unpickle libolm group session", err, text, libolmOutbound)
	}
	return s, nil
}

// pickleForm is one of the four pickles of this package, told apart by
// their decoded length.
type pickleForm int

const (
	notMegolm pickleForm = iota
	libolmOutbound
	libolmInbound
	ownOutbound
	ownInbound
)

// pickleForms describes each form and names the function that reads it.
var pickleForms = [...]struct{ what, reader string }{
	libolmOutbound: {"a GroupSession pickle in libolm's format", "UnpickleLibolmGroupSession"},
	libolmInbound:  {"an InboundGroupSession pickle in libolm's format", "UnpickleLibolmInboundGroupSession"},
	ownOutbound:    {"a GroupSession pickle in souverain's format", "UnpickleGroupSession"},
	ownInbound:     {"an InboundGroupSession pickle in souverain's format", "UnpickleInboundGroupSession"},
}

// Decoded lengths of the pickles. libolm's: the body padded to AES blocks
// (PKCS#7 adds 1 to 16 bytes) and an 8-byte MAC. Souverain's: version (1),
// nonce (12), the configuration byte and body, and a 16-byte tag.
const (
	outboundBodyLen = 4 + RatchetSize + 4 + 32 + 64  // 232
	inboundBodyLen  = 4 + 2*(RatchetSize+4) + 32 + 1 // 301 (version 2)
	inboundV1Len    = inboundBodyLen - 1             // libolm's version 1: no flag
	inboundV3Len    = inboundBodyLen + 1             // souverain's version 3: provenance
	ownOverhead     = 1 + 12 + 1 + 16                // version, nonce, configuration, tag
)

func libolmLen(body int) int { return body + 16 - body%16 + 8 }

// classifyPickle guesses which pickle text is from its decoded length.
func classifyPickle(text string) pickleForm {
	if len(text) > 4*(inboundV3Len+ownOverhead+2)/3+4 {
		return notMegolm
	}
	raw, err := b64.Decode(text)
	if err != nil || len(raw) == 0 {
		return notMegolm
	}
	defer clear(raw)
	switch n := len(raw); {
	case n == libolmLen(outboundBodyLen):
		return libolmOutbound
	case n == libolmLen(inboundBodyLen) || n == libolmLen(inboundV1Len):
		return libolmInbound
	case raw[0] == 1 && n == outboundBodyLen+ownOverhead:
		return ownOutbound
	case raw[0] == 1 && (n == inboundBodyLen+ownOverhead || n == inboundV3Len+ownOverhead):
		return ownInbound
	}
	return notMegolm
}

// pickleError adds to a failure of the reader of form want what the input
// looks like, when that is another of this package's pickles.
func pickleError(op string, err error, text string, want pickleForm) error {
	if op != "" {
		err = fmt.Errorf("megolm: %s: %w", op, err)
	}
	got := classifyPickle(text)
	if got == notMegolm || got == want {
		return err
	}
	return fmt.Errorf("%w (the input looks like %s: read it with %s)", err, pickleForms[got].what, pickleForms[got].reader)
}

// Pickle encrypts the session in souverain's own pickle format under a
// 32-byte key, with its provenance. Use UnpickleInboundGroupSession to read
// it back.
func (s *InboundGroupSession) Pickle(key []byte) (string, error) {
	st, err := s.lock("pickle")
	if err != nil {
		return "", err
	}
	defer st.mu.Unlock()
	return ownPickle(key, kindInbound, st.d.config, st.d.marshalOwn)
}

// PickleLibolm encrypts the session in libolm's pickle format under a key of
// any length. A version 2 session gives an error wrapping ErrSessionConfig.
//
// libolm's format holds SignatureChecked (libolm's "verified" flag) and no
// provenance: the provenance is lost, and UnpickleLibolmInboundGroupSession
// returns the session with ProvenanceUnknown. An application that stores
// libolm pickles keeps the provenance beside them.
func (s *InboundGroupSession) PickleLibolm(key []byte) (string, error) {
	st, err := s.lock("pickle")
	if err != nil {
		return "", err
	}
	defer st.mu.Unlock()
	return libolmPickle(key, st.d.config, st.d.marshal)
}

// UnpickleInboundGroupSession decrypts a session pickled with Pickle. A
// pickle written before provenance was recorded (layout version 2) gives
// ProvenanceUnknown.
func UnpickleInboundGroupSession(text string, key []byte) (*InboundGroupSession, error) {
	var s *InboundGroupSession
	var parseErr error
	err := ownOpen(key, kindInbound, text, func(body []byte, config SessionConfig) error {
		s, parseErr = unmarshalInboundGroupSession(body, config, true)
		return parseErr
	})
	switch {
	case parseErr != nil:
		return nil, pickleError("", parseErr, text, ownInbound)
	case err != nil:
		return nil, pickleError("unpickle inbound group session", err, text, ownInbound)
	}
	return s, nil
}

// UnpickleLibolmInboundGroupSession decrypts an inbound session pickled by
// libolm (versions 1 and 2) or by PickleLibolm. SignatureChecked is
// libolm's "verified" flag (true for version 1, which predates the flag);
// the provenance is ProvenanceUnknown, since the format has no place for
// it and the flag proves nothing about the session's origin.
func UnpickleLibolmInboundGroupSession(text string, key []byte) (*InboundGroupSession, error) {
	st := &inboundState{}
	var parseErr error
	err := pickle.OpenLibolm(key, text, func(body []byte) error {
		parseErr = unmarshalInbound(body, SessionConfigV1(), false, &st.d)
		return parseErr
	})
	switch {
	case parseErr != nil:
		return nil, pickleError("", parseErr, text, libolmInbound)
	case err != nil:
		return nil, pickleError("unpickle libolm inbound group session", err, text, libolmInbound)
	}
	st.d.checkLatest()
	return &InboundGroupSession{st: st}, nil
}

// ownPickle writes the configuration byte, then the libolm layout, in
// souverain's envelope.
func ownPickle(key []byte, kind string, config SessionConfig, marshal func(*pickle.Writer)) (string, error) {
	w := &pickle.Writer{}
	w.U8(uint8(config.Version()))
	marshal(w)
	defer clear(w.Buf)
	out, err := pickle.Encrypt(key, kind, w.Buf)
	if err != nil {
		return "", fmt.Errorf("megolm: pickle: %w", err)
	}
	return out, nil
}

// ownOpen opens a pickle of souverain's format with pickle.Open and calls
// parse with the layout after the configuration byte and that
// configuration. The body is wiped when parse returns: parse copies what it
// keeps. It returns pickle.Open's errors, one wrapping ErrCorruptedPickle
// for a bad configuration byte, or parse's.
func ownOpen(key []byte, kind, text string, parse func(body []byte, config SessionConfig) error) error {
	return pickle.Open(key, kind, text, func(body []byte) error {
		if len(body) == 0 || (body[0] != 1 && body[0] != 2) {
			return fmt.Errorf("%w: configuration", ErrCorruptedPickle)
		}
		config := SessionConfigV1()
		if body[0] == 2 {
			config = SessionConfigV2()
		}
		return parse(body[1:], config)
	})
}

func libolmPickle(key []byte, config SessionConfig, marshal func(*pickle.Writer)) (string, error) {
	if config.Version() != 1 {
		return "", fmt.Errorf("megolm: pickle for libolm: %w", ErrSessionConfig)
	}
	w := &pickle.Writer{}
	marshal(w)
	defer clear(w.Buf)
	return pickle.EncryptLibolm(key, w.Buf), nil
}
