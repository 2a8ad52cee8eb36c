package machine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/olm"
)

// maxQueryUsers is the most users in one /keys/query (matrix-rust-sdk's
// MAX_KEY_QUERY_USERS).
const maxQueryUsers = 250

// Device is what the machine knows about a device of a tracked user.
type Device struct {
	UserID, DeviceID string
	Curve25519       olm.Curve25519PublicKey
	Ed25519          olm.Ed25519PublicKey
	DisplayName      string
	// Verification is how far the device is trusted.
	Verification Verification
	// Blacklisted devices never get room keys.
	Blacklisted bool
	// Deleted devices are no longer listed by the server.
	Deleted bool
	// Dehydrated reports a dehydrated device (MSC3814): one that lives on
	// the server for its owner's future devices. Applications may show it
	// apart from the others.
	Dehydrated bool
}

// Verification is the trust in a device, from cross-signing and local
// decisions.
type Verification int

const (
	// VerificationUnknownDevice: the device is not (yet) known from
	// /keys/query, or its keys do not match what the event claims.
	VerificationUnknownDevice Verification = iota
	// VerificationUnsigned: the device is not signed by its owner's
	// cross-signing identity.
	VerificationUnsigned
	// VerificationUnverifiedIdentity: the device is cross-signed, but we
	// have not verified its owner's identity.
	VerificationUnverifiedIdentity
	// VerificationIdentityChanged: the device appeared after its owner's
	// identity changed, and the change was not accepted (AcceptIdentity).
	VerificationIdentityChanged
	// VerificationVerified: the device is cross-signed by an identity we
	// verified, or we verified the device itself.
	VerificationVerified
	// VerificationUnauthenticated: the device is verified, but the room
	// key did not come from it over Olm (DecryptedEvent.Provenance is not
	// ProvenanceDirect: a key backup, a forwarded key, a key export), so
	// nothing proves that the device made the session: anyone who can
	// write to the backup or forward a key can claim any sender.
	// DecryptRoomEvent reports it in place of VerificationVerified for such
	// sessions (matrix-rust-sdk's "authenticity not guaranteed"). Device
	// records never have this level.
	VerificationUnauthenticated
)

// String returns the level in words, such as "verified".
func (v Verification) String() string {
	switch v {
	case VerificationUnsigned:
		return "unsigned"
	case VerificationUnverifiedIdentity:
		return "unverified identity"
	case VerificationIdentityChanged:
		return "identity changed"
	case VerificationVerified:
		return "verified"
	case VerificationUnauthenticated:
		return "unauthenticated"
	}
	return "unknown device"
}

func (d *deviceState) verification() Verification {
	switch {
	case d.Flagged:
		return VerificationIdentityChanged
	case d.Verified || d.LocallyVerified:
		return VerificationVerified
	case d.CrossSigned:
		return VerificationUnverifiedIdentity
	}
	return VerificationUnsigned
}

func (d *deviceState) public() *Device {
	out := &Device{UserID: d.UserID, DeviceID: d.DeviceID, DisplayName: d.Name,
		Verification: d.verification(), Blacklisted: d.Blacklisted, Deleted: d.Deleted,
		Dehydrated: d.Dehydrated}
	out.Curve25519, _ = olm.ParseCurve25519PublicKey(d.Curve)
	out.Ed25519, _ = olm.ParseEd25519PublicKey(d.Ed)
	return out
}

func (d *deviceState) key() string { return d.UserID + "\x00" + d.DeviceID }

