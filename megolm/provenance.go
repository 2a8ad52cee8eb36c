package megolm

import "fmt"

// Provenance says how an inbound session reached this device, and so what
// its input proves about who holds the session's signing key. It is fixed
// when the session is created and never rises afterwards: decrypting
// messages does not change it, and neither does pickling in souverain's own
// format. Levels are ordered, from the one that proves least to the one
// that proves most:
//
//   - ProvenanceUnknown: nothing is known. Sessions read from a libolm
//     pickle (which has no room for it), from a souverain pickle written
//     before provenance was recorded, or imported without saying where the
//     key came from.
//   - ProvenanceBackup: restored from a server-side key backup
//     (m.megolm_backup.v1.curve25519-aes-sha2). Anyone who knows the
//     backup's public key, the server included, can write an entry naming
//     any sender: it proves nothing about who created the session.
//   - ProvenanceExport: read from a key export file. Whoever wrote the file
//     knew its passphrase; the sender fields inside are that writer's claim.
//   - ProvenanceForwarded: received in m.forwarded_room_key over Olm. The
//     Olm session authenticates the forwarding device, which vouches for the
//     original sender; nothing proves that claim.
//   - ProvenanceDirect: created from a SessionKey, whose signature by the
//     session's signing key covers the ratchet. Only the holder of the
//     signing key's private half, the session's creator, can make one, so
//     when the key arrived in m.room_key over Olm, the Olm sender is the
//     creator, and every message that decrypts was signed by that device.
//
// Provenance is a property of the session's signing key, not of its
// ratchet: the ratchet is tied to the signing key by SignatureChecked. The
// application keeps, beside the session, the sender identity each level
// refers to (the Olm sender of m.room_key, or the claims of the forwarded
// key, backup entry or export file) and shows messages of any session below
// ProvenanceDirect as not authenticated.
type Provenance uint8

// Provenances, from the least to the most proven.
const (
	ProvenanceUnknown Provenance = iota
	ProvenanceBackup
	ProvenanceExport
	ProvenanceForwarded
	ProvenanceDirect
)

// String returns the provenance's name: "unknown", "backup", "export",
// "forwarded" or "direct".
func (p Provenance) String() string {
	switch p {
	case ProvenanceUnknown:
		return "unknown"
	case ProvenanceBackup:
		return "backup"
	case ProvenanceExport:
		return "export"
	case ProvenanceForwarded:
		return "forwarded"
	case ProvenanceDirect:
		return "direct"
	}
	return fmt.Sprintf("Provenance(%d)", uint8(p))
}

// valid reports whether p is one of the named provenances.
func (p Provenance) valid() bool { return p <= ProvenanceDirect }
