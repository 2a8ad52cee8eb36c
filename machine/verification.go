package machine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// verifier routes m.key.verification.* events to a sas.Machine and applies
// the results. The sas.Machine reads keys from a snapshot that the machine
// refreshes at each verification event and, for the users it holds, after
// each /keys/query, so its callbacks never need the machine's lock.
type verifier struct {
	sas     *sas.Machine
	mu      sync.Mutex
	keys    map[string]sas.UserKeys
	applied map[string]bool // flows ("room\x00flow ID") whose result was applied
	// reported holds the state last reported of each flow (changes).
	reported map[string]sas.State
}

func (m *Machine) newVerifier(ed olm.Ed25519PublicKey, methods []string) error {
	v := &verifier{keys: map[string]sas.UserKeys{}, applied: map[string]bool{}, reported: map[string]sas.State{}}
	s, err := sas.NewMachine(sas.Config{
		UserID: m.userID, DeviceID: m.deviceID, DeviceKey: ed, Now: m.clock,
		Methods: slices.Clone(methods),
		Keys: func(userID string) (sas.UserKeys, bool) {
			v.mu.Lock()
			defer v.mu.Unlock()
			k, ok := v.keys[userID]
			return k, ok
		},
	})
	if err != nil {
		return fmt.Errorf("%w: verification: %w", ErrBadOptions, err)
	}
	v.sas = s
	m.verif = v
	return nil
}

// refreshKeys updates the snapshot of a user's keys for the sas.Machine.
func (t *txn) refreshKeys(userID string) error {
	ds, err := t.devices(userID)
	if err != nil {
		return err
	}
	uk := sas.UserKeys{Devices: map[string]olm.Ed25519PublicKey{}}
	for _, d := range ds {
		if d.Deleted {
			continue
		}
		if ed, err := olm.ParseEd25519PublicKey(d.Ed); err == nil {
			uk.Devices[d.DeviceID] = ed
		}
	}
	var id identityState
	if _, err := t.getValue(NSIdentities, userID, &id); err != nil {
		return err
	}
	// The master key the server serves now, which the other side MACs: a
	// verification of it is what re-verifies a changed identity (see
	// applyResult).
	master := id.Served
	if master == "" {
		master = id.Master
	}
	if k, err := olm.ParseEd25519PublicKey(master); err == nil && master != "" {
		uk.MasterKey = k
	}
	v := t.m.verif
	v.mu.Lock()
	v.keys[userID] = uk
	v.mu.Unlock()
	return nil
}

// hasKeys reports whether the snapshot holds keys of userID.
func (v *verifier) hasKeys(userID string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.keys[userID]
	return ok
}

// Verifications returns the sas.Machine that runs this device's key
// verifications. Use it to start a verification or act on one (Accept,
// StartSAS, Confirm, ...), and hand the events those calls return to
// SendVerificationEvents. Incoming verification events reach it through
// ReceiveSync (to-device) and ReceiveRoomVerificationEvent (in-room).
func (m *Machine) Verifications() *sas.Machine { return m.verif.sas }

// isVerificationEvent reports whether a to-device or room event type
// belongs to key verification.
func isVerificationEvent(typ string) bool { return strings.HasPrefix(typ, "m.key.verification.") }

// routeVerification passes a verification event to the sas.Machine, queues
// the to-device answers and returns the in-room ones.
// refusal is the sas.Machine's reason to refuse the event; err is a
// failure of the machine itself.
func (t *txn) routeVerification(ev sas.Event) (room []sas.Event, refusal, err error) {
	for _, u := range []string{ev.Sender, t.m.userID} {
		if err := t.refreshKeys(u); err != nil {
			return nil, nil, err
		}
	}
	_, out, refusal := t.m.verif.sas.Receive(ev)
	if room, err = t.queueVerification(out); err != nil {
		return nil, nil, err
	}
	if err := t.applyVerifications(); err != nil {
		return nil, nil, err
	}
	return room, refusal, nil
}

// queueVerification queues the to-device events and returns the room ones.
func (t *txn) queueVerification(evs []sas.Event) ([]sas.Event, error) {
	var room []sas.Event
	for _, e := range evs {
		if e.RoomID != "" {
			room = append(room, e)
			continue
		}
		if e.ToUser == "" || e.ToDevice == "" {
			continue
		}
		if err := t.queueToDevice(e.Type, map[string]map[string]json.RawMessage{e.ToUser: {e.ToDevice: e.Content}}, ""); err != nil {
			return nil, err
		}
	}
	return room, nil
}

// applyVerifications applies the results of the verifications that
// finished since the last call (applyResult).
func (t *txn) applyVerifications() error {
	v := t.m.verif
	for _, fl := range v.sas.Verifications() {
		res, ok := fl.Result()
		key := fl.RoomID() + "\x00" + fl.FlowID()
		if !ok || v.applied[key] {
			continue
		}
		v.applied[key] = true
		if err := t.applyResult(res); err != nil {
			return err
		}
	}
	return nil
}

