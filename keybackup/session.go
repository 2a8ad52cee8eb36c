package keybackup

import (
	"encoding/json"
	"fmt"
)

// MegolmAlgorithm is the algorithm of the room keys that backups and
// export files carry.
const MegolmAlgorithm = "m.megolm.v1.aes-sha2"

// BackedUpSession is the plaintext of a backup's session_data: one Megolm
// room key with what is known about its sender (Matrix specification,
// BackedUpSessionData). SessionKey is secret; formatting a BackedUpSession
// with the fmt package never prints it.
//
// Nothing in the backup format proves who wrote an entry (see
// BackupAlgorithm), so the sender fields are claims.
type BackedUpSession struct {
	// Algorithm is MegolmAlgorithm.
	Algorithm string `json:"algorithm"`
	// ForwardingCurve25519KeyChain lists the Curve25519 keys of the
	// devices that forwarded the key, oldest first.
	ForwardingCurve25519KeyChain []string `json:"forwarding_curve25519_key_chain"`
	// SenderClaimedKeys maps "ed25519" to the Ed25519 key of the device
	// that created the session, as claimed.
	SenderClaimedKeys map[string]string `json:"sender_claimed_keys"`
	// SenderKey is the Curve25519 identity key of the device that created
	// the session, unpadded base64.
	SenderKey string `json:"sender_key"`
	// SessionKey is the Megolm session in export format (version 1),
	// unpadded base64. It is secret.
	SessionKey string `json:"session_key"`
	// SharedHistory says the key may be shared with users invited later
	// (Matrix 1.19).
	SharedHistory bool `json:"shared_history,omitempty"`
}

// validate checks the fields a restore needs.
func (s *BackedUpSession) validate() error {
	switch {
	case s.Algorithm != MegolmAlgorithm:
		return fmt.Errorf("keybackup: session algorithm %q: %w", s.Algorithm, ErrUnsupportedAlgorithm)
	case s.SessionKey == "":
		return fmt.Errorf("keybackup: session without session_key: %w", ErrBadFormat)
	case s.SenderKey == "":
		return fmt.Errorf("keybackup: session without sender_key: %w", ErrBadFormat)
	}
	return nil
}

// normalized returns a copy with empty lists and maps instead of nil, which
// other clients expect in the JSON.
func (s BackedUpSession) normalized() BackedUpSession {
	if s.ForwardingCurve25519KeyChain == nil {
		s.ForwardingCurve25519KeyChain = []string{}
	}
	if s.SenderClaimedKeys == nil {
		s.SenderClaimedKeys = map[string]string{}
	}
	return s
}

// marshal validates s and returns its JSON.
func (s *BackedUpSession) marshal() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(s.normalized())
}

// String describes the session without its key.
func (s BackedUpSession) String() string {
	return fmt.Sprintf("keybackup.BackedUpSession{algorithm: %s, sender_key: %s, sender_claimed_keys: %v, forwarded: %d, session_key: <secret>}",
		s.Algorithm, s.SenderKey, s.SenderClaimedKeys, len(s.ForwardingCurve25519KeyChain))
}

// GoString is String, so that %#v does not print the key either.
func (s BackedUpSession) GoString() string { return s.String() }

// Format writes String for every verb and flag.
func (s BackedUpSession) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.String()) }

// ExportedSession is one entry of a key export file: a BackedUpSession with
// the room and session IDs (Matrix specification, ExportedSessionData).
// Its SessionKey is secret; formatting never prints it.
type ExportedSession struct {
	BackedUpSession
	// RoomID is the room the session belongs to.
	RoomID string `json:"room_id"`
	// SessionID is the Megolm session ID.
	SessionID string `json:"session_id"`
}

// validate checks the fields an import needs.
func (e *ExportedSession) validate() error {
	if err := e.BackedUpSession.validate(); err != nil {
		return err
	}
	if e.RoomID == "" || e.SessionID == "" {
		return fmt.Errorf("keybackup: exported session without room_id or session_id: %w", ErrBadFormat)
	}
	return nil
}

// String describes the session without its key.
func (e ExportedSession) String() string {
	return fmt.Sprintf("keybackup.ExportedSession{room_id: %s, session_id: %s, sender_key: %s, session_key: <secret>}",
		e.RoomID, e.SessionID, e.SenderKey)
}

// GoString is String, so that %#v does not print the key either.
func (e ExportedSession) GoString() string { return e.String() }

// Format writes String for every verb and flag.
func (e ExportedSession) Format(f fmt.State, verb rune) { fmt.Fprint(f, e.String()) }
