package machine

import (
	"fmt"

	"github.com/souverain/e2ee/olm"
)

// ownMaster is our own master key as the verifications use it.
type ownMaster struct {
	key     olm.Ed25519PublicKey
	trusted bool
}

// ownMaster works out our own master key and whether we trust it: the
// published key (pinned by the last query of our own user) is trusted if
// we hold its private key, if the last query found it trusted (signed by a
// device of ours that we verified), or if we verified it ourselves (our
// other device sent it in a verification's MAC). Before any query found a
// published key, the key whose private key we hold is ours and trusted (a
// bootstrap whose upload has not yet come back in a query): the other side
// verifies only a master key it pinned itself, so this can verify nothing
// it did not already know.
func (t *txn) ownMaster() (ownMaster, error) {
	var id identityState
	if _, err := t.getValue(NSIdentities, t.m.userID, &id); err != nil {
		return ownMaster{}, err
	}
	ks, err := t.privateKeys()
	if err != nil {
		return ownMaster{}, err
	}
	var held *olm.Ed25519PublicKey
	if ks != nil {
		if ks.Master != nil {
			k := ks.Master.PublicKey()
			held = &k
		}
		ks.Close()
	}
	if id.Master == "" {
		if held != nil {
			return ownMaster{key: *held, trusted: true}, nil
		}
		return ownMaster{}, nil
	}
	pub, err := olm.ParseEd25519PublicKey(id.Master)
	if err != nil {
		return ownMaster{}, fmt.Errorf("%w: our pinned master key: %v", ErrCorruptedStore, err)
	}
	trusted := held != nil && *held == pub || id.Verified || id.VerifiedMaster == id.Master
	return ownMaster{key: pub, trusted: trusted}, nil
}

// setOwnMaster hands our master key to the verifications. A key that our
// device ID spells is refused there, and reported.
func (m *Machine) setOwnMaster(o ownMaster) {
	if err := m.verif.sas.SetMasterKey(o.key, o.trusted); err != nil {
		m.notice(Notice{UserID: m.userID, DeviceID: m.deviceID, Err: err})
	}
}