// applyResult records what a finished verification verified (the keys as
// the verification pinned them), signs what the specification has the
// verifying side sign, queues the /keys/signatures/upload, and changes the
// trust state at once:
//
//   - another user's device: locally verified (the specification deprecates
//     verifying other users' devices one by one, but a device whose key was
//     MACed is verified all the same);
//   - another user's master key (in the MAC when both sides have
//     cross-signing): recorded as verified by us, and signed with our
//     user-signing key if we hold it. If our own identity is trusted and
//     has a usable user-signing key, the user's identity and cross-signed
//     devices are verified at once: that is what the next query's
//     evaluation will find, since the verified master key is passed to it
//     (crossign's Verifier.VerifiedMasterKeys) whether or not the signature
//     upload has landed by then;
//   - our own other device: locally verified (and so a device whose
//     signature on our master key makes it trusted), and signed with our
//     self-signing key if we hold it. The signature is reflected in the
//     device record at once (cross-signed; verified if our identity is)
//     only if the self-signing key we signed with is the one the last query
//     found published and signed by our master key: then the next query,
//     once the upload lands, gives the same verdict. If it never lands, that
//     query puts the record back to what the server says; the device stays
//     locally verified either way;
//   - our own master key (in the MAC of our other device, which trusts it):
//     this device signs it with its device key (the specification allows a
//     device to sign its own user's master key; crossign then trusts the
//     key through this verified device), our identity is trusted at once,
//     with the cross-signed devices of ours verified. Once the signature
//     upload is sent, every tracked user is queried again (MarkRequestSent),
//     so that the server's copy carries the signature and other users'
//     identities are evaluated against our now trusted one.
//
// A master key that the server serves in place of the pinned one (a
// changed identity) is pinned first when the MAC carried it: that is a
// verification of the new identity. Trust is reflected at once only if the
// last query served the verified key (see identityState.Served).
//
// When we are the device being verified, the other device does the signing
// on its side: there is nothing for us to sign but our master key.
func (t *txn) applyResult(res sas.Result) error {
	ks, err := t.privateKeys()
	if err != nil {
		return err
	}
	defer ks.Close()
	var up crossign.SignatureUpload
	n := 0
	add := func(so *crossign.SignedObject, err error) {
		if err != nil {
			t.m.notice(Notice{UserID: res.UserID, DeviceID: res.DeviceID, Err: err})
		} else if up.Add(so) == nil {
			n++
		}
	}
	ours := res.UserID == t.m.userID
	var own identityState
	if _, err := t.getValue(NSIdentities, t.m.userID, &own); err != nil {
		return err
	}
	if res.MasterKey != nil {
		var id identityState
		if _, err := t.getValue(NSIdentities, res.UserID, &id); err != nil {
			return err
		}
		id.VerifiedMaster = res.MasterKey.String()
		if id.VerifiedMaster == id.Served && id.Served != id.Master && len(id.ServedJSON) > 0 {
			// A changed identity verified again: the new key, which the
			// server serves and the MAC carried, becomes the pinned one.
			id.Master, id.MasterJSON, id.ServedJSON, id.Changed = id.Served, id.ServedJSON, nil, false
			if err := t.unflagDevices(res.UserID); err != nil {
				return err
			}
		}
		current := id.Master == id.VerifiedMaster && !id.Changed
		// The devices' CrossSigned flags rest on the master key the last
		// query returned: they are reflected at once only if it is the
		// one verified (not a key the server swapped in since, nor
		// before any query served one).
		reflect := id.Served == id.Master
		var key *crossign.Key
		if current && len(id.MasterJSON) > 0 {
			if key, err = crossign.ParseKey(id.MasterJSON); err != nil {
				t.m.notice(Notice{UserID: res.UserID, Err: err})
				key = nil
			} else if key.PublicKey().String() != id.Master {
				key = nil // the object of another key: sign nothing
			}
		}
		switch {
		case !current:
		case !ours:
			if key != nil && ks != nil && ks.UserSigning != nil {
				add(ks.SignUser(key))
			}
			if reflect && own.Verified && own.UserSigning != "" && !id.Verified {
				id.Verified = true
				if err := t.reflectIdentity(res.UserID); err != nil {
					return err
				}
			}
		default:
			t.ownMasterDirty = true
			if key != nil {
				a, err := t.account()
				if err != nil {
					return err
				}
				so, err := crossign.SignMasterKeyWithDevice(a, t.m.userID, t.m.deviceID, key)
				add(so, err)
				// The record carries the signature at once: our master key
				// is then signed by a verified own device, this one, which
				// is what trusting it requires (SECURITY 41).
				if err == nil && key.Object().AddSignatures(so.Object) == nil {
					id.MasterJSON = key.Bytes()
				}
			}
			if reflect && !id.Verified {
				id.Verified = true
				if err := t.reflectIdentity(t.m.userID); err != nil {
					return err
				}
			}
		}
		if err := t.putValue(NSIdentities, res.UserID, id); err != nil {
			return err
		}
		if ours {
			own = id
		}
	}
	if res.DeviceKey != nil {
		if err := t.applyDeviceResult(res, ks, &own, add); err != nil {
			return err
		}
	}
	if n == 0 {
		return nil
	}
	body, err := up.MarshalJSON()
	if err != nil {
		return err
	}
	return t.queueRequest(KindSignatureUpload, "POST", "/_matrix/client/v3/keys/signatures/upload", body)
}

