package botkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
)

// RestoreResult counts what RestoreBackup did.
type RestoreResult struct {
	Version  string
	Entries  int // room keys in the backup
	Imported int // sessions stored or improved
	Failed   int // entries that did not decrypt or were refused
}

// RestoreBackup restores the room keys of the server-side key backup with
// a recovery key: it reads the current backup version, checks that the
// recovery key is that backup's key (the auth_data's public key), downloads
// every key, decrypts them on every core and imports them into the machine
// with provenance "backup" (unauthenticated: never shown as verified), then
// decrypts again the events that were waiting for these keys.
//
// This is the application's glue the machine does not yet provide (its
// backup manager is issue 15's machine part).
func (c *Client) RestoreBackup(ctx context.Context, recoveryKey string, progress func(done, total int)) (*RestoreResult, error) {
	var ver struct {
		Algorithm string          `json:"algorithm"`
		AuthData  json.RawMessage `json:"auth_data"`
		Version   string          `json:"version"`
	}
	if err := c.do(ctx, "GET", "/_matrix/client/v3/room_keys/version", nil, &ver); err != nil {
		return nil, err
	}
	if ver.Algorithm != keybackup.BackupAlgorithm {
		return nil, fmt.Errorf("botkit: backup version %s uses %q", ver.Version, ver.Algorithm)
	}
	ad, err := keybackup.ParseAuthData(ver.AuthData)
	if err != nil {
		return nil, err
	}
	key, err := keybackup.BackupKeyFromRecoveryKey(recoveryKey, ad.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("botkit: the recovery key is not the key of backup version %s: %w", ver.Version, err)
	}
	defer key.Close()
	body, err := c.doRaw(ctx, "GET", "/_matrix/client/v3/room_keys/keys?version="+url.QueryEscape(ver.Version), nil, nil)
	if err != nil {
		return nil, err
	}
	entries, err := keybackup.ParseRoomKeys(body)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{Version: ver.Version, Entries: len(entries)}
	var sessions []keybackup.ExportedSession
	for _, r := range key.DecryptAll(ctx, entries, &keybackup.DecryptAllOptions{Progress: progress}) {
		if r.Err != nil {
			c.log.Warn("backup entry refused", "room", r.RoomID, "session", r.SessionID, "err", r.Err)
			res.Failed++
			continue
		}
		sessions = append(sessions, keybackup.ExportedSession{BackedUpSession: *r.Session, RoomID: r.RoomID, SessionID: r.SessionID})
	}
	imp, err := c.Machine.ImportRoomKeys(ctx, sessions, machine.ProvenanceBackup)
	if err != nil {
		return res, err
	}
	res.Imported = imp.Imported
	for i, e := range imp.Errors {
		c.log.Warn("backup session refused", "session", sessions[i].SessionID, "err", e)
		res.Failed++
	}
	for _, r := range imp.Retry {
		c.retry(ctx, r.RoomID, r.EventID)
	}
	return res, nil
}

// CreateBackup creates a server-side key backup version with a new key,
// keeps the key in the machine (secret m.megolm_backup.v1, so that the
// machine trusts the version: SECURITY 45) and switches the machine's
// backup on: from now on every flush uploads the room keys not yet backed
// up. It returns the recovery key, for the user to keep.
//
// The auth_data is not signed: the machine does not expose its device key
// for signing (AuthData.Sign needs a signer).
func (c *Client) CreateBackup(ctx context.Context) (string, error) {
	key, err := keybackup.GenerateBackupKey()
	if err != nil {
		return "", err
	}
	defer key.Close()
	var resp struct {
		Version string `json:"version"`
	}
	if err := c.do(ctx, "POST", "/_matrix/client/v3/room_keys/version", map[string]any{
		"algorithm": keybackup.BackupAlgorithm, "auth_data": keybackup.NewAuthData(key.PublicKey()),
	}, &resp); err != nil {
		return "", err
	}
	if err := c.Machine.SetSecret(ctx, keybackup.SecretMegolmBackup, key.Encode()); err != nil {
		return "", err
	}
	if err := c.UseBackup(ctx); err != nil {
		return "", err
	}
	c.log.Info("backup created", "version", resp.Version)
	return key.RecoveryKey(), nil
}

// UseBackup reads the current backup version and hands it to the machine,
// which accepts it only if it trusts it (see machine.SetBackupVersion).
func (c *Client) UseBackup(ctx context.Context) error {
	body, err := c.doRaw(ctx, "GET", "/_matrix/client/v3/room_keys/version", nil, nil)
	if err != nil {
		return err
	}
	if err := c.Machine.SetBackupVersion(ctx, body); err != nil {
		return err
	}
	return c.flush(ctx)
}

// Do sends a client-server API request (path below the homeserver's base
// URL, with its query) with the bot's access token; body is marshalled
// (a json.RawMessage is sent as is) and out unmarshalled from a 200 answer.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.do(ctx, method, path, body, out)
}