// devices returns the device records of a user, sorted by device ID. The
// records are the cache's: change one only to put it with putDevice.
func (t *txn) devices(userID string) ([]*deviceState, error) {
	if ds, ok := t.m.c.devices[userID]; ok {
		return ds, nil
	}
	recs, err := t.tx.Devices(userID)
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]*deviceState, 0, len(recs))
	for _, r := range recs {
		d := new(deviceState)
		if err := t.m.open(kindDevice, r.Pickle, d); err != nil {
			return nil, err
		}
		if d.UserID != r.UserID || d.DeviceID != r.DeviceID || d.UserID != userID {
			return nil, fmt.Errorf("%w: device record of %s %s", ErrCorruptedStore, r.UserID, r.DeviceID)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	if len(out) > 0 {
		// Empty lists are not cached: events name any user.
		t.m.c.devices[userID] = out
	}
	return out, nil
}

func (t *txn) device(userID, deviceID string) (*deviceState, error) {
	ds, err := t.devices(userID)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.DeviceID == deviceID {
			return d, nil
		}
	}
	return nil, nil
}

// deviceByCurve finds the device of userID with the given identity key.
func (t *txn) deviceByCurve(userID, curve string) (*deviceState, error) {
	ds, err := t.devices(userID)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.Curve == curve {
			return d, nil
		}
	}
	return nil, nil
}

func (t *txn) putDevice(d *deviceState) error {
	b, err := t.m.seal(kindDevice, d)
	if err != nil {
		return err
	}
	ds, err := t.devices(d.UserID)
	if err != nil {
		return err
	}
	found := false
	for i, o := range ds {
		if o.DeviceID == d.DeviceID {
			ds[i], found = d, true
		}
	}
	if !found {
		ds = append(append([]*deviceState(nil), ds...), d)
		sort.Slice(ds, func(i, j int) bool { return ds[i].DeviceID < ds[j].DeviceID })
		t.m.c.devices[d.UserID] = ds
	}
	return storeErr(t.tx.PutDevice(DeviceRecord{UserID: d.UserID, DeviceID: d.DeviceID, Curve25519Key: d.Curve, Pickle: b}))
}

// trackedUsers returns the tracking state of every tracked user, loaded
// once into the cache.
func (t *txn) trackedUsers() (map[string]*trackedState, error) {
	if t.m.c.tracked != nil {
		return t.m.c.tracked, nil
	}
	kvs, err := t.tx.List(NSTrackedUsers)
	if err != nil {
		return nil, storeErr(err)
	}
	m := make(map[string]*trackedState, len(kvs))
	for _, kv := range kvs {
		st := new(trackedState)
		if err := t.m.open(kindValue+string(NSTrackedUsers)+"\x00"+kv.Key, kv.Value, st); err != nil {
			return nil, err
		}
		m[kv.Key] = st
	}
	t.m.c.tracked = m
	return m, nil
}

func (t *txn) putTracked(userID string, st *trackedState) error {
	m, err := t.trackedUsers()
	if err != nil {
		return err
	}
	m[userID] = st
	return t.putValue(NSTrackedUsers, userID, *st)
}

// untrack stops tracking a user.
func (t *txn) untrack(userID string) error {
	m, err := t.trackedUsers()
	if err != nil {
		return err
	}
	delete(m, userID)
	return storeErr(t.tx.Delete(NSTrackedUsers, userID))
}

// track starts tracking a user's devices; a new user is outdated at once.
func (t *txn) track(userID string) error {
	m, err := t.trackedUsers()
	if err != nil || m[userID] != nil {
		return err
	}
	return t.putTracked(userID, &trackedState{Outdated: true, Seq: 1})
}

// markOutdated flags a tracked user's device list for a new query. The
// sequence number lets a query answer that was in flight during the change
// leave the flag set (the specification's race rule).
func (t *txn) markOutdated(userID string) error {
	m, err := t.trackedUsers()
	if err != nil || m[userID] == nil {
		return err
	}
	st := *m[userID]
	st.Outdated = true
	st.Seq++
	return t.putTracked(userID, &st)
}

// outdatedUsers returns the tracked users whose device lists need a query.
func (t *txn) outdatedUsers() (map[string]uint64, error) {
	m, err := t.trackedUsers()
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for u, st := range m {
		if st.Outdated {
			out[u] = st.Seq
		}
	}
	return out, nil
}