// applyDeviceResult marks the verified device verified and, for our own
// device, signs it with our self-signing key (see applyResult).
func (t *txn) applyDeviceResult(res sas.Result, ks *crossign.PrivateKeys, own *identityState, add func(*crossign.SignedObject, error)) error {
	d, err := t.device(res.UserID, res.DeviceID)
	if err != nil {
		return err
	}
	if d == nil || d.Ed != res.DeviceKey.String() {
		return nil
	}
	d.LocallyVerified, d.Flagged = true, false
	if res.UserID == t.m.userID {
		if _, err := t.account(); err != nil {
			return err
		}
		st := &t.m.c.acct
		if st.Verified == nil {
			st.Verified = map[string]string{}
		}
		st.Verified[res.DeviceID] = d.Ed
		t.accountDirty = true
		// Our requests made before this verification were ignored by
		// it (a device answers only verified ones): ask it again.
		if res.DeviceID != t.m.deviceID {
			if err := t.resendRequests(res.DeviceID); err != nil {
				return err
			}
		}
		if ks != nil && ks.SelfSigning != nil && len(d.Keys) > 0 {
			dev, err := crossign.ParseDevice(d.Keys)
			if err == nil && dev.Ed25519Key() != *res.DeviceKey {
				err = fmt.Errorf("%w: %s %s: the stored device object has another key", ErrDeviceKeysChanged, res.UserID, res.DeviceID)
			}
			var so *crossign.SignedObject
			if err == nil {
				so, err = ks.SignDevice(dev)
			}
			add(so, err)
			if err == nil && own.SelfSigning == ks.SelfSigning.PublicKey().String() {
				obj := dev.Object()
				if obj.AddSignatures(so.Object) == nil {
					d.Keys = obj.Bytes()
					d.CrossSigned, d.Verified = true, own.Verified
				}
			}
		}
	}
	return t.putDevice(d)
}

// unflagDevices clears the identity-change flag of a user's devices.
func (t *txn) unflagDevices(userID string) error {
	ds, err := t.devices(userID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Flagged {
			d.Flagged = false
			if err := t.putDevice(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// reflectIdentity marks the cross-signed devices of a user whose identity
// just became verified as verified, as the next query's evaluation will.
func (t *txn) reflectIdentity(userID string) error {
	ds, err := t.devices(userID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.CrossSigned && !d.Verified {
			d.Verified = true
			if err := t.putDevice(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// SendVerificationEvents queues the to-device events that calls on
// Verifications returned (they come back from OutgoingRequests) and returns
// the in-room ones, which the caller sends in their room (encrypted with
// EncryptRoomEvent in an encrypted room). Devices whose verification
// finished are recorded as verified. The update's Changes report the
// verifications whose state changed since last reported (those calls
// included; see VerificationChange).
func (m *Machine) SendVerificationEvents(ctx context.Context, evs []sas.Event) (*VerificationUpdate, error) {
	upd := &VerificationUpdate{}
	err := m.update(ctx, func(t *txn) error {
		*upd = VerificationUpdate{}
		var err error
		if upd.RoomEvents, err = t.queueVerification(evs); err != nil {
			return err
		}
		if err := t.applyVerifications(); err != nil {
			return err
		}
		upd.Changes = t.m.verif.changes()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return upd, nil
}

// ReceiveRoomVerificationEvent passes an in-room verification event (an
// m.key.verification.* room event, or an m.room.message with msgtype
// m.key.verification.request, decrypted if it was encrypted) to the
// verifications. The update holds the in-room events to send in answer
// (to-device answers are queued), the verifications whose state changed,
// and, in Refused, why the event was refused. The error is a failure of
// the machine (its store) only.
func (m *Machine) ReceiveRoomVerificationEvent(ctx context.Context, ev sas.Event) (*VerificationUpdate, error) {
	upd := &VerificationUpdate{}
	err := m.update(ctx, func(t *txn) error {
		*upd = VerificationUpdate{}
		var err error
		upd.RoomEvents, upd.Refused, err = t.routeVerification(ev)
		if err != nil {
			return err
		}
		tick, err := t.tickVerifications()
		if err != nil {
			return err
		}
		upd.RoomEvents = append(upd.RoomEvents, tick...)
		upd.Changes = t.m.verif.changes()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return upd, nil
}
