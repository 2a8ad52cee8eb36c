package machine

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/souverain/e2ee/olm"
)

var ctx0 = context.Background()

// DeviceGen returns m's in-memory device generation, for tests.
func DeviceGen(m *Machine) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deviceGen
}

// PutNormalHash records the hash of a decrypted Olm normal message, as
// decryption does, for tests of the bound on their number.
func PutNormalHash(m *Machine, hash string) error {
	return m.update(ctx0, func(t *txn) error { return t.putNormalHash("normal\x00" + hash) })
}

// MaxNormalHashes is maxNormalHashes, for tests.
const MaxNormalHashes = maxNormalHashes

// IdentityOf returns what m stores of a user's cross-signing identity, for
// tests.
func IdentityOf(m *Machine, userID string) (master, verifiedMaster string, verified bool) {
	var id identityState
	m.view(context.Background(), func(t *txn) error {
		_, err := t.getValue(NSIdentities, userID, &id)
		return err
	})
	return id.Master, id.VerifiedMaster, id.Verified
}

// DeviceCrossSigned reports whether m's record of a device says it is
// cross-signed, for tests.
func DeviceCrossSigned(m *Machine, userID, deviceID string) bool {
	var ok bool
	m.view(context.Background(), func(t *txn) error {
		d, err := t.device(userID, deviceID)
		ok = d != nil && d.CrossSigned
		return err
	})
	return ok
}

// VerifierKeyUsers returns how many users the verifications' key snapshot
// holds, for tests.
func VerifierKeyUsers(m *Machine) int {
	m.verif.mu.Lock()
	defer m.verif.mu.Unlock()
	return len(m.verif.keys)
}

// CopyDeviceObject overwrites m's stored device object of (userID, to)
// with the one of (userID, from), as a corrupted or tampered store might,
// for tests.
func CopyDeviceObject(m *Machine, userID, from, to string) error {
	return m.update(context.Background(), func(t *txn) error {
		src, err := t.device(userID, from)
		if err != nil {
			return err
		}
		dst, err := t.device(userID, to)
		if err != nil {
			return err
		}
		dst.Keys = src.Keys
		return t.putDevice(dst)
	})
}

// SetMasterObject overwrites m's stored master key object of userID with
// raw, as a corrupted or tampered store might, for tests.
func SetMasterObject(m *Machine, userID string, raw json.RawMessage) error {
	return m.update(context.Background(), func(t *txn) error {
		var id identityState
		if _, err := t.getValue(NSIdentities, userID, &id); err != nil {
			return err
		}
		id.MasterJSON = raw
		return t.putValue(NSIdentities, userID, id)
	})
}

// RehydrationWiped reports whether the dehydrated account of r was wiped,
// for tests.
func RehydrationWiped(r *Rehydration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.dev.Account().Pickle(make([]byte, 32))
	return errors.Is(err, olm.ErrClosed)
}

// MaxOlmPerSender is maxOlmPerSender, for tests.
const MaxOlmPerSender = maxOlmPerSender

// OlmSessionsStored returns how many Olm sessions m's store holds with
// senderKey, for tests.
func OlmSessionsStored(m *Machine, senderKey string) int {
	n := 0
	m.view(ctx0, func(t *txn) error {
		recs, err := t.tx.OlmSessions(senderKey)
		n = len(recs)
		return err
	})
	return n
}
