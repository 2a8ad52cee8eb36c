package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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

// Store values (NSValues) of a cross-signing bootstrap.
const (
	// valueBootstrap holds the bootstrapState of the bootstrap waiting for
	// ConfirmCrossSigningUpload.
	valueBootstrap = "cross_signing_bootstrap"
	// valueBootstrapSeen holds the master key of a bootstrap that a
	// /keys/query found published before ConfirmCrossSigningUpload came:
	// that confirmation then succeeds, doing nothing more.
	valueBootstrapSeen = "cross_signing_bootstrap_seen"
)

// bootstrapState is a cross-signing bootstrap waiting for
// ConfirmCrossSigningUpload: its keys, not yet the current secrets, and
// the signature upload held back until then. It is sealed in the store
// like every value.
type bootstrapState struct {
	RequestID string `json:"request_id"`
	Master    string `json:"master"`
	// Keys maps the secret names m.cross_signing.* to the new private
	// keys (empty in a state written before keys were kept pending: they
	// are current secrets already).
	Keys map[string]string `json:"keys,omitempty"`
	// MasterJSON is the new master key object, SelfSigning and
	// UserSigning the new public keys (base64).
	MasterJSON  json.RawMessage `json:"master_json,omitempty"`
	SelfSigning string          `json:"self_signing,omitempty"`
	UserSigning string          `json:"user_signing,omitempty"`
	// Before lists the signature uploads queued while no bootstrap
	// waited: OutgoingRequests may have offered them, so they stay. Those
	// queued since were never offered, and are dropped at the
	// confirmation (see promoteBootstrap).
	Before []string `json:"before,omitempty"`
}

