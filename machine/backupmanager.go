package machine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/souverain/e2ee/keybackup"
)

// BackupCreation is a new server-side key backup made by
// CreateBackupVersion.
type BackupCreation struct {
	// Body is the body of POST /_matrix/client/v3/room_keys/version:
	// algorithm m.megolm_backup.v1.curve25519-aes-sha2 and auth_data with
	// the backup's public key, signed by this device and, when this device
	// holds it, our master cross-signing key.
	Body json.RawMessage
	// PublicKey is the backup's public key.
	PublicKey keybackup.BackupPublicKey
	// RecoveryKey is the backup key as a recovery key, for a user who
	// keeps the backup key outside secret storage. It is secret.
	RecoveryKey string
	// AccountData holds the PUT that stores the backup key in secret
	// storage (m.megolm_backup.v1), encrypted to its default key, when
	// secret storage is open; nil otherwise. Send it after the POST of
	// Body succeeded: before, it would replace in secret storage the key
	// of the backup in use with one no backup has.
	AccountData []AccountDataPut
}

// String describes the backup by its public key, never printing the
// recovery key.
func (c BackupCreation) String() string {
	return "machine.BackupCreation{public key: " + c.PublicKey.String() + ", recovery key: <secret>}"
}

// GoString is String, so that %#v does not print the recovery key either.
func (c BackupCreation) GoString() string { return c.String() }

// Format writes String for every verb and flag.
func (c BackupCreation) Format(f fmt.State, verb rune) { fmt.Fprint(f, c.String()) }

// LogValue describes the backup for log/slog as String does.
func (c BackupCreation) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON encodes the body, public key and account data, never the
// recovery key.
func (c BackupCreation) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Body        json.RawMessage
		PublicKey   keybackup.BackupPublicKey
		AccountData []AccountDataPut
	}{c.Body, c.PublicKey, c.AccountData})
}

// valueBackupPending holds (NSValues) the backupPendingState of the
// backup version CreateBackupVersion made last, until SetBackupVersion
// accepts it.
const valueBackupPending = "backup_pending"

// backupPendingState is the key of a backup version made by
// CreateBackupVersion that the server has not yet been seen to hold.
type backupPendingState struct {
	// Key is the backup key in its secret form.
	Key string `json:"key"`
}

