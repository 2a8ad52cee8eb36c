package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/olm"
)

// ErrCrossSigningExists means BootstrapCrossSigning was asked to create
// cross-signing keys while this device holds some, or while the server
// publishes a cross-signing identity for the user: bootstrapping would
// replace the user's identity, and every verification made with it.
// BootstrapOptions.Replace allows it.
var ErrCrossSigningExists = errors.New("machine: cross-signing keys already exist")

// BootstrapOptions configure BootstrapCrossSigning.
type BootstrapOptions struct {
	// Replace allows replacing the cross-signing keys this device holds, or
	// the identity the server publishes for the user (a "reset": other
	// users and devices see the identity change and must verify again).
	Replace bool
}

// CrossSigningBootstrap is what BootstrapCrossSigning made: new
// cross-signing keys, the body that publishes them, and the secret
// storage writes that keep their private halves.
type CrossSigningBootstrap struct {
	// MasterKey, SelfSigningKey and UserSigningKey are the new public keys.
	MasterKey, SelfSigningKey, UserSigningKey olm.Ed25519PublicKey
	// DeviceSigningUpload is the body of POST
	// /_matrix/client/v3/keys/device_signing/upload, without "auth": the
	// server asks for user-interactive authentication, so the caller adds
	// the "auth" object it wants and sends the request itself, then calls
	// ConfirmCrossSigningUpload.
	DeviceSigningUpload json.RawMessage
	// AccountData holds the PUTs that store the three private keys in
	// secret storage, encrypted to its default key, when secret storage
	// is open (OpenSecretStorage, CreateSecretStorage); nil otherwise.
	// Send them after the device signing upload succeeded.
	AccountData []AccountDataPut
}

// bootstrapState remembers the signature upload held back until the
// caller confirms the device signing upload.
type bootstrapState struct {
	RequestID string `json:"request_id"`
	Master    string `json:"master"`
}

