package keybackup

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// MegolmAlgorithm is the algorithm of the room keys that backups and
// export files carry: megolm.Algorithm.
const MegolmAlgorithm = megolm.Algorithm

// BackedUpSession is the plaintext of a backup's session_data: one Megolm
// room key with what is known about its sender (Matrix specification,
// BackedUpSessionData). SessionKey is secret: formatting a BackedUpSession
// with the fmt package, encoding it with encoding/json or logging it with
// log/slog never prints it. Its wire form, the JSON that a backup's
// session_data encrypts, comes from MarshalPlaintext only.
//
// Nothing in the backup format proves who wrote an entry (see
// BackupAlgorithm), so the sender fields are claims.
type BackedUpSession struct {
	// Algorithm is MegolmAlgorithm ("algorithm").
	Algorithm string
	// ForwardingCurve25519KeyChain lists the Curve25519 keys of the
	// devices that forwarded the key, oldest first
	// ("forwarding_curve25519_key_chain").
	ForwardingCurve25519KeyChain []string
	// SenderClaimedKeys maps "ed25519" to the Ed25519 key of the device
	// that created the session, as claimed ("sender_claimed_keys").
	SenderClaimedKeys map[string]string
	// SenderKey is the Curve25519 identity key of the device that created
	// the session, as claimed ("sender_key", unpadded base64 on the wire).
	SenderKey olm.Curve25519PublicKey
	// SessionKey is the Megolm session in export format (version 1),
	// unpadded base64 ("session_key"). It is secret.
	SessionKey string
	// SharedHistory says the key may be shared with users invited later
	// (Matrix 1.19; "shared_history", written only when true).
	SharedHistory bool
}

// backedUpSessionJSON is the wire form of BackedUpSession, member for
// member in the order other clients write it.
type backedUpSessionJSON struct {
	Algorithm                    string            `json:"algorithm"`
	ForwardingCurve25519KeyChain []string          `json:"forwarding_curve25519_key_chain"`
	SenderClaimedKeys            map[string]string `json:"sender_claimed_keys"`
	SenderKey                    string            `json:"sender_key"`
	SessionKey                   string            `json:"session_key"`
	SharedHistory                bool              `json:"shared_history,omitempty"`
}

func (s *BackedUpSession) wire() backedUpSessionJSON {
	return backedUpSessionJSON{
		Algorithm:                    s.Algorithm,
		ForwardingCurve25519KeyChain: s.ForwardingCurve25519KeyChain,
		SenderClaimedKeys:            s.SenderClaimedKeys,
		SenderKey:                    s.SenderKey.String(),
		SessionKey:                   s.SessionKey,
		SharedHistory:                s.SharedHistory,
	}
}

// session returns the session w describes. An absent sender_key gives the
// zero key, which validate refuses; one that is not a Curve25519 key in
// base64 gives an error wrapping ErrBadFormat.
func (w *backedUpSessionJSON) session() (BackedUpSession, error) {
	var sender olm.Curve25519PublicKey
	if w.SenderKey != "" {
		k, err := olm.ParseCurve25519PublicKey(w.SenderKey)
		if err != nil {
			return BackedUpSession{}, fmt.Errorf("keybackup: sender_key: %w", ErrBadFormat)
		}
		sender = k
	}
	return BackedUpSession{
		Algorithm:                    w.Algorithm,
		ForwardingCurve25519KeyChain: w.ForwardingCurve25519KeyChain,
		SenderClaimedKeys:            w.SenderClaimedKeys,
		SenderKey:                    sender,
		SessionKey:                   w.SessionKey,
		SharedHistory:                w.SharedHistory,
	}, nil
}