// CreateBackupVersion starts a new server-side key backup: it generates a
// backup key and returns the body that creates the backup version. The
// machine never does this by itself (SECURITY 44: the backup algorithm
// authenticates nothing): the application switches the backup on.
//
// Send Body, then pass the version the server assigned to
// SetBackupVersion (the body of GET /_matrix/client/v3/room_keys/version,
// or BackupCreation.VersionBody with the POST's answer): it accepts the
// version, since this device holds its key and signed it, and every room
// key goes to it from then on through BackupRequest. Until then room keys
// still go to the backup version set before, if any, and the new key is
// pending: kept in the store (sealed like every secret, so it survives a
// restart), but not yet the secret m.megolm_backup.v1, which still holds
// the key of the backup before. SetBackupVersion with the new version
// makes it the secret (as SetSecret does); a POST that fails or is
// abandoned so costs this device nothing, and the next
// CreateBackupVersion replaces the pending key.
func (m *Machine) CreateBackupVersion(ctx context.Context) (*BackupCreation, error) {
	bk, err := keybackup.GenerateBackupKey()
	if err != nil {
		return nil, err
	}
	defer bk.Close()
	var out *BackupCreation
	err = m.update(ctx, func(t *txn) error {
		a, err := t.account()
		if err != nil {
			return err
		}
		if err := t.putValue(NSValues, valueBackupPending, backupPendingState{Key: bk.Encode()}); err != nil {
			return err
		}
		ad := keybackup.NewAuthData(bk.PublicKey())
		if err := ad.Sign(t.m.userID, t.m.deviceID, a.Sign); err != nil {
			return err
		}
		ks, err := t.privateKeys()
		if err != nil {
			return err
		}
		defer ks.Close()
		if ks != nil && ks.Master != nil {
			if err := ad.SignWith(t.m.userID, ks.Master); err != nil {
				return err
			}
		}
		body, err := (&keybackup.BackupVersion{Algorithm: keybackup.BackupAlgorithm, AuthData: ad}).MarshalJSON()
		if err != nil {
			return err
		}
		out = &BackupCreation{Body: body, PublicKey: bk.PublicKey(), RecoveryKey: bk.RecoveryKey()}
		out.AccountData, err = t.secretStoragePutsOf(nil, []string{keybackup.SecretMegolmBackup}, func(string) (string, bool, error) {
			return bk.Encode(), true, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VersionBody returns the backup version as GET
// /_matrix/client/v3/room_keys/version would describe it, from the
// server's answer to the POST of Body ({"version": "..."}), for
// SetBackupVersion. The error wraps ErrBadResponse if the answer has no
// version.
func (c *BackupCreation) VersionBody(postResponse []byte) ([]byte, error) {
	var r struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(postResponse, &r); err != nil || r.Version == "" {
		return nil, fmt.Errorf("%w: room_keys/version: no version", ErrBadResponse)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(c.Body, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", errInternal, err)
	}
	v["version"], _ = json.Marshal(r.Version)
	return json.Marshal(v)
}

// RestoreOptions configure RestoreBackup.
type RestoreOptions struct {
	// Version is the body of GET /_matrix/client/v3/room_keys/version for
	// the backup version the keys come from. If set, the restore is
	// refused unless the backup key is that version's key, and the
	// restored sessions count as backed up in it (they are not uploaded
	// to it again). If nil, the restored sessions count as not backed up:
	// they are uploaded again to the backup version set, where the server
	// keeps the best copy.
	Version []byte
	// Progress, if not nil, is called as entries are decrypted, with the
	// number done and the total (keybackup.DecryptAllOptions.Progress).
	Progress func(done, total int)
}

// RestoreBackup restores the room keys of a server-side key backup: keys
// is the body of GET /_matrix/client/v3/room_keys/keys (the caller bounds
// its size), key the backup key: from the backup's recovery key
// (keybackup.BackupKeyFromRecoveryKey), or from BackupKey once this device
// holds the secret m.megolm_backup.v1, which opening secret storage with
// the user's recovery key or passphrase imports
// (OpenSecretStorageWithRecoveryKey, OpenSecretStorageWithPassphrase) and
// our other devices can send (RequestMissingSecrets). Every entry is
// decrypted with (*keybackup.BackupKey).DecryptAll, on every core, and
// the sessions are stored in one transaction with provenance
// ProvenanceBackup: they are never shown as verified, since anyone who
// knows the backup's public key can write entries (SECURITY 44), and they
// never replace a session received directly.
//
// In the result, Errors holds the entries that did not decrypt or were
// refused, by their index in the order of keybackup.ParseRoomKeys (sorted
// by room and session ID). A key that is not the key of opts.Version
// gives an error wrapping ErrUntrustedBackup, before any work; a nil key,
// ErrBadOptions; a ctx cancelled during the decryption, its error, with
// nothing imported.
func (m *Machine) RestoreBackup(ctx context.Context, key *keybackup.BackupKey, keys []byte, opts RestoreOptions) (*ImportResult, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil backup key", ErrBadOptions)
	}
	var from *backupState
	if opts.Version != nil {
		v, err := keybackup.ParseBackupVersion(opts.Version)
		if err != nil {
			return nil, fmt.Errorf("%w: backup version: %v", ErrBadResponse, err)
		}
		if v.Version == "" {
			return nil, fmt.Errorf("%w: backup version without version", ErrBadResponse)
		}
		if err := key.Matches(v.AuthData.PublicKey); err != nil {
			return nil, fmt.Errorf("machine: restore from backup version %s: %w: %w", v.Version, ErrUntrustedBackup, err)
		}
		from = &backupState{Version: v.Version, PublicKey: v.AuthData.PublicKey.String()}
	}
	entries, err := keybackup.ParseRoomKeys(keys)
	if err != nil {
		return nil, fmt.Errorf("%w: room_keys/keys: %v", ErrBadResponse, err)
	}
	results := key.DecryptAll(ctx, entries, &keybackup.DecryptAllOptions{Progress: opts.Progress})
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("machine: restore: %w", err)
	}
	var sessions []keybackup.ExportedSession
	var index []int // sessions[i] is entries[index[i]]
	failed := map[int]error{}
	for i, r := range results {
		if r.Err != nil {
			failed[i] = fmt.Errorf("%w: %w", ErrMalformedEvent, r.Err)
			continue
		}
		sessions = append(sessions, keybackup.ExportedSession{BackedUpSession: *r.Session, RoomID: r.RoomID, SessionID: r.SessionID})
		index = append(index, i)
	}
	out := &ImportResult{}
	err = m.update(ctx, func(t *txn) error {
		*out = ImportResult{Errors: map[int]error{}}
		for i, e := range failed {
			out.Errors[i] = e
		}
		// Backed up in the version restored from, if it is the one set
		// (or, if none is set, once it is).
		backedUp := false
		if from != nil {
			var cur backupState
			ok, err := t.getValue(NSValues, "backup", &cur)
			if err != nil {
				return err
			}
			switch {
			case ok:
				backedUp = cur == *from
			default:
				backedUp = true
				if err := t.putValue(NSValues, "backup_restored", *from); err != nil {
					return err
				}
			}
		}
		o, err := t.importSessions(sessions, ProvenanceBackup)
		if err != nil {
			return err
		}
		out.Imported, out.Retry = o.imported, o.retry
		for i, e := range o.errors {
			out.Errors[index[i]] = e
		}
		if backedUp {
			return nil
		}
		for _, k := range o.stored {
			r, err := t.tx.InboundGroupSession(k[0], k[1])
			if err != nil {
				return storeErr(err)
			}
			if r.BackedUp {
				r.BackedUp = false
				if err := storeErr(t.tx.PutInboundGroupSession(r)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// BackupStatus is the server-side key backup version room keys go to.
type BackupStatus struct {
	// Version is the server's ID of the backup version.
	Version string
	// PublicKey is the backup's public key.
	PublicKey keybackup.BackupPublicKey
	// KeyHeld reports that this device holds the backup's private key (the
	// secret m.megolm_backup.v1), so that it can restore from it.
	KeyHeld bool
}

// Backup returns the backup version set with SetBackupVersion, or nil if
// none is set (the backup is off).
func (m *Machine) Backup(ctx context.Context) (*BackupStatus, error) {
	var out *BackupStatus
	err := m.view(ctx, func(t *txn) error {
		out = nil
		var b backupState
		ok, err := t.getValue(NSValues, "backup", &b)
		if err != nil || !ok {
			return err
		}
		pub, err := keybackup.ParseBackupPublicKey(b.PublicKey)
		if err != nil {
			return fmt.Errorf("%w: backup public key", ErrCorruptedStore)
		}
		out = &BackupStatus{Version: b.Version, PublicKey: pub}
		var secret string
		if ok, err := t.getValue(NSSecrets, keybackup.SecretMegolmBackup, &secret); err != nil {
			return err
		} else if ok {
			if k, err := keybackup.ParseBackupKey(secret); err == nil {
				out.KeyHeld = k.Matches(pub) == nil
				k.Close()
			}
		}
		return nil
	})
	return out, err
}

// BackupKey returns the backup key this device holds (the secret
// m.megolm_backup.v1: from CreateBackupVersion, secret storage, another
// of our devices, or SetSecret), to restore with RestoreBackup. The key
// is secret: Close it after use. Without one, the error wraps ErrNotFound.
func (m *Machine) BackupKey(ctx context.Context) (*keybackup.BackupKey, error) {
	var out *keybackup.BackupKey
	err := m.view(ctx, func(t *txn) error {
		var secret string
		ok, err := t.getValue(NSSecrets, keybackup.SecretMegolmBackup, &secret)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: no backup key held", ErrNotFound)
		}
		out, err = keybackup.ParseBackupKey(secret)
		if err != nil {
			return fmt.Errorf("%w: backup key: %v", ErrCorruptedStore, err)
		}
		return nil
	})
	return out, err
}