// BootstrapCrossSigning creates the user's cross-signing identity in one
// call: it generates master, self-signing and user-signing keys, stores
// their private halves as the secrets m.cross_signing.master,
// m.cross_signing.self_signing and m.cross_signing.user_signing (as
// SetSecret does: our own verified devices may request them), signs this
// device with the new self-signing key, and returns the body that
// publishes the public keys (see CrossSigningBootstrap).
//
// The order of the two uploads matters, since a server refuses a
// signature by a self-signing key it does not know yet: the signature of
// this device goes into a POST /_matrix/client/v3/keys/signatures/upload
// request (KindSignatureUpload) that OutgoingRequests offers only after
// ConfirmCrossSigningUpload reports that the device signing upload
// succeeded; so does every other signature upload queued meanwhile. The
// request and the wait are in the store, so they survive a restart in
// between; a second bootstrap (with Replace) drops the first one's
// request.
//
// Our own identity is trusted at once, since this device holds its
// master key: the next /keys/query shows this device as verified, and
// our other devices as cross-signed once they are signed.
//
// If this device holds cross-signing keys, or the server publishes an
// identity for the user (seen in a /keys/query response), the error wraps
// ErrCrossSigningExists unless opts.Replace is set. Before the first
// /keys/query answer for our own user (OutgoingRequests queries it), the
// error wraps ErrNotFound unless opts.Replace is set: whether an identity
// exists is not known yet. Nothing changes on error.
func (m *Machine) BootstrapCrossSigning(ctx context.Context, opts BootstrapOptions) (*CrossSigningBootstrap, error) {
	var out *CrossSigningBootstrap
	err := m.update(ctx, func(t *txn) error {
		held, err := t.privateKeys()
		if err != nil {
			return err
		}
		held.Close()
		var id identityState
		queried, err := t.getValue(NSIdentities, t.m.userID, &id)
		if err != nil {
			return err
		}
		if !opts.Replace && !queried {
			// Without a /keys/query answer for our own user we cannot
			// tell whether the server publishes an identity: creating
			// one would replace it.
			return fmt.Errorf("%w: our own keys were not queried yet (send OutgoingRequests first)", ErrNotFound)
		}
		if !opts.Replace && held != nil {
			return fmt.Errorf("%w: this device holds cross-signing keys", ErrCrossSigningExists)
		}
		if !opts.Replace && id.Master != "" {
			return fmt.Errorf("%w: the server publishes master key %s for %s", ErrCrossSigningExists, id.Master, t.m.userID)
		}
		ks, err := crossign.GenerateKeys(t.m.userID)
		if err != nil {
			return err
		}
		defer ks.Close()
		for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
			if err := t.putSecret(k.Usage().SecretName(), k.Secret()); err != nil {
				return err
			}
		}
		up, err := ks.DeviceSigningUpload()
		if err != nil {
			return err
		}
		body, err := up.MarshalJSON()
		if err != nil {
			return err
		}
		// This device, signed by the new self-signing key.
		sigBody, err := t.ownDeviceSignature(ks)
		if err != nil {
			return err
		}
		var prev bootstrapState
		if ok, err := t.getValue(NSValues, "cross_signing_bootstrap", &prev); err != nil {
			return err
		} else if ok {
			if err := storeErr(t.tx.Delete(NSRequests, prev.RequestID)); err != nil {
				return err
			}
		}
		reqID, err := t.queueRequestID(KindSignatureUpload, "POST", "/_matrix/client/v3/keys/signatures/upload", sigBody)
		if err != nil {
			return err
		}
		if err := t.putValue(NSValues, "cross_signing_bootstrap", bootstrapState{RequestID: reqID, Master: ks.Master.PublicKey().String()}); err != nil {
			return err
		}
		// Our identity is the new one, trusted: we hold its master key.
		id = identityState{Master: ks.Master.PublicKey().String(), MasterJSON: up.MasterKey.Bytes(), Verified: true,
			SelfSigning: ks.SelfSigning.PublicKey().String(), UserSigning: ks.UserSigning.PublicKey().String()}
		if err := t.putValue(NSIdentities, t.m.userID, id); err != nil {
			return err
		}
		out = &CrossSigningBootstrap{
			MasterKey: ks.Master.PublicKey(), SelfSigningKey: ks.SelfSigning.PublicKey(), UserSigningKey: ks.UserSigning.PublicKey(),
			DeviceSigningUpload: body,
		}
		out.AccountData, err = t.secretStoragePuts(nil, crossSigningSecrets, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConfirmCrossSigningUpload reports that the device signing upload of the
// last BootstrapCrossSigning succeeded: OutgoingRequests then offers the
// upload of this device's signature, and of every signature queued since
// the bootstrap (a verification that finished meanwhile), and our own keys
// are queried again. Until then no signature upload is offered: the
// server would refuse signatures by keys it does not know. If the device
// signing upload fails for good, call BootstrapCrossSigning again with
// Replace. Without a bootstrap waiting, the error wraps ErrNotFound.
func (m *Machine) ConfirmCrossSigningUpload(ctx context.Context) error {
	return m.update(ctx, func(t *txn) error {
		held, err := t.bootstrapPending()
		if err != nil {
			return err
		}
		if !held {
			return fmt.Errorf("%w: no cross-signing bootstrap waits for its upload", ErrNotFound)
		}
		if err := storeErr(t.tx.Delete(NSValues, "cross_signing_bootstrap")); err != nil {
			return err
		}
		return t.markOutdated(t.m.userID)
	})
}

// bootstrapPending reports whether a cross-signing bootstrap waits for
// ConfirmCrossSigningUpload.
func (t *txn) bootstrapPending() (bool, error) {
	var st bootstrapState
	return t.getValue(NSValues, "cross_signing_bootstrap", &st)
}

// queueRequestID is queueRequest that returns the request's ID.
func (t *txn) queueRequestID(kind RequestKind, method, path string, body []byte) (string, error) {
	id := newID()
	t.m.toDeviceSeq++
	st := toDeviceState{Kind: kind, Method: method, Path: path, Body: body,
		Seq: t.now.UnixMilli()*1_000_000 + t.m.toDeviceSeq%1_000_000}
	return id, t.putValue(NSRequests, id, st)
}

// CrossSigningStatus is what this device knows of our own cross-signing
// identity.
type CrossSigningStatus struct {
	// MasterKey, SelfSigningKey and UserSigningKey are our public keys as
	// last published (our last /keys/query, or our bootstrap); zero when
	// unknown.
	MasterKey, SelfSigningKey, UserSigningKey olm.Ed25519PublicKey
	// HasMaster, HasSelfSigning and HasUserSigning report that this
	// device holds the private key of that role and that it gives the
	// published public key.
	HasMaster, HasSelfSigning, HasUserSigning bool
	// Trusted reports that this device trusts our identity: it holds the
	// master key, or the last /keys/query found the master key signed by
	// one of our devices that we verified. While the server publishes
	// another master key than the pinned one (IdentityChanged, until
	// AcceptIdentity), Trusted and HasMaster are false.
	Trusted bool
}

// CrossSigningStatus returns what this device knows of our own
// cross-signing identity, for an application deciding whether to
// bootstrap, to open secret storage or to verify this device.
func (m *Machine) CrossSigningStatus(ctx context.Context) (*CrossSigningStatus, error) {
	out := &CrossSigningStatus{}
	err := m.view(ctx, func(t *txn) error {
		*out = CrossSigningStatus{}
		var id identityState
		if _, err := t.getValue(NSIdentities, t.m.userID, &id); err != nil {
			return err
		}
		out.MasterKey, _ = olm.ParseEd25519PublicKey(id.Master)
		out.SelfSigningKey, _ = olm.ParseEd25519PublicKey(id.SelfSigning)
		out.UserSigningKey, _ = olm.ParseEd25519PublicKey(id.UserSigning)
		ks, err := t.privateKeys()
		if err != nil {
			return err
		}
		defer ks.Close()
		var zero olm.Ed25519PublicKey
		if ks != nil {
			out.HasMaster = ks.Master != nil && out.MasterKey != zero && ks.Master.PublicKey() == out.MasterKey
			out.HasSelfSigning = ks.SelfSigning != nil && out.SelfSigningKey != zero && ks.SelfSigning.PublicKey() == out.SelfSigningKey
			out.HasUserSigning = ks.UserSigning != nil && out.UserSigningKey != zero && ks.UserSigning.PublicKey() == out.UserSigningKey
		}
		if id.Changed {
			// The server publishes another master key than the pinned
			// one: the one held is not the published one, and our
			// identity as others see it is not trusted.
			out.HasMaster = false
		}
		out.Trusted = !id.Changed && (out.HasMaster || (id.Verified && out.MasterKey != zero))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
