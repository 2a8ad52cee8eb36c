package megolm

// Test hooks.

var NewGroupSessionFromRandom = newGroupSession

// RatchetBytes returns the ratchet state of an outbound session (for
// comparing advance strategies).
func (s *GroupSession) RatchetBytes() [RatchetSize]byte { return s.st.ratchet.bytes() }

// SetIndex moves an outbound session's ratchet to index with advanceTo.
func (s *GroupSession) SetIndex(index uint32) { s.st.ratchet.advanceTo(index) }

// StepTo moves an outbound session's ratchet to index one step at a time.
func (s *GroupSession) StepTo(index uint32) {
	for s.st.ratchet.counter != index {
		s.st.ratchet.advance()
	}
}

// LatestIndex returns the index of the cached latest ratchet.
func (s *InboundGroupSession) LatestIndex() uint32 { return s.st.d.latest.counter }

// JumpRatchet moves a zero ratchet from 0 to target.
func JumpRatchet(target uint32) [RatchetSize]byte {
	var r ratchet
	r.advanceTo(target)
	return r.bytes()
}

// Wiped reports whether a closed outbound session holds no ratchet and no
// signing key.
func (s *GroupSession) Wiped() bool {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.ratchet == ratchet{} && s.st.signing == nil
}

// Wiped reports whether a closed inbound session holds no ratchet and no
// signing key.
func (s *InboundGroupSession) Wiped() bool {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.d == inboundData{}
}

// Wiped reports whether a key's bytes are all zero.
func (k *SessionKey) Wiped() bool { return k.raw == [sessionKeySize]byte{} }

// Wiped reports whether a key's bytes are all zero.
func (k *ExportedSessionKey) Wiped() bool { return k.raw == [exportedKeySize]byte{} }

// Verifier returns the session's cached verifying key, nil before the first
// Decrypt.
func (s *InboundGroupSession) Verifier() any {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !s.st.verifierDone {
		return nil
	}
	return s.st.verifier
}
