package crossign

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// Verifier decides, from a /keys/query response, which users and devices
// we trust. Its fields are what we know locally, never what the server
// says. Evaluate reads them and changes nothing.
//
// The rules (specification, "Cross-signing" and "Key and signature
// security"):
//
//   - Our own master key is trusted only if we hold its private key
//     (MasterKey) or it carries a valid signature by one of our own devices
//     that we verified ourselves (VerifiedDevices).
//   - A self-signing or user-signing key counts only with a valid signature
//     by its user's master key, filed under that user's ID, and with the
//     right "usage" and "user_id".
//   - A device is cross-signed when its owner's self-signing key signed it;
//     it is verified when, in addition, its owner's master key is trusted.
//   - Another user's master key is trusted only if our own master key is
//     trusted and our user-signing key, signed by our master key, signed
//     theirs; or if we verified it just now (VerifiedMasterKeys), which
//     also requires our own identity to be verified.
//   - A master key other than the pinned one (Pinned) is not trusted unless
//     it is verified as above; the change is reported either way.
//   - A device whose ID equals one of its user's cross-signing public keys
//     is refused.
type Verifier struct {
	// UserID is our own user ID. Include it in the /keys/query request:
	// without our own keys in the response, nobody can be verified.
	UserID string
	// MasterKey is our private master key, if this device holds it (for
	// instance from secret storage).
	MasterKey *PrivateKey
	// VerifiedDevices maps device IDs of our own devices that we verified
	// directly (this device, and devices verified by SAS or QR code) to
	// their Ed25519 keys as we verified them. A signature by one of them on
	// our master key makes the master key trusted.
	VerifiedDevices map[string]olm.Ed25519PublicKey
	// VerifiedMasterKeys maps user IDs to master keys we verified directly
	// and have not yet seen signed by our user-signing key in a response.
	VerifiedMasterKeys map[string]olm.Ed25519PublicKey
	// Pinned maps user IDs to the master key last seen for them. Save
	// Report.Pins after each evaluation and pass it here next time.
	Pinned map[string]olm.Ed25519PublicKey
}

// Report is the outcome of Verifier.Evaluate.
type Report struct {
	users map[string]*UserTrust
	pins  map[string]olm.Ed25519PublicKey
}

// UserTrust is the outcome for one user.
type UserTrust struct {
	UserID string
	// MasterKey is the user's master key if the response has a well-formed
	// one, else nil.
	MasterKey *Key
	// SelfSigningKey is the user's self-signing key if it is well formed
	// and signed by MasterKey, else nil; SelfSigningReason says why not.
	SelfSigningKey    *Key
	SelfSigningReason error
	// UserSigningKey is, for our own user only, our user-signing key if it
	// is well formed and signed by MasterKey, else nil; UserSigningReason
	// says why not.
	UserSigningKey    *Key
	UserSigningReason error
	// Verified reports whether we trust MasterKey. Reason says why not; it
	// is nil exactly when Verified is true.
	Verified bool
	Reason   error
	// IdentityChanged reports that MasterKey differs from PinnedMasterKey,
	// the key pinned before this evaluation. Warn before talking further,
	// even if the new key is verified.
	IdentityChanged bool
	PinnedMasterKey olm.Ed25519PublicKey
	// Devices holds the outcome for each device listed for the user.
	Devices map[string]*DeviceTrust
}

// DeviceTrust is the outcome for one device.
type DeviceTrust struct {
	UserID, DeviceID string
	// Device is the device keys object, nil if it is unusable.
	Device *Device
	// CrossSigned reports that the device is signed by its owner's
	// self-signing key, itself signed by the owner's master key.
	// CrossSigningReason says why not; it is nil exactly when CrossSigned
	// is true.
	CrossSigned        bool
	CrossSigningReason error
	// Verified reports that the device is cross-signed and its owner's
	// master key is trusted by us. Reason says why not; it is nil exactly
	// when Verified is true. A device we verified directly but that is not
	// cross-signed is not Verified here: this report is about
	// cross-signing only.
	Verified bool
	Reason   error
}

// UserIDs returns, sorted, the users in the report.
func (r *Report) UserIDs() []string {
	if r == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(r.users))
}