// UpdateTrackedUsers starts tracking the devices of users (the members of
// the encrypted rooms the caller is in). Users not tracked before are
// queried with the next /keys/query.
func (m *Machine) UpdateTrackedUsers(ctx context.Context, users []string) error {
	return m.update(ctx, func(t *txn) error {
		for _, u := range users {
			if err := t.track(u); err != nil {
				return err
			}
		}
		return nil
	})
}

// MarkAllTrackedUsersOutdated flags every tracked user for a new query:
// call it after an initial sync or a limited one, when device_lists may
// have missed changes.
func (m *Machine) MarkAllTrackedUsersOutdated(ctx context.Context) error {
	return m.update(ctx, func(t *txn) error { return t.markAllOutdated() })
}

// markAllOutdated flags every tracked user for a new query.
func (t *txn) markAllOutdated() error {
	tracked, err := t.trackedUsers()
	if err != nil {
		return err
	}
	users := make([]string, 0, len(tracked))
	for u := range tracked {
		users = append(users, u)
	}
	for _, u := range users {
		if err := t.markOutdated(u); err != nil {
			return err
		}
	}
	return nil
}

// Devices returns the known devices of a user, sorted by device ID.
func (m *Machine) Devices(ctx context.Context, userID string) ([]*Device, error) {
	var out []*Device
	err := m.view(ctx, func(t *txn) error {
		ds, err := t.devices(userID)
		for _, d := range ds {
			out = append(out, d.public())
		}
		return err
	})
	return out, err
}

// SetDeviceVerified records that we verified a device ourselves (by SAS or
// QR code, or out of band) with the given Ed25519 key, or withdraws it. A
// key that is not the device's current key is refused.
func (m *Machine) SetDeviceVerified(ctx context.Context, userID, deviceID string, ed25519 olm.Ed25519PublicKey, verified bool) error {
	return m.update(ctx, func(t *txn) error {
		d, err := t.device(userID, deviceID)
		if err != nil {
			return err
		}
		if d == nil {
			return fmt.Errorf("%w: %s %s", ErrUnknownDevice, userID, deviceID)
		}
		if d.Ed != ed25519.String() {
			return fmt.Errorf("%w: %s %s has another key", ErrDeviceKeysChanged, userID, deviceID)
		}
		d.LocallyVerified = verified
		if verified {
			d.Flagged = false
		}
		if userID == t.m.userID {
			if _, err := t.account(); err != nil {
				return err
			}
			st := &t.m.c.acct
			if st.Verified == nil {
				st.Verified = map[string]string{}
			}
			if verified {
				st.Verified[deviceID] = d.Ed
			} else {
				delete(st.Verified, deviceID)
			}
			t.accountDirty = true
		}
		return t.putDevice(d)
	})
}

// SetDeviceBlacklisted blacklists a device (it never gets room keys, and
// gets m.room_key.withheld with m.blacklisted instead) or lifts it.
func (m *Machine) SetDeviceBlacklisted(ctx context.Context, userID, deviceID string, blacklisted bool) error {
	return m.update(ctx, func(t *txn) error {
		d, err := t.device(userID, deviceID)
		if err != nil {
			return err
		}
		if d == nil {
			return fmt.Errorf("%w: %s %s", ErrUnknownDevice, userID, deviceID)
		}
		d.Blacklisted = blacklisted
		if err := t.bumpDeviceGen(); err != nil {
			return err
		}
		return t.putDevice(d)
	})
}

// UserIdentity is what the machine knows of a user's cross-signing
// identity.
type UserIdentity struct {
	UserID string
	// MasterKey is the pinned master key: the first one seen, or the one
	// accepted (AcceptIdentity) or verified since.
	MasterKey olm.Ed25519PublicKey
	// Verified reports that we verified this identity: our user-signing
	// key signed it (for our own user: we hold its private key or one of
	// our verified devices signed it), or a verification of ours carried
	// it. Never true while Changed.
	Verified bool
	// Changed reports that the server now serves another master key,
	// ServedKey, not yet accepted nor verified: devices cross-signed under
	// it are flagged (VerificationIdentityChanged) and get no room keys.
	Changed   bool
	ServedKey olm.Ed25519PublicKey
	// WasVerified reports, while Changed, that the identity the change
	// replaced was verified: the strongest warning to show ("you had
	// verified this user; their identity changed").
	WasVerified bool
}