// BootstrapCrossSigning creates the user's cross-signing identity in one
// call: it generates master, self-signing and user-signing keys, signs
// this device with the new self-signing key, and returns the body that
// publishes the public keys (see CrossSigningBootstrap).
//
// The new keys are pending until ConfirmCrossSigningUpload reports that
// the server accepted the device signing upload: they are kept in the
// store (sealed like every secret, so they survive a restart), but they
// are not yet the secrets m.cross_signing.master, .self_signing and
// .user_signing, nor our identity. Until then the keys this device held
// before stay its keys and our identity stays the published one
// (CrossSigningStatus reports the bootstrap as Pending), so that a device
// signing upload that fails (user-interactive authentication refused) or
// is abandoned loses nothing: drop the bootstrap with
// CancelCrossSigningBootstrap. While one waits, another is refused (the
// error wraps ErrBootstrapPending): the upload of the first may yet have
// succeeded, and ConfirmCrossSigningUpload would then promote keys the
// server never saw.
// ConfirmCrossSigningUpload makes the new keys the current secrets (as
// SetSecret does: our own verified devices may request them) and our
// identity, trusted since this device holds its master key. A /keys/query
// answer that publishes the pending master key for our user shows that
// the upload succeeded, and confirms the bootstrap as well.
//
// The order of the two uploads matters, since a server refuses a
// signature by a self-signing key it does not know yet: the signature of
// this device goes into a POST /_matrix/client/v3/keys/signatures/upload
// request (KindSignatureUpload) that OutgoingRequests offers only once
// the bootstrap is confirmed. Every other signature upload waits too,
// since whether the server knows the new keys or still the old ones is
// unknown until then: one queued meanwhile (a verification that
// finished, secret storage opened) is made with the keys current then,
// those held before the bootstrap, so the cancellation offers it, and the
// confirmation drops it (the server would refuse signatures by keys it no
// longer publishes; the verification stays recorded on this device, but
// like every verification of the identity replaced it must be made again
// to be signed by the new one). The request and the wait are in the
// store, so they survive a restart in between.
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
		// One bootstrap at a time: a confirmation must name the one whose
		// upload succeeded, and an upload of the first may still succeed.
		if p, err := t.pendingBootstrap(); err != nil {
			return err
		} else if p != nil {
			return fmt.Errorf("%w: a bootstrap waits for ConfirmCrossSigningUpload or CancelCrossSigningBootstrap", ErrBootstrapPending)
		}
		ks, err := crossign.GenerateKeys(t.m.userID)
		if err != nil {
			return err
		}
		defer ks.Close()
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
		before, err := t.offerableSignatureUploads()
		if err != nil {
			return err
		}
		if _, err := t.dropBootstrap(); err != nil {
			return err
		}
		if err := storeErr(t.tx.Delete(NSValues, valueBootstrapSeen)); err != nil {
			return err
		}
		reqID, err := t.queueRequestID(KindSignatureUpload, "POST", "/_matrix/client/v3/keys/signatures/upload", sigBody)
		if err != nil {
			return err
		}
		st := bootstrapState{RequestID: reqID, Master: ks.Master.PublicKey().String(), Keys: map[string]string{},
			MasterJSON: up.MasterKey.Bytes(), SelfSigning: ks.SelfSigning.PublicKey().String(), UserSigning: ks.UserSigning.PublicKey().String(),
			Before: before}
		for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
			st.Keys[k.Usage().SecretName()] = k.Secret()
		}
		if err := t.putValue(NSValues, valueBootstrap, st); err != nil {
			return err
		}
		out = &CrossSigningBootstrap{
			MasterKey: ks.Master.PublicKey(), SelfSigningKey: ks.SelfSigning.PublicKey(), UserSigningKey: ks.UserSigning.PublicKey(),
			DeviceSigningUpload: body,
		}
		out.AccountData, err = t.secretStoragePutsOf(nil, crossSigningSecrets, func(name string) (string, bool, error) {
			v, ok := st.Keys[name]
			return v, ok, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConfirmCrossSigningUpload reports that the device signing upload of the
// last BootstrapCrossSigning succeeded: its keys become the current
// secrets m.cross_signing.* (replacing those held before) and our
// identity, trusted; OutgoingRequests then offers the upload of this
// device's signature, and of every signature queued before the bootstrap
// (those queued since, by the replaced keys, are dropped: see
// BootstrapCrossSigning), and our own keys are queried again. Until then
// no signature upload is offered: the server would refuse signatures by
// keys it does not know.
// If the device signing upload fails for good, call
// CancelCrossSigningBootstrap, or BootstrapCrossSigning again. If a
// /keys/query already found the bootstrap's master key published (and so
// confirmed it), ConfirmCrossSigningUpload does nothing more and succeeds.
// Without a bootstrap waiting, the error wraps ErrNotFound.
func (m *Machine) ConfirmCrossSigningUpload(ctx context.Context) error {
	return m.update(ctx, func(t *txn) error {
		st, err := t.pendingBootstrap()
		if err != nil {
			return err
		}
		if st == nil {
			var seen string
			if ok, err := t.getValue(NSValues, valueBootstrapSeen, &seen); err != nil {
				return err
			} else if ok {
				return storeErr(t.tx.Delete(NSValues, valueBootstrapSeen))
			}
			return fmt.Errorf("%w: no cross-signing bootstrap waits for its upload", ErrNotFound)
		}
		if err := t.promoteBootstrap(st); err != nil {
			return err
		}
		return t.markOutdated(t.m.userID)
	})
}

// CancelCrossSigningBootstrap drops the cross-signing bootstrap waiting
// for ConfirmCrossSigningUpload, whose device signing upload failed or
// was abandoned: its keys and its signature of this device are deleted,
// the keys held before (if any) stay the current ones, and the signature
// uploads held back meanwhile (made with those keys) are offered again.
// Call it when the server refused the upload; if its answer was lost, the
// upload may have landed: let a /keys/query of our own user decide first
// (OutgoingRequests, after MarkAllTrackedUsersOutdated), which confirms
// the bootstrap if it finds the new master key published. Without a
// bootstrap waiting, the error wraps ErrNotFound.
func (m *Machine) CancelCrossSigningBootstrap(ctx context.Context) error {
	return m.update(ctx, func(t *txn) error {
		dropped, err := t.dropBootstrap()
		if err != nil {
			return err
		}
		if !dropped {
			return fmt.Errorf("%w: no cross-signing bootstrap waits for its upload", ErrNotFound)
		}
		return nil
	})
}

// pendingBootstrap returns the cross-signing bootstrap waiting for
// ConfirmCrossSigningUpload, nil if none.
func (t *txn) pendingBootstrap() (*bootstrapState, error) {
	var st bootstrapState
	ok, err := t.getValue(NSValues, valueBootstrap, &st)
	if err != nil || !ok {
		return nil, err
	}
	return &st, nil
}

// bootstrapPending reports whether a cross-signing bootstrap waits for
// ConfirmCrossSigningUpload.
func (t *txn) bootstrapPending() (bool, error) {
	st, err := t.pendingBootstrap()
	return st != nil, err
}

// dropBootstrap deletes the waiting bootstrap and its signature upload;
// dropped is false if none waits.
func (t *txn) dropBootstrap() (dropped bool, err error) {
	st, err := t.pendingBootstrap()
	if err != nil || st == nil {
		return false, err
	}
	if err := storeErr(t.tx.Delete(NSRequests, st.RequestID)); err != nil {
		return false, err
	}
	return true, storeErr(t.tx.Delete(NSValues, valueBootstrap))
}

// offerableSignatureUploads returns the IDs of the queued signature
// uploads that OutgoingRequests may have offered: all of them if no
// bootstrap waits, else those queued before the waiting one.
func (t *txn) offerableSignatureUploads() ([]string, error) {
	st, err := t.pendingBootstrap()
	if err != nil {
		return nil, err
	}
	ids, err := t.signatureUploads()
	if err != nil || st == nil {
		return ids, err
	}
	var out []string
	for _, id := range ids {
		if slices.Contains(st.Before, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// signatureUploads returns the IDs of the queued signature uploads.
func (t *txn) signatureUploads() ([]string, error) {
	kvs, err := t.tx.List(NSRequests)
	if err != nil {
		return nil, storeErr(err)
	}
	var out []string
	for _, kv := range kvs {
		var st toDeviceState
		if err := t.m.open(kindValue+string(NSRequests)+"\x00"+kv.Key, kv.Value, &st); err != nil {
			return nil, err
		}
		if st.Kind == KindSignatureUpload {
			out = append(out, kv.Key)
		}
	}
	return out, nil
}

// promoteBootstrap makes the keys of the waiting bootstrap st the current
// secrets (through putSecret, which hands our new master key to the
// verifications) and its identity ours, trusted since we hold its master
// key, and ends the wait.
//
// The signature uploads queued while it waited (a verification that
// finished, secret storage opened) were made with the keys current then,
// those of the identity the bootstrap replaces, or over its master key:
// the server now refuses them, and they are dropped (they were never
// offered: OutgoingRequests holds signature uploads while a bootstrap
// waits). Those queued before the bootstrap may be in flight, and stay.
// A cancelled bootstrap (CancelCrossSigningBootstrap) leaves them all,
// since their keys stay current.
func (t *txn) promoteBootstrap(st *bootstrapState) error {
	if len(st.Keys) > 0 {
		ids, err := t.signatureUploads()
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id == st.RequestID || slices.Contains(st.Before, id) {
				continue
			}
			if err := storeErr(t.tx.Delete(NSRequests, id)); err != nil {
				return err
			}
		}
	}
	for _, name := range crossSigningSecrets {
		v, ok := st.Keys[name]
		if !ok {
			continue // a state from before keys were kept pending
		}
		if err := t.putSecret(name, v); err != nil {
			return err
		}
	}
	if len(st.Keys) > 0 {
		id := identityState{Master: st.Master, MasterJSON: st.MasterJSON, Verified: true,
			SelfSigning: st.SelfSigning, UserSigning: st.UserSigning}
		if err := t.putValue(NSIdentities, t.m.userID, id); err != nil {
			return err
		}
	}
	return storeErr(t.tx.Delete(NSValues, valueBootstrap))
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
	// Pending reports that a BootstrapCrossSigning waits for
	// ConfirmCrossSigningUpload (or CancelCrossSigningBootstrap), and
	// PendingMasterKey is its new master key: its keys are neither held
	// nor published yet, and the fields above describe the identity
	// before it (zero after a first bootstrap).
	Pending          bool
	PendingMasterKey olm.Ed25519PublicKey
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
		st, err := t.pendingBootstrap()
		if err != nil {
			return err
		}
		if st != nil {
			out.Pending = true
			out.PendingMasterKey, _ = olm.ParseEd25519PublicKey(st.Master)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