// User returns the outcome for userID, or nil if the response did not
// mention the user.
func (r *Report) User(userID string) *UserTrust {
	if r == nil {
		return nil
	}
	return r.users[userID]
}

// Device returns the outcome for a device, or nil if the response did not
// list it.
func (r *Report) Device(userID, deviceID string) *DeviceTrust {
	u := r.User(userID)
	if u == nil {
		return nil
	}
	return u.Devices[deviceID]
}

// Pins returns the master keys to pin from now on: the previous pins, plus
// the master key of each user seen for the first time, plus the new master
// key of each user whose change is verified. A changed, unverified master
// key stays unpinned, so the change is reported again next time; to accept
// it, pin UserTrust.MasterKey yourself after warning the user.
func (r *Report) Pins() map[string]olm.Ed25519PublicKey {
	if r == nil {
		return nil
	}
	return maps.Clone(r.pins)
}

// evaluation is the state of one Evaluate call.
type evaluation struct {
	v *Verifier
	r *QueryResponse
	// owners maps the unpadded base64 public key of every well-formed
	// cross-signing key in the response to a description of it, to name
	// the signer of a misfiled signature.
	owners map[string]string
}

// Evaluate evaluates the response. The error is non-nil only for a
// misconfigured Verifier (no UserID, a MasterKey of the wrong role; a zero
// MasterKey gives ErrNil) or a nil Verifier or response (ErrNil).
func (v *Verifier) Evaluate(r *QueryResponse) (*Report, error) {
	if v == nil || r == nil {
		return nil, fmt.Errorf("crossign: evaluate: %w: nil Verifier or response", ErrNil)
	}
	if v.UserID == "" {
		return nil, fmt.Errorf("crossign: evaluate: %w: Verifier has no UserID", ErrWrongUserID)
	}
	if v.MasterKey != nil && !v.MasterKey.valid() {
		return nil, fmt.Errorf("crossign: evaluate: %w: Verifier.MasterKey is a zero PrivateKey", ErrNil)
	}
	if v.MasterKey != nil && v.MasterKey.Usage() != UsageMaster {
		return nil, fmt.Errorf("crossign: evaluate: %w: Verifier.MasterKey is a %s key", ErrWrongUsage, v.MasterKey.Usage())
	}
	ev := &evaluation{v: v, r: r, owners: make(map[string]string)}
	for id, u := range r.users {
		for usage, e := range u.keys {
			if e.key != nil {
				ev.owners[e.key.PublicKey().String()] = fmt.Sprintf("%s's %s key", id, usage)
			}
		}
	}
	rep := &Report{users: make(map[string]*UserTrust, len(r.users)), pins: maps.Clone(v.Pinned)}
	if rep.pins == nil {
		rep.pins = make(map[string]olm.Ed25519PublicKey)
	}

	own := ev.keys(v.UserID)
	ev.ownIdentity(own)
	// What other users' verification rests on: our trusted master key and
	// the user-signing key it signed.
	var ownUSK *Key
	var ownReason error
	switch {
	case !own.Verified:
		ownReason = fmt.Errorf("crossign: %w: %v", ErrOwnIdentityNotVerified, own.Reason)
	case own.UserSigningKey == nil:
		ownReason = fmt.Errorf("crossign: %w: our user-signing key: %v", ErrOwnIdentityNotVerified, own.UserSigningReason)
	default:
		ownUSK = own.UserSigningKey
	}

	for id := range r.users {
		t := own
		if id != v.UserID {
			t = ev.keys(id)
			ev.otherIdentity(t, ownUSK, ownReason)
		}
		ev.devices(t)
		rep.users[id] = t
		if t.MasterKey != nil {
			if _, pinned := rep.pins[id]; !pinned || t.Verified {
				rep.pins[id] = t.MasterKey.PublicKey()
			}
		}
	}
	return rep, nil
}

