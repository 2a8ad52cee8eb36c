package keybackup

import (
	"fmt"

	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// NewBackedUpSession returns the backup form of an inbound group session:
// its key exported at its first known index, with what is known about the
// device that created it (its Curve25519 identity key and claimed Ed25519
// key) and the Curve25519 keys of the devices that forwarded it.
func NewBackedUpSession(s *megolm.InboundGroupSession, senderKey olm.Curve25519PublicKey, senderClaimedKey olm.Ed25519PublicKey, forwardingChain []string) *BackedUpSession {
	chain := append([]string{}, forwardingChain...)
	return &BackedUpSession{
		Algorithm:                    MegolmAlgorithm,
		ForwardingCurve25519KeyChain: chain,
		SenderClaimedKeys:            map[string]string{"ed25519": senderClaimedKey.String()},
		SenderKey:                    senderKey,
		SessionKey:                   s.Export().Encode(),
	}
}

// NewExportedSession returns the key export form of an inbound group
// session of room roomID; see NewBackedUpSession.
func NewExportedSession(roomID string, s *megolm.InboundGroupSession, senderKey olm.Curve25519PublicKey, senderClaimedKey olm.Ed25519PublicKey, forwardingChain []string) ExportedSession {
	return ExportedSession{
		BackedUpSession: *NewBackedUpSession(s, senderKey, senderClaimedKey, forwardingChain),
		RoomID:          roomID,
		SessionID:       s.SessionID(),
	}
}

// InboundGroupSession imports the session key into a Megolm inbound
// session with provenance megolm.ProvenanceBackup. Nothing proves who wrote
// a backed-up key (anyone who knows the backup's public key can write an
// entry naming any sender), so the provenance never rises above backup,
// whatever messages later decrypt; SignatureChecked is false until one
// does. Errors wrap ErrUnsupportedAlgorithm or ErrBadFormat.
func (s *BackedUpSession) InboundGroupSession() (*megolm.InboundGroupSession, error) {
	return s.inboundGroupSession(megolm.ProvenanceBackup)
}

func (s *BackedUpSession) inboundGroupSession(p megolm.Provenance) (*megolm.InboundGroupSession, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	k, err := megolm.ParseExportedSessionKey(s.SessionKey)
	if err != nil {
		return nil, fmt.Errorf("keybackup: session key: %w: %v", ErrBadFormat, err)
	}
	igs, err := megolm.ImportInboundGroupSessionFrom(k, p)
	if err != nil {
		return nil, fmt.Errorf("keybackup: session key: %w: %v", ErrBadFormat, err)
	}
	return igs, nil
}

// InboundGroupSession imports the session key of a key export file entry
// into a Megolm inbound session, with provenance megolm.ProvenanceExport,
// as BackedUpSession.InboundGroupSession does, and checks that its session
// ID is the one the entry names (else ErrBadFormat).
func (e *ExportedSession) InboundGroupSession() (*megolm.InboundGroupSession, error) {
	igs, err := e.BackedUpSession.inboundGroupSession(megolm.ProvenanceExport)
	if err != nil {
		return nil, err
	}
	if igs.SessionID() != e.SessionID {
		return nil, fmt.Errorf("keybackup: session_id %q does not match the session key: %w", e.SessionID, ErrBadFormat)
	}
	return igs, nil
}
