package botkit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/souverain/e2ee/machine"
)

// BootstrapCrossSigning creates this user's cross-signing identity with the
// machine (machine.BootstrapCrossSigning: master, self-signing and
// user-signing keys, pending until the upload is confirmed, this device
// signed), uploads the public keys with user-interactive authentication by
// password, then confirms the upload, so that the keys become the
// machine's secrets and the machine uploads this device's signature, which
// it holds back until the keys are on the server. If the server refuses
// the upload, the bootstrap is cancelled (machine.CancelCrossSigningBootstrap);
// if its answer is lost, the bootstrap stays pending, for the next
// /keys/query to confirm if it finds the keys published.
func (c *Client) BootstrapCrossSigning(ctx context.Context, password string) error {
	b, err := c.Machine.BootstrapCrossSigning(ctx, machine.BootstrapOptions{})
	if err != nil {
		return err
	}
	if err := c.doUIA(ctx, "/_matrix/client/v3/keys/device_signing/upload", b.DeviceSigningUpload, password); err != nil {
		var he *HTTPError
		if errors.As(err, &he) {
			// The server answered: the keys are not published.
			if cerr := c.Machine.CancelCrossSigningBootstrap(ctx); cerr != nil {
				return errors.Join(err, cerr)
			}
		}
		return err
	}
	if err := c.Machine.ConfirmCrossSigningUpload(ctx); err != nil {
		return err
	}
	for _, p := range b.AccountData {
		if err := c.do(ctx, "PUT", p.Path, p.Content, nil); err != nil {
			return err
		}
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	c.log.Info("cross-signing bootstrapped", "master", b.MasterKey.String())
	return nil
}

// doUIA POSTs body, and if the server asks for user-interactive
// authentication, again with m.login.password.
func (c *Client) doUIA(ctx context.Context, path string, body json.RawMessage, password string) error {
	err := c.do(ctx, "POST", path, body, nil)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		return err
	}
	var flow struct {
		Session string `json:"session"`
	}
	json.Unmarshal(he.Body, &flow)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	auth, _ := json.Marshal(map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": c.sess.UserID},
		"password":   password,
		"session":    flow.Session,
	})
	m["auth"] = auth
	b, _ := json.Marshal(m)
	return c.do(ctx, "POST", path, json.RawMessage(b), nil)
}