// keys fills in a user's cross-signing keys and checks the master key's
// signatures on the other two. Trust in the master key is decided later.
func (ev *evaluation) keys(userID string) *UserTrust {
	t := &UserTrust{UserID: userID, Devices: make(map[string]*DeviceTrust)}
	master, masterErr := ev.r.CrossSigningKey(userID, UsageMaster)
	t.MasterKey = master
	t.Reason = masterErr
	if p, ok := ev.v.Pinned[userID]; ok {
		t.PinnedMasterKey = p
		t.IdentityChanged = master != nil && master.PublicKey() != p
	}
	t.SelfSigningKey, t.SelfSigningReason = ev.subKey(userID, UsageSelfSigning, master, masterErr)
	if userID == ev.v.UserID {
		t.UserSigningKey, t.UserSigningReason = ev.subKey(userID, UsageUserSigning, master, masterErr)
	}
	return t
}

// subKey returns userID's key of role u if it is usable: well formed and
// signed by master.
func (ev *evaluation) subKey(userID string, u Usage, master *Key, masterErr error) (*Key, error) {
	k, err := ev.r.CrossSigningKey(userID, u)
	if err != nil {
		return nil, err
	}
	if masterErr != nil {
		return nil, fmt.Errorf("crossign: %s key of %s: master key unusable: %w", u, userID, masterErr)
	}
	if err := ev.signedBy(k.Object(), k.KeyID(), userID, master); err != nil {
		return nil, fmt.Errorf("crossign: %s key of %s: %w", u, userID, err)
	}
	return k, nil
}

// signedBy checks obj's signature by signer, filed under signerUser. When
// the signature is missing it looks for one by another known cross-signing
// key, or by the right key under another user, and reports ErrWrongSigner
// instead. selfKeyID is the key ID of obj's own key (its self-signature is
// normal and ignored).
func (ev *evaluation) signedBy(obj *signedjson.Object, selfKeyID, signerUser string, signer *Key) error {
	err := obj.Verify(signerUser, signer.KeyID(), signer.PublicKey().Bytes())
	if err == nil || !errors.Is(err, ErrMissingSignature) {
		if err != nil {
			return fmt.Errorf("signature by %s: %w", signer, err)
		}
		return nil
	}
	sigs := obj.Signatures()
	for _, entity := range slices.Sorted(maps.Keys(sigs)) {
		for _, keyID := range slices.Sorted(maps.Keys(sigs[entity])) {
			if keyID == selfKeyID {
				continue
			}
			if keyID == signer.KeyID() {
				return fmt.Errorf("%w: the signature by %s is filed under %s, not %s", ErrWrongSigner, signer, entity, signerUser)
			}
			if who, ok := ev.owners[strings.TrimPrefix(keyID, "ed25519:")]; ok {
				return fmt.Errorf("%w: signed by %s, not by %s", ErrWrongSigner, who, signer)
			}
		}
	}
	return fmt.Errorf("no signature by %s: %w", signer, err)
}

// ownIdentity decides whether we trust our own master key.
func (ev *evaluation) ownIdentity(t *UserTrust) {
	if t.MasterKey == nil {
		return // t.Reason is the master key's error
	}
	pub := t.MasterKey.PublicKey()
	v := ev.v
	if v.MasterKey != nil && v.MasterKey.PublicKey() == pub {
		t.Verified, t.Reason = true, nil
		return
	}
	var sigErr error
	for _, id := range slices.Sorted(maps.Keys(v.VerifiedDevices)) {
		if ev.confused(t, id) {
			continue
		}
		key := v.VerifiedDevices[id]
		err := t.MasterKey.Object().Verify(v.UserID, signedjson.KeyID(id), key.Bytes())
		if err == nil {
			t.Verified, t.Reason = true, nil
			return
		}
		if !errors.Is(err, ErrMissingSignature) && sigErr == nil {
			sigErr = fmt.Errorf("crossign: our master key: signature by verified device %s: %w", id, err)
		}
	}
	switch {
	case v.MasterKey != nil:
		t.Reason = fmt.Errorf("crossign: our master key %s: %w: we hold the private key of %s", pub, ErrIdentityChanged, v.MasterKey.PublicKey())
	case t.IdentityChanged:
		t.Reason = fmt.Errorf("crossign: our master key: %w: was %s, now %s", ErrIdentityChanged, t.PinnedMasterKey, pub)
	case sigErr != nil:
		t.Reason = sigErr
	default:
		t.Reason = fmt.Errorf("crossign: our master key %s: %w: no private key and no signature by a verified device of ours", pub, ErrNotVerified)
	}
}

