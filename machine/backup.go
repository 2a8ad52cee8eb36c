package machine

import (
	"context"
	"fmt"
	"net/url"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// KindKeysBackup is PUT /_matrix/client/v3/room_keys/keys?version=….
const KindKeysBackup RequestKind = KindSignatureUpload + 1

// ErrUntrustedBackup means a backup version is not signed by our master key
// or one of our verified devices, and its public key is not that of a
// backup key we hold: it may be the server's (SECURITY 45).
var ErrUntrustedBackup = keybackup.ErrUntrusted

// backupState is the backup version room keys go to.
type backupState struct {
	Version   string `json:"version"`
	PublicKey string `json:"public_key"`
}

// backupBatch is an in-flight backup upload.
type backupBatch struct {
	keys [][2]string // room, session
}

// SetBackupVersion sets the server-side key backup that room keys are
// uploaded to, from the body of GET /_matrix/client/v3/room_keys/version.
// The version is used only if its auth_data is signed by our own master
// key (when our identity is trusted) or by one of our verified devices
// (verified by us, or cross-signed by our trusted identity), or
// if its public key is that of the backup key we hold (the secret
// m.megolm_backup.v1, or the pending key of CreateBackupVersion, which then
// becomes that secret); otherwise the error wraps ErrUntrustedBackup and
// nothing changes. When the version or its public key differs from the
// one set before, every room key is marked not backed up (in the same
// transaction), so that BackupRequest uploads it to the new backup.
func (m *Machine) SetBackupVersion(ctx context.Context, body []byte) error {
	v, err := keybackup.ParseBackupVersion(body)
	if err != nil {
		return fmt.Errorf("%w: backup version: %v", ErrBadResponse, err)
	}
	if v.Algorithm != keybackup.BackupAlgorithm || v.AuthData == nil || v.Version == "" {
		return fmt.Errorf("%w: backup algorithm %q", ErrUnknownAlgorithm, v.Algorithm)
	}
	return m.update(ctx, func(t *txn) error {
		a, err := t.account()
		if err != nil {
			return err
		}
		_, ourEd := a.IdentityKeys()
		keys := []keybackup.TrustedKey{keybackup.DeviceSigningKey(t.m.deviceID, ourEd)}
		for dev, k := range t.m.c.acct.Verified {
			if ed, err := olm.ParseEd25519PublicKey(k); err == nil {
				keys = append(keys, keybackup.DeviceSigningKey(dev, ed))
			}
		}
		// Our other devices that our trusted identity cross-signed are
		// verified too (as Devices reports them, and as matrix-rust-sdk
		// trusts their signature on a backup).
		own, err := t.devices(t.m.userID)
		if err != nil {
			return err
		}
		for _, d := range own {
			if !t.ownVerified(d) {
				continue
			}
			if ed, err := olm.ParseEd25519PublicKey(d.Ed); err == nil {
				keys = append(keys, keybackup.DeviceSigningKey(d.DeviceID, ed))
			}
		}
		ks, err := t.privateKeys()
		if err != nil {
			return err
		}
		if ks != nil && ks.Master != nil {
			keys = append(keys, keybackup.MasterSigningKey(ks.Master.PublicKey()))
		} else {
			var id identityState
			if _, err := t.getValue(NSIdentities, t.m.userID, &id); err != nil {
				return err
			}
			if ed, err := olm.ParseEd25519PublicKey(id.Master); err == nil && id.Verified {
				keys = append(keys, keybackup.MasterSigningKey(ed))
			}
		}
		var held *keybackup.BackupKey
		var secret string
		if ok, err := t.getValue(NSSecrets, keybackup.SecretMegolmBackup, &secret); err != nil {
			return err
		} else if ok {
			if held, err = keybackup.ParseBackupKey(secret); err != nil {
				held = nil
			} else {
				defer held.Close()
			}
		}
		// The key of the version CreateBackupVersion made, once the
		// server holds that version: it becomes the secret.
		var pending backupPendingState
		var promote *keybackup.BackupKey
		if ok, err := t.getValue(NSValues, valueBackupPending, &pending); err != nil {
			return err
		} else if ok {
			if k, err := keybackup.ParseBackupKey(pending.Key); err == nil {
				defer k.Close()
				if k.Matches(v.AuthData.PublicKey) == nil {
					promote, held = k, k
				}
			}
		}
		if err := v.AuthData.CheckTrusted(t.m.userID, held, keys...); err != nil {
			return fmt.Errorf("machine: backup version %s: %w", v.Version, err)
		}
		if promote != nil {
			if err := t.putSecret(keybackup.SecretMegolmBackup, promote.Encode()); err != nil {
				return err
			}
			if err := storeErr(t.tx.Delete(NSValues, valueBackupPending)); err != nil {
				return err
			}
		}
		nb := backupState{Version: v.Version, PublicKey: v.AuthData.PublicKey.String()}
		var old backupState
		had, err := t.getValue(NSValues, "backup", &old)
		if err != nil {
			return err
		}
		reset := had && old != nb
		if !had {
			// Sessions restored (RestoreBackup) before any version was
			// set count as backed up in the version they came from.
			var restored backupState
			ok, err := t.getValue(NSValues, "backup_restored", &restored)
			if err != nil {
				return err
			}
			reset = ok && restored != nb
		}
		if reset {
			// Another backup: every session goes to it again.
			if err := storeErr(t.tx.ResetBackedUp()); err != nil {
				return err
			}
		}
		if err := storeErr(t.tx.Delete(NSValues, "backup_restored")); err != nil {
			return err
		}
		return t.putValue(NSValues, "backup", nb)
	})
}

// BackupRequest returns a request that uploads up to max room keys not yet
// in the backup set with SetBackupVersion, encrypted to its public key, or
// nil if there is nothing to upload. MarkRequestSent marks them backed up.
func (m *Machine) BackupRequest(ctx context.Context, max int) (*Request, error) {
	var out *Request
	err := m.update(ctx, func(t *txn) error {
		var b backupState
		ok, err := t.getValue(NSValues, "backup", &b)
		if err != nil || !ok {
			return err
		}
		for _, f := range t.m.inflight {
			if f.backup != nil {
				return nil // one at a time
			}
		}
		pub, err := keybackup.ParseBackupPublicKey(b.PublicKey)
		if err != nil {
			return fmt.Errorf("%w: backup public key", ErrCorruptedStore)
		}
		recs, err := t.tx.InboundGroupSessionsNotBackedUp(max)
		if err != nil {
			return storeErr(err)
		}
		if len(recs) == 0 {
			return nil
		}
		batch := &backupBatch{}
		var entries []keybackup.BackupEntry
		for _, r := range recs {
			s, err := t.inbound(r.RoomID, r.SessionID)
			if err != nil {
				return err
			}
			if s == nil {
				continue
			}
			sk, _ := olm.ParseCurve25519PublicKey(s.state.SenderKey)
			ed, _ := olm.ParseEd25519PublicKey(s.state.SenderEd25519)
			var chain []string
			if s.state.ForwardedBy != "" {
				chain = []string{s.state.ForwardedBy}
			}
			bs := keybackup.NewBackedUpSession(s.s, sk, ed, chain)
			bs.SharedHistory = s.state.SharedHistory
			e, err := pub.NewBackupEntry(r.RoomID, r.SessionID, bs, s.s.FirstKnownIndex(), s.state.Provenance == ProvenanceDirect)
			if err != nil {
				return err
			}
			entries = append(entries, e)
			batch.keys = append(batch.keys, [2]string{r.RoomID, r.SessionID})
		}
		body, err := keybackup.MarshalRoomKeys(entries)
		if err != nil {
			return err
		}
		r := Request{ID: newID(), Kind: KindKeysBackup, Method: "PUT",
			Path: "/_matrix/client/v3/room_keys/keys?version=" + url.QueryEscape(b.Version), Body: body}
		t.addInflight(&inflight{req: r, backup: batch})
		out = &r
		return nil
	})
	return out, err
}

// handleBackup marks the uploaded sessions backed up.
func (t *txn) handleBackup(b *backupBatch) error {
	if bt, ok := t.tx.(BatchTx); ok {
		keys := make([]InboundGroupSessionKey, len(b.keys))
		for i, k := range b.keys {
			keys[i] = InboundGroupSessionKey{RoomID: k[0], SessionID: k[1]}
		}
		recs, err := bt.InboundGroupSessionsByID(keys)
		if err != nil {
			return storeErr(err)
		}
		for _, k := range keys {
			r, ok := recs[k]
			if !ok || r.BackedUp {
				continue
			}
			r.BackedUp = true
			if err := t.tx.PutInboundGroupSession(r); err != nil {
				return storeErr(err)
			}
		}
		return nil
	}
	for _, k := range b.keys {
		r, err := t.tx.InboundGroupSession(k[0], k[1])
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return storeErr(err)
		}
		r.BackedUp = true
		if err := t.tx.PutInboundGroupSession(r); err != nil {
			return storeErr(err)
		}
	}
	return nil
}