// UserIdentity returns the cross-signing identity known for a user (from
// /keys/query of a tracked user, or our own). The error wraps ErrNotFound
// if none is known.
func (m *Machine) UserIdentity(ctx context.Context, userID string) (*UserIdentity, error) {
	var id identityState
	var ok bool
	err := m.view(ctx, func(t *txn) error {
		var err error
		ok, err = t.getValue(NSIdentities, userID, &id)
		return err
	})
	if err != nil {
		return nil, err
	}
	master, perr := olm.ParseEd25519PublicKey(id.Master)
	if !ok || id.Master == "" || perr != nil {
		return nil, fmt.Errorf("%w: no cross-signing identity known for %s", ErrNotFound, userID)
	}
	out := &UserIdentity{UserID: userID, MasterKey: master, Changed: id.Changed}
	if id.Changed {
		out.ServedKey, _ = olm.ParseEd25519PublicKey(id.Served)
		out.WasVerified = id.WasVerified
	} else {
		out.Verified = id.Verified || id.VerifiedMaster != "" && id.VerifiedMaster == id.Master
	}
	return out, nil
}

// AcceptIdentity accepts a user's changed cross-signing identity: the
// master key the last query found becomes the pinned one (unverified), and
// the devices flagged since the change are trusted as cross-signing says
// again.
func (m *Machine) AcceptIdentity(ctx context.Context, userID string) error {
	return m.update(ctx, func(t *txn) error {
		var id identityState
		if _, err := t.getValue(NSIdentities, userID, &id); err != nil {
			return err
		}
		id.Changed = false
		if id.Served != "" && id.Served != id.Master {
			// The key the server serves becomes the pinned one, unverified.
			id.Master, id.MasterJSON, id.ServedJSON, id.Verified = id.Served, id.ServedJSON, nil, false
		}
		if err := t.putValue(NSIdentities, userID, id); err != nil {
			return err
		}
		if userID == t.m.userID {
			t.ownMasterDirty = true
		}
		return t.unflagDevices(userID)
	})
}

// IdentityChanged reports whether a user's cross-signing identity changed
// and the change was not yet accepted with AcceptIdentity.
func (m *Machine) IdentityChanged(ctx context.Context, userID string) (bool, error) {
	var id identityState
	err := m.view(ctx, func(t *txn) error {
		_, err := t.getValue(NSIdentities, userID, &id)
		return err
	})
	return id.Changed, err
}

// queryBatch is an in-flight /keys/query.
type queryBatch struct {
	seqs map[string]uint64
}

// buildQuery returns the body of a /keys/query for users, always with our
// own user, whose keys the cross-signing evaluation needs.
func (m *Machine) buildQuery(users []string) json.RawMessage {
	dk := map[string][]string{m.userID: {}}
	for _, u := range users {
		dk[u] = []string{}
	}
	b, _ := json.Marshal(map[string]any{"device_keys": dk, "timeout": 10000})
	return b
}