// otherIdentity decides whether we trust another user's master key.
func (ev *evaluation) otherIdentity(t *UserTrust, ownUSK *Key, ownReason error) {
	if t.MasterKey == nil {
		return
	}
	pub := t.MasterKey.PublicKey()
	var sigErr error
	signed := false
	if ownUSK != nil {
		sigErr = ev.signedBy(t.MasterKey.Object(), t.MasterKey.KeyID(), ev.v.UserID, ownUSK)
		signed = sigErr == nil
	}
	now, ok := ev.v.VerifiedMasterKeys[t.UserID]
	verifiedNow := ok && now == pub
	switch {
	case ownUSK != nil && (signed || verifiedNow):
		t.Verified, t.Reason = true, nil
	case t.IdentityChanged:
		t.Reason = fmt.Errorf("crossign: master key of %s: %w: was %s, now %s", t.UserID, ErrIdentityChanged, t.PinnedMasterKey, pub)
	case ownUSK == nil:
		t.Reason = fmt.Errorf("crossign: master key of %s: %w", t.UserID, ownReason)
	case errors.Is(sigErr, ErrMissingSignature):
		t.Reason = fmt.Errorf("crossign: master key of %s: %w: not signed by our user-signing key", t.UserID, ErrNotVerified)
	default:
		t.Reason = fmt.Errorf("crossign: master key of %s: %w", t.UserID, sigErr)
	}
}

// confused reports whether deviceID spells one of t's cross-signing public
// keys in base64, in any alphabet or padding (see spellsKey), well formed
// or not, as long as the response lists it.
func (ev *evaluation) confused(t *UserTrust, deviceID string) bool {
	u := ev.r.users[t.UserID]
	if u == nil {
		return false
	}
	for _, e := range u.keys {
		if e.key != nil && spellsKey(deviceID, e.key.PublicKey()) {
			return true
		}
	}
	return false
}

// devices decides cross-signing and verification for t's devices.
func (ev *evaluation) devices(t *UserTrust) {
	u := ev.r.users[t.UserID]
	if u == nil {
		return
	}
	for id, e := range u.devices {
		d := &DeviceTrust{UserID: t.UserID, DeviceID: id, Device: e.dev}
		t.Devices[id] = d
		switch {
		case ev.confused(t, id):
			// Checked first: the ID alone condemns the device, and its
			// self-signature and a cross-signing key's signature share a
			// key ID, so the object may look merely broken.
			d.Device = nil
			d.CrossSigningReason = fmt.Errorf("crossign: device %s of %s: %w", id, t.UserID, ErrKeyConfusion)
		case e.err != nil:
			d.CrossSigningReason = e.err
		case t.SelfSigningKey == nil:
			reason := t.SelfSigningReason
			if t.MasterKey == nil {
				reason = t.Reason
			}
			d.CrossSigningReason = fmt.Errorf("crossign: device %s of %s: no usable self-signing key: %w", id, t.UserID, reason)
		default:
			if err := ev.signedBy(e.dev.Object(), signedjson.KeyID(id), t.UserID, t.SelfSigningKey); err != nil {
				d.CrossSigningReason = fmt.Errorf("crossign: device %s of %s: %w", id, t.UserID, err)
			} else {
				d.CrossSigned = true
			}
		}
		switch {
		case !d.CrossSigned:
			d.Reason = d.CrossSigningReason
		case !t.Verified:
			d.Reason = fmt.Errorf("crossign: device %s of %s: owner not verified: %w", id, t.UserID, t.Reason)
		default:
			d.Verified = true
		}
	}
}

// spellsKey reports whether id is a spelling of key in base64: standard or
// URL-safe alphabet, padded or not, with or without stray bits in the last
// character, with surrounding space. Device IDs and cross-signing key IDs
// share one namespace ("ed25519:<id>"), and clients decode key IDs in
// different ways, so a device ID that decodes to a cross-signing key must
// be refused, not only the exact unpadded spelling (SECURITY requirement
// 38). Keys and IDs are public.
func spellsKey(id string, key [32]byte) bool {
	s := strings.TrimRight(strings.TrimSpace(id), "=")
	if len(s) != 43 {
		return false
	}
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	b, err := base64.RawStdEncoding.DecodeString(s)
	return err == nil && len(b) == 32 && [32]byte(b) == key
}
