package botkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/souverain/e2ee/crossign"
)

// BootstrapCrossSigning creates this user's master, self-signing and
// user-signing keys, keeps them in the machine as secrets (so that the
// machine signs what later verifications verify), uploads the public keys
// with user-interactive authentication by password, and signs this device
// with the self-signing key.
//
// The machine produces the upload body (CrossSigningKeysUpload) but does
// not sign its own device at bootstrap; that is done here with crossign.
func (c *Client) BootstrapCrossSigning(ctx context.Context, password string) error {
	ks, err := crossign.GenerateKeys(c.sess.UserID)
	if err != nil {
		return err
	}
	defer ks.Close()
	for _, k := range []struct {
		u crossign.Usage
		k *crossign.PrivateKey
	}{{crossign.UsageMaster, ks.Master}, {crossign.UsageSelfSigning, ks.SelfSigning}, {crossign.UsageUserSigning, ks.UserSigning}} {
		if err := c.Machine.SetSecret(ctx, k.u.SecretName(), k.k.Secret()); err != nil {
			return err
		}
	}
	body, err := c.Machine.CrossSigningKeysUpload(ctx)
	if err != nil {
		return err
	}
	if err := c.doUIA(ctx, "/_matrix/client/v3/keys/device_signing/upload", body, password); err != nil {
		return err
	}

	// Sign this device with the self-signing key.
	var q struct {
		DeviceKeys map[string]map[string]json.RawMessage `json:"device_keys"`
	}
	if err := c.do(ctx, "POST", "/_matrix/client/v3/keys/query", map[string]any{
		"device_keys": map[string][]string{c.sess.UserID: {c.sess.DeviceID}},
	}, &q); err != nil {
		return err
	}
	raw := q.DeviceKeys[c.sess.UserID][c.sess.DeviceID]
	if raw == nil {
		return errors.New("botkit: our own device is not on the server")
	}
	dev, err := crossign.ParseDevice(raw)
	if err != nil {
		return err
	}
	so, err := ks.SignDevice(dev)
	if err != nil {
		return err
	}
	var up crossign.SignatureUpload
	if err := up.Add(so); err != nil {
		return err
	}
	b, err := up.MarshalJSON()
	if err != nil {
		return err
	}
	var failures struct {
		Failures map[string]any `json:"failures"`
	}
	if err := c.do(ctx, "POST", "/_matrix/client/v3/keys/signatures/upload", json.RawMessage(b), &failures); err != nil {
		return err
	}
	if len(failures.Failures) > 0 {
		return fmt.Errorf("botkit: signature upload failures: %v", failures.Failures)
	}
	if err := c.Machine.UpdateTrackedUsers(ctx, []string{c.sess.UserID}); err != nil {
		return err
	}
	c.log.Info("cross-signing bootstrapped", "master", ks.Master.PublicKey().String())
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