// handleQuery applies a /keys/query response.
func (t *txn) handleQuery(q *queryBatch, body []byte) error {
	resp, err := crossign.ParseQueryResponse(body)
	if err != nil {
		return fmt.Errorf("%w: keys/query: %v", ErrBadResponse, err)
	}
	a, err := t.account()
	if err != nil {
		return err
	}
	ourCurve, ourEd := a.IdentityKeys()
	v := &crossign.Verifier{
		UserID:          t.m.userID,
		VerifiedDevices: map[string]olm.Ed25519PublicKey{t.m.deviceID: ourEd},
		Pinned:          map[string]olm.Ed25519PublicKey{},
	}
	if err := t.bootstrapPublished(resp); err != nil {
		return err
	}
	if ks, err := t.privateKeys(); err != nil {
		return err
	} else if ks != nil && ks.Master != nil {
		v.MasterKey = ks.Master
	}
	for dev, k := range t.m.c.acct.Verified {
		if ed, err := olm.ParseEd25519PublicKey(k); err == nil {
			v.VerifiedDevices[dev] = ed
		}
	}
	users := resp.UserIDs()
	ids := map[string]*identityState{}
	for _, u := range users {
		id := new(identityState)
		if _, err := t.getValue(NSIdentities, u, id); err != nil {
			return err
		}
		ids[u] = id
		if id.Master != "" {
			if k, err := olm.ParseEd25519PublicKey(id.Master); err == nil {
				v.Pinned[u] = k
			}
		}
		if id.VerifiedMaster != "" {
			if k, err := olm.ParseEd25519PublicKey(id.VerifiedMaster); err == nil {
				if v.VerifiedMasterKeys == nil {
					v.VerifiedMasterKeys = map[string]olm.Ed25519PublicKey{}
				}
				v.VerifiedMasterKeys[u] = k
			}
		}
	}
	report, err := v.Evaluate(resp)
	if err != nil {
		return fmt.Errorf("%w: %v", errInternal, err)
	}
	pins := report.Pins()
	inResp := map[string]bool{}
	for _, u := range users {
		inResp[u] = true
	}
	for u := range q.seqs {
		if !inResp[u] {
			t.m.failedQueries[u] = true
			continue // a failure: stays outdated
		}
		delete(t.m.failedQueries, u)
		ut := report.User(u)
		if ut == nil {
			continue
		}
		id := ids[u]
		// Our own published master key, whose private key this device
		// holds, is ours, whatever a query that raced our own bootstrap
		// (seeing the old key published) flagged before; and a new master
		// key that we verified (a verification whose MAC carried it, or
		// our user-signing key's signature) needs no acknowledgement.
		ownHeld := u == t.m.userID && v.MasterKey != nil && ut.MasterKey != nil &&
			ut.MasterKey.PublicKey() == v.MasterKey.PublicKey()
		accepted := ownHeld || ut.IdentityChanged && ut.Verified
		unflag := accepted && id.Changed
		if accepted {
			id.Changed = false
		}
		if ut.IdentityChanged && !accepted {
			// WasVerified: the identity this change replaces (or, after
			// further changes not yet accepted, any of them) was verified.
			served := ""
			if ut.MasterKey != nil {
				served = ut.MasterKey.PublicKey().String()
			}
			if !id.Changed || served != id.Served {
				t.m.notice(Notice{UserID: u, Err: fmt.Errorf("%w: %s", ErrIdentityChanged, u)})
			}
			id.WasVerified = id.Verified || id.Changed && id.WasVerified
			id.Changed = true
		}
		if k, ok := pins[u]; ok {
			id.Master = k.String()
		}
		if ut.MasterKey != nil && ut.MasterKey.PublicKey().String() == id.Master {
			id.MasterJSON = ut.MasterKey.Bytes()
		}
		id.Verified = ut.Verified
		id.Served, id.ServedJSON = "", nil
		if ut.MasterKey != nil {
			id.Served = ut.MasterKey.PublicKey().String()
			if id.Served != id.Master {
				id.ServedJSON = ut.MasterKey.Bytes()
			}
		}
		id.SelfSigning, id.UserSigning = "", ""
		if ut.SelfSigningKey != nil {
			id.SelfSigning = ut.SelfSigningKey.PublicKey().String()
		}
		if ut.UserSigningKey != nil {
			id.UserSigning = ut.UserSigningKey.PublicKey().String()
		}
		if u == t.m.userID {
			t.ownMasterDirty = true
		}
		if err := t.putValue(NSIdentities, u, *id); err != nil {
			return err
		}
		if err := t.applyDevices(u, resp, report, id, ourCurve, ourEd); err != nil {
			return err
		}
		if unflag {
			if err := t.unflagDevices(u); err != nil {
				return err
			}
		}
		if t.m.verif != nil && t.m.verif.hasKeys(u) {
			// A verification may wait for these keys (Accept of a
			// request from a device unknown when it came).
			if err := t.refreshKeys(u); err != nil {
				return err
			}
		}
		tracked, err := t.trackedUsers()
		if err != nil {
			return err
		}
		if st := tracked[u]; st != nil && st.Seq == q.seqs[u] && st.Outdated {
			ns := *st
			ns.Outdated = false
			if err := t.putTracked(u, &ns); err != nil {
				return err
			}
		}
	}
	return nil
}

