package botkit

import (
	"context"
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
// every key and hands them to the machine (machine.RestoreBackup: decrypted
// on every core, stored with provenance "backup", never shown as verified,
// counted as already in that backup version), then decrypts again the
// events that were waiting for these keys.
func (c *Client) RestoreBackup(ctx context.Context, recoveryKey string, progress func(done, total int)) (*RestoreResult, error) {
	verBody, err := c.doRaw(ctx, "GET", "/_matrix/client/v3/room_keys/version", nil, nil)
	if err != nil {
		return nil, err
	}
	ver, err := keybackup.ParseBackupVersion(verBody)
	if err != nil {
		return nil, err
	}
	key, err := keybackup.BackupKeyFromRecoveryKey(recoveryKey, ver.AuthData.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("botkit: the recovery key is not the key of backup version %s: %w", ver.Version, err)
	}
	defer key.Close()
	body, err := c.doRaw(ctx, "GET", "/_matrix/client/v3/room_keys/keys?version="+url.QueryEscape(ver.Version), nil, nil)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{Version: ver.Version}
	imp, err := c.Machine.RestoreBackup(ctx, key, body, machine.RestoreOptions{Version: verBody,
		Progress: func(done, total int) {
			res.Entries = total
			if progress != nil {
				progress(done, total)
			}
		}})
	if err != nil {
		return res, err
	}
	res.Imported = imp.Imported
	for i, e := range imp.Errors {
		c.log.Warn("backup entry refused", "entry", i, "err", e)
		res.Failed++
	}
	for _, r := range imp.Retry {
		c.retry(ctx, r.RoomID, r.EventID)
	}
	return res, nil
}

// CreateBackup switches the server-side key backup on with a new backup
// version (machine.CreateBackupVersion: a new key, which becomes the
// machine's secret m.megolm_backup.v1 once the server's answer is given to
// SetBackupVersion, auth_data signed by this device and by
// the master key when the machine holds it); from now on every flush
// uploads the room keys not yet backed up. It returns the recovery key,
// for the user to keep.
func (c *Client) CreateBackup(ctx context.Context) (string, error) {
	cr, err := c.Machine.CreateBackupVersion(ctx)
	if err != nil {
		return "", err
	}
	resp, err := c.doRaw(ctx, "POST", "/_matrix/client/v3/room_keys/version", cr.Body, nil)
	if err != nil {
		return "", err
	}
	version, err := cr.VersionBody(resp)
	if err != nil {
		return "", err
	}
	if err := c.Machine.SetBackupVersion(ctx, version); err != nil {
		return "", err
	}
	for _, p := range cr.AccountData {
		if err := c.do(ctx, "PUT", p.Path, p.Content, nil); err != nil {
			return "", err
		}
	}
	if err := c.flush(ctx); err != nil {
		return "", err
	}
	c.log.Info("backup created", "public_key", cr.PublicKey.String())
	return cr.RecoveryKey, nil
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
