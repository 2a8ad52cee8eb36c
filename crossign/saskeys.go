package crossign

import (
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// SASKeys returns the keys of the user that a sas.Machine pins when a
// verification with one of the user's devices begins (what sas.Config.Keys
// returns), as this evaluation found them usable:
//
//   - Devices: every listed device whose keys object is well formed and
//     self-signed by the Ed25519 key it lists, filed under its own user and
//     device ID. A device whose ID spells one of the user's cross-signing
//     keys is left out (SECURITY 38). Cross-signing by the self-signing key
//     is not required: verifying an unsigned device is what SAS is for.
//   - MasterKey: the master key as published, when well formed. Nothing
//     signs a master key but the user's own devices and other users, so
//     it is not checked further here: a SAS verification is what checks it.
//   - SelfSigningKey and UserSigningKey: only when signed by that master
//     key (the user-signing key is in the report for our own user only).
//     sas uses them to refuse device IDs that collide with them.
//
// Trust (Verified, IdentityChanged) plays no part: SAS pins the keys as
// published, and the verification decides whether they are the user's. A
// nil UserTrust gives zero UserKeys.
func (t *UserTrust) SASKeys() sas.UserKeys {
	out := sas.UserKeys{Devices: map[string]olm.Ed25519PublicKey{}}
	if t == nil {
		return out
	}
	for id, d := range t.Devices {
		if d != nil && d.Device != nil {
			out.Devices[id] = d.Device.Ed25519Key()
		}
	}
	if t.MasterKey != nil {
		out.MasterKey = t.MasterKey.PublicKey()
		if t.SelfSigningKey != nil {
			out.SelfSigningKey = t.SelfSigningKey.PublicKey()
		}
		if t.UserSigningKey != nil {
			out.UserSigningKey = t.UserSigningKey.PublicKey()
		}
	}
	return out
}

// SASKeys returns the keys of userID in the response that a sas.Machine
// pins, with the checks UserTrust.SASKeys describes (self-signatures of
// devices, the master key's signatures on the self-signing and
// user-signing keys); ok is false if the response does not mention the
// user. It evaluates the response without any local trust state: use it
// as sas.Config.Keys for the last /keys/query response of each user.
func (r *QueryResponse) SASKeys(userID string) (keys sas.UserKeys, ok bool) {
	if r == nil || userID == "" || r.users[userID] == nil {
		return sas.UserKeys{}, false
	}
	rep, err := (&Verifier{UserID: userID}).Evaluate(r)
	if err != nil {
		return sas.UserKeys{}, false
	}
	u := rep.User(userID)
	if u == nil {
		return sas.UserKeys{}, false
	}
	return u.SASKeys(), true
}