// bootstrapPublished confirms the waiting cross-signing bootstrap if
// the /keys/query response publishes its master key for our user: the
// device signing upload succeeded, though ConfirmCrossSigningUpload has
// not come yet (a sync loop's query raced it). The response is then
// evaluated with the bootstrap's keys as ours, and not taken for an
// identity change.
func (t *txn) bootstrapPublished(resp *crossign.QueryResponse) error {
	st, err := t.pendingBootstrap()
	if err != nil || st == nil || len(st.Keys) == 0 {
		return err
	}
	k, err := resp.CrossSigningKey(t.m.userID, crossign.UsageMaster)
	if err != nil || k == nil || k.PublicKey().String() != st.Master {
		return nil
	}
	if err := t.promoteBootstrap(st); err != nil {
		return err
	}
	return t.putValue(NSValues, valueBootstrapSeen, st.Master)
}

// applyDevices stores the devices listed for u, pinning keys: a device ID
// whose keys change is refused and reported.
func (t *txn) applyDevices(u string, resp *crossign.QueryResponse, report *crossign.Report, id *identityState,
	ourCurve olm.Curve25519PublicKey, ourEd olm.Ed25519PublicKey) error {
	old, err := t.devices(u)
	if err != nil {
		return err
	}
	known := map[string]*deviceState{}
	for _, d := range old {
		known[d.DeviceID] = d
	}
	listed := map[string]bool{}
	for _, devID := range resp.DeviceIDs(u) {
		dt := report.Device(u, devID)
		if dt == nil || dt.Device == nil {
			_, derr := resp.Device(u, devID)
			t.m.notice(Notice{UserID: u, DeviceID: devID, Err: derr})
			continue
		}
		dev := dt.Device
		curve, ed := dev.Curve25519Key().String(), dev.Ed25519Key().String()
		if u == t.m.userID && devID == t.m.deviceID {
			if dev.Curve25519Key() != ourCurve || dev.Ed25519Key() != ourEd {
				t.m.notice(Notice{UserID: u, DeviceID: devID, Err: fmt.Errorf("%w: the server lists other keys for this device", ErrDeviceKeysChanged)})
				listed[devID] = true
				continue
			}
		}
		listed[devID] = true
		d := known[devID]
		if d != nil && (d.Curve != curve || d.Ed != ed) {
			t.m.notice(Notice{UserID: u, DeviceID: devID, Err: fmt.Errorf("%w: %s %s", ErrDeviceKeysChanged, u, devID)})
			continue
		}
		if d == nil {
			d = &deviceState{UserID: u, DeviceID: devID, Curve: curve, Ed: ed, Flagged: id.Changed}
		}
		if !bytes.Equal(d.Keys, dev.Bytes()) {
			d.Keys = dev.Bytes()
		}
		d.Name = dev.DisplayName()
		d.Dehydrated = isDehydrated(d.Keys)
		d.CrossSigned, d.Verified = dt.CrossSigned, dt.Verified
		if u == t.m.userID && devID == t.m.deviceID {
			d.LocallyVerified = true
		}
		if d.Deleted {
			d.Deleted = false
		}
		if err := t.putDevice(d); err != nil {
			return err
		}
	}
	for _, d := range old {
		if !listed[d.DeviceID] && !d.Deleted && !(u == t.m.userID && d.DeviceID == t.m.deviceID) {
			d.Deleted = true
			if err := t.bumpDeviceGen(); err != nil {
				return err
			}
			if err := t.putDevice(d); err != nil {
				return err
			}
		}
	}
	return nil
}
