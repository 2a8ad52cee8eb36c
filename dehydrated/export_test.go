package dehydrated

import "github.com/souverain/e2ee/olm"

// SessionsWith returns how many Olm sessions r keeps with the sender key.
func SessionsWith(r *Rehydrated, senderKey olm.Curve25519PublicKey) int {
	return len(r.sessions[senderKey])
}

// Sessions returns the Olm sessions r keeps with the sender key.
func Sessions(r *Rehydrated, senderKey olm.Curve25519PublicKey) []*olm.Session {
	return r.sessions[senderKey]
}
