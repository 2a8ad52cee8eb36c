package keybackup

// Test hooks: the deterministic twins of the random constructors, and
// shortcuts that skip the PBKDF2 minimum so tests stay fast.

// EncryptFromRandom is BackupPublicKey.Encrypt with the ephemeral private
// key given.
func EncryptFromRandom(p BackupPublicKey, plaintext, random []byte) (*SessionData, error) {
	return p.encrypt(plaintext, random)
}

// EncryptKeyExportWeak is EncryptKeyExport with any round count, for
// benchmarks and tests that would otherwise spend seconds in PBKDF2.
var EncryptKeyExportWeak = encryptKeyExport

// EncryptKeyExportDataWith is EncryptKeyExportData with the salt and IV
// given and no minimum round count.
func EncryptKeyExportDataWith(plaintext []byte, passphrase string, rounds int, salt, iv [16]byte) ([]byte, error) {
	return encryptExportData(plaintext, passphrase, rounds, exportParams{salt: salt, iv: iv})
}

// NewSecretStorageKeyFromPassphraseWeak is
// NewSecretStorageKeyFromPassphrase without the minimum iteration count.
var NewSecretStorageKeyFromPassphraseWeak = newSecretStorageKeyFromPassphrase

// NewSecretStorageKeyWith builds a key from its parts, with the key check
// made with iv (bit 63 is cleared).
func NewSecretStorageKeyWith(id, name string, key []byte, iv [16]byte) *SecretStorageKey {
	return newSecretStorageKey(id, name, key, nil, iv)
}

// EncryptSecretWith is SecretStorageKey.Encrypt with the IV given, used as
// it is (bit 63 may be set).
func (k *SecretStorageKey) EncryptSecretWith(name string, secret []byte, iv [16]byte) (*EncryptedSecret, error) {
	return k.encrypt(name, secret, iv)
}

// SetMaxIterations lowers the cap on iteration counts read from input and
// returns a function that restores it.
func SetMaxIterations(n int) (restore func()) {
	old := maxIterations
	maxIterations = n
	return func() { maxIterations = old }
}

// Base58Encode and Base58Decode expose the codec for differential tests.
var (
	Base58Encode = base58Encode
	Base58Decode = base58Decode
)