// validate checks the fields a restore needs.
func (s *BackedUpSession) validate() error {
	switch {
	case s.Algorithm != MegolmAlgorithm:
		return fmt.Errorf("keybackup: session algorithm %q: %w", s.Algorithm, ErrUnsupportedAlgorithm)
	case s.SessionKey == "":
		return fmt.Errorf("keybackup: session without session_key: %w", ErrBadFormat)
	case s.SenderKey == olm.Curve25519PublicKey{}:
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

// MarshalPlaintext returns the wire form of s, the JSON that a backup's
// session_data encrypts (BackedUpSessionData), with empty lists and maps
// written as [] and {}. The result holds the session key: it is secret.
// The error wraps ErrUnsupportedAlgorithm or ErrBadFormat if s lacks a
// field a restore needs.
func (s *BackedUpSession) MarshalPlaintext() ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("keybackup: session: %w", ErrNil)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	n := s.normalized()
	return json.Marshal(n.wire())
}

// redactedSession is what encoding/json and log/slog see of a session.
type redactedSession struct {
	Algorithm         string            `json:"algorithm"`
	SenderKey         string            `json:"sender_key"`
	SenderClaimedKeys map[string]string `json:"sender_claimed_keys"`
	Forwarded         int               `json:"forwarded"`
	SessionKey        string            `json:"session_key"`
}

const redacted = "<secret>"

// MarshalJSON writes a description of s without its session key (which
// reads "<secret>"), so that a session put into a log or an API response by
// encoding/json does not leak. It is not the wire form: use
// MarshalPlaintext, EncryptSession or EncryptKeyExport for that.
func (s BackedUpSession) MarshalJSON() ([]byte, error) {
	return json.Marshal(redactedSession{s.Algorithm, s.SenderKey.String(), s.SenderClaimedKeys, len(s.ForwardingCurve25519KeyChain), redacted})
}

// UnmarshalJSON decodes the wire form (BackedUpSessionData), as
// DecryptSession does. It does not check the fields.
func (s *BackedUpSession) UnmarshalJSON(data []byte) error {
	if s == nil {
		return fmt.Errorf("keybackup: session: %w", ErrNil)
	}
	var w backedUpSessionJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	v, err := w.session()
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// LogValue describes s for log/slog without its session key.
func (s BackedUpSession) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("algorithm", s.Algorithm),
		slog.String("sender_key", s.SenderKey.String()),
		slog.Any("sender_claimed_keys", s.SenderClaimedKeys),
		slog.Int("forwarded", len(s.ForwardingCurve25519KeyChain)),
		slog.String("session_key", redacted))
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
// Its SessionKey is secret: fmt, encoding/json and log/slog never print it.
// Its wire form comes from MarshalPlaintext and MarshalKeyExport only.
type ExportedSession struct {
	BackedUpSession
	// RoomID is the room the session belongs to ("room_id").
	RoomID string
	// SessionID is the Megolm session ID ("session_id").
	SessionID string
}

// exportedSessionJSON is the wire form of ExportedSession.
type exportedSessionJSON struct {
	backedUpSessionJSON
	RoomID    string `json:"room_id"`
	SessionID string `json:"session_id"`
}

// MarshalPlaintext returns the wire form of e, one element of the JSON
// list that a key export file encrypts (ExportedSessionData). The result
// holds the session key: it is secret. The error wraps
// ErrUnsupportedAlgorithm or ErrBadFormat if e lacks a field an import
// needs.
func (e *ExportedSession) MarshalPlaintext() ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("keybackup: exported session: %w", ErrNil)
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	n := e.BackedUpSession.normalized()
	return json.Marshal(exportedSessionJSON{n.wire(), e.RoomID, e.SessionID})
}

// MarshalKeyExport returns the JSON list of sessions that a key export file
// encrypts, as EncryptKeyExport writes it. The result holds the session
// keys: it is secret. The error names the first session that lacks a field
// an import needs.
func MarshalKeyExport(sessions []ExportedSession) ([]byte, error) {
	list := make([]exportedSessionJSON, len(sessions))
	for i := range sessions {
		e := &sessions[i]
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("keybackup: key export: session %d: %w", i, err)
		}
		n := e.BackedUpSession.normalized()
		list[i] = exportedSessionJSON{n.wire(), e.RoomID, e.SessionID}
	}
	pt, err := json.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("keybackup: key export: %w: %v", ErrBadFormat, err)
	}
	return pt, nil
}

// MarshalJSON writes a description of e without its session key, as
// BackedUpSession.MarshalJSON does. It is not the wire form: use
// MarshalPlaintext or MarshalKeyExport for that.
func (e ExportedSession) MarshalJSON() ([]byte, error) {
	s := e.BackedUpSession
	return json.Marshal(struct {
		RoomID    string `json:"room_id"`
		SessionID string `json:"session_id"`
		redactedSession
	}{e.RoomID, e.SessionID, redactedSession{s.Algorithm, s.SenderKey.String(), s.SenderClaimedKeys, len(s.ForwardingCurve25519KeyChain), redacted}})
}

// UnmarshalJSON decodes the wire form (ExportedSessionData), as
// DecryptKeyExport does. It does not check the fields.
func (e *ExportedSession) UnmarshalJSON(data []byte) error {
	if e == nil {
		return fmt.Errorf("keybackup: exported session: %w", ErrNil)
	}
	var w exportedSessionJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	v, err := w.session()
	if err != nil {
		return err
	}
	*e = ExportedSession{BackedUpSession: v, RoomID: w.RoomID, SessionID: w.SessionID}
	return nil
}

// LogValue describes e for log/slog without its session key.
func (e ExportedSession) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("room_id", e.RoomID),
		slog.String("session_id", e.SessionID),
		slog.Any("session", e.BackedUpSession.LogValue()))
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
