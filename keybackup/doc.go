// Package keybackup keeps a Matrix user's room keys and secrets safe when
// devices are lost: server-side key backup, recovery keys, passphrase keys,
// secret storage and key export files, compatible with libolm and
// Element.
//
// # Server-side backup
//
// A backup (m.megolm_backup.v1.curve25519-aes-sha2, BackupAlgorithm) has a
// key pair. Every device encrypts the room keys it receives to the public
// key (BackupPublicKey.EncryptSession, NewBackupEntry); only holders of the
// private BackupKey can decrypt them (BackupKey.DecryptSession, and
// BackupKey.DecryptAll for a whole backup on every core). The public key
// travels in the backup version's AuthData, signed by the user's master
// key and devices: upload only to a backup that passes
// AuthData.CheckTrusted. The algorithm's MAC only shows that the key is
// right (see BackupAlgorithm): restored sessions are unauthenticated.
//
// # Recovery keys and passphrases
//
// Users keep a backup key or a secret storage key as a recovery key
// (EncodeRecoveryKey), or derive it from a passphrase with
// PBKDF2-HMAC-SHA-512 (Passphrase). A typed recovery key is checked against
// what it unlocks (BackupKeyFromRecoveryKey against the backup's public
// key, KeyDescription.UnlockWithRecoveryKey against the key check): its
// parity byte misses about 0.3% of single-character typos, so the
// decoders that only check the format say so in their names
// (DecodeRecoveryKeyUnchecked, BackupKeyFromRecoveryKeyUnchecked).
// Iteration counts read from input are capped at MaxPBKDF2Iterations
// (10^6); new keys use at least MinPBKDF2Iterations (500,000).
//
// Keys (BackupKey, SecretStorageKey) are wiped by Close, after which
// their methods fail with ErrClosed. Session keys never leave through
// fmt, encoding/json or log/slog: the JSON of backups and export files
// comes only from MarshalPlaintext, MarshalKeyExport and the encryptors.
//
// # Secret storage
//
// Secret storage (m.secret_storage.v1.aes-hmac-sha2, "4S") keeps secrets,
// such as the backup key and the private cross-signing keys, encrypted in
// account data. A KeyDescription describes a key and lets a candidate be
// checked; its Unlock methods give a SecretStorageKey, which encrypts and
// decrypts named secrets.
//
// # Key export files
//
// EncryptKeyExport and DecryptKeyExport write and read the
// passphrase-protected files of room keys that Element exports and
// imports.
//
// # Errors
//
// Errors wrap this package's sentinels. Every failure to decrypt a backed-up
// session or a secret gives one error, wrapping ErrBadMAC, whatever failed
// (MAC, padding or the JSON inside), so that a damaged input reveals nothing
// about where it went wrong. MACs and keys are compared in constant time,
// secret material is base64-encoded with a constant-time codec, and hostile
// input yields an error, never a panic.
//
// Specification: https://spec.matrix.org/latest/client-server-api/#server-side-key-backups,
// https://spec.matrix.org/latest/client-server-api/#secrets and
// https://spec.matrix.org/latest/client-server-api/#key-exports.
package keybackup
