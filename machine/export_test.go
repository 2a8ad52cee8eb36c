package machine

import "context"

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
