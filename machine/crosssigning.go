package machine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/crossign"
)

// KindSignatureUpload is POST /_matrix/client/v3/keys/signatures/upload.
const KindSignatureUpload RequestKind = KindToDevice + 1

// privateKeys returns the cross-signing private keys we hold as secrets
// (m.cross_signing.*), nil if none. They come from SetSecret or from
// m.secret.send answers to RequestSecret.
func (t *txn) privateKeys() (*crossign.PrivateKeys, error) {
	ks := &crossign.PrivateKeys{UserID: t.m.userID}
	held := false
	for _, u := range []crossign.Usage{crossign.UsageMaster, crossign.UsageSelfSigning, crossign.UsageUserSigning} {
		var secret string
		ok, err := t.getValue(NSSecrets, u.SecretName(), &secret)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		k, err := crossign.ParsePrivateKey(u, secret)
		if err != nil {
			t.m.notice(Notice{UserID: t.m.userID, Err: err})
			continue
		}
		held = true
		switch u {
		case crossign.UsageMaster:
			ks.Master = k
		case crossign.UsageSelfSigning:
			ks.SelfSigning = k
		case crossign.UsageUserSigning:
			ks.UserSigning = k
		}
	}
	if !held {
		return nil, nil
	}
	return ks, nil
}

// queueRequest persists a request other than /sendToDevice, offered by
// OutgoingRequests until marked as sent.
func (t *txn) queueRequest(kind RequestKind, method, path string, body []byte) error {
	id := newID()
	t.m.toDeviceSeq++
	st := toDeviceState{Kind: kind, Method: method, Path: path, Body: body, Seq: t.now.UnixMilli()*1_000_000 + t.m.toDeviceSeq%1_000_000}
	return t.putValue(NSRequests, id, st)
}

// CrossSigningKeysUpload returns the body of POST
// /_matrix/client/v3/keys/device_signing/upload for the cross-signing
// private keys we hold (from a confirmed BootstrapCrossSigning, secret
// storage, or SetSecret under their secret names), to publish them again
// (a pending bootstrap's keys are published with its own
// DeviceSigningUpload). That
// endpoint needs user-interactive authentication, so the caller sends it
// itself. To create an identity, use BootstrapCrossSigning, which also
// signs this device.
func (m *Machine) CrossSigningKeysUpload(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	err := m.view(ctx, func(t *txn) error {
		ks, err := t.privateKeys()
		if err != nil {
			return err
		}
		if ks == nil {
			return fmt.Errorf("%w: no cross-signing private keys held", ErrNotFound)
		}
		up, err := ks.DeviceSigningUpload()
		if err != nil {
			return err
		}
		out, err = up.MarshalJSON()
		return err
	})
	return out, err
}
