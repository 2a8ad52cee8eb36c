package sas

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/souverain/e2ee/internal/canonicaljson"
)

// Party names one side of a verification: a user and one of their devices.
type Party struct {
	UserID   string
	DeviceID string
}

// KeyIDsInfo is the last component of the MAC info for the key ID list,
// in place of a key ID.
const KeyIDsInfo = "KEY_IDS"

// SASInfo returns the HKDF info of the curve25519-hkdf-sha256 key agreement
// protocol:
//
//	MATRIX_KEY_VERIFICATION_SAS|<starter user>|<starter device>|<starter key>|<accepter user>|<accepter device>|<accepter key>|<transaction ID>
//
// The starter is the device that sent m.key.verification.start, the
// accepter the one that sent m.key.verification.accept; the keys are their
// ephemeral keys from m.key.verification.key. The transaction ID is the
// to-device transaction_id, or the event ID of the in-room request.
func SASInfo(starter Party, starterKey PublicKey, accepter Party, accepterKey PublicKey, transactionID string) string {
	return strings.Join([]string{
		"MATRIX_KEY_VERIFICATION_SAS",
		starter.UserID, starter.DeviceID, starterKey.String(),
		accepter.UserID, accepter.DeviceID, accepterKey.String(),
		transactionID,
	}, "|")
}

// MACInfo returns the HKDF info of the MAC of one key, or of the key ID
// list when keyID is KeyIDsInfo: the concatenation, without separators, of
// "MATRIX_KEY_VERIFICATION_MAC", the sender's user and device IDs (the
// device sending m.key.verification.mac, whose keys are MACed), the
// receiver's user and device IDs, the transaction ID and keyID (such as
// "ed25519:DEVICEID").
func MACInfo(sender, receiver Party, transactionID, keyID string) string {
	return "MATRIX_KEY_VERIFICATION_MAC" + sender.UserID + sender.DeviceID +
		receiver.UserID + receiver.DeviceID + transactionID + keyID
}

// KeyIDList returns the MAC input for a list of key IDs: the IDs sorted
// lexicographically and joined by commas, e.g.
// "ed25519:Cross+Signing+Key,ed25519:DEVICEID". The argument is not
// modified.
func KeyIDList(keyIDs []string) string {
	s := slices.Clone(keyIDs)
	slices.Sort(s)
	return strings.Join(s, ",")
}

// Commitment returns the commitment an accepting device sends in
// m.key.verification.accept: the unpadded base64 of SHA-256 over its
// ephemeral public key in unpadded base64 followed by the canonical JSON of
// the content of the m.key.verification.start event. startContent is that
// content as JSON text in any form; an error wrapping ErrInvalidEvent means
// it is not JSON that has a canonical form.
func Commitment(key PublicKey, startContent []byte) (string, error) {
	canon, err := canonicaljson.Canonicalize(startContent)
	if err != nil {
		return "", fmt.Errorf("sas: commitment: %w: %v", ErrInvalidEvent, err)
	}
	h := sha256.New()
	h.Write([]byte(key.String()))
	h.Write(canon)
	return base64.RawStdEncoding.EncodeToString(h.Sum(nil)), nil
}
