package machine

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// verifier routes m.key.verification.* events to a sas.Machine and applies
// the results. The sas.Machine reads keys from a snapshot that the machine
// refreshes after each /keys/query, so its callbacks never need the
// machine's lock.
type verifier struct {
	sas     *sas.Machine
	mu      sync.Mutex
	keys    map[string]sas.UserKeys
	applied map[string]bool // flow IDs whose result was applied
}

func (m *Machine) newVerifier(ed olm.Ed25519PublicKey) error {
	v := &verifier{keys: map[string]sas.UserKeys{}, applied: map[string]bool{}}
	s, err := sas.NewMachine(sas.Config{
		UserID: m.userID, DeviceID: m.deviceID, DeviceKey: ed, Now: m.clock,
		Keys: func(userID string) (sas.UserKeys, bool) {
			v.mu.Lock()
			defer v.mu.Unlock()
			k, ok := v.keys[userID]
			return k, ok
		},
	})
	if err != nil {
		return err
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
	if k, err := olm.ParseEd25519PublicKey(id.Master); err == nil && id.Master != "" {
		uk.MasterKey = k
	}
	v := t.m.verif
	v.mu.Lock()
	v.keys[userID] = uk
	v.mu.Unlock()
	return nil
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

// applyVerifications records the devices that finished verifications
// verified (their keys as the verification pinned them).
func (t *txn) applyVerifications() error {
	v := t.m.verif
	for _, fl := range v.sas.Verifications() {
		res, ok := fl.Result()
		if !ok || v.applied[fl.FlowID()] {
			continue
		}
		v.applied[fl.FlowID()] = true
		if res.MasterKey != nil && res.UserID != t.m.userID {
			var id identityState
			if _, err := t.getValue(NSIdentities, res.UserID, &id); err != nil {
				return err
			}
			id.VerifiedMaster = res.MasterKey.String()
			if err := t.putValue(NSIdentities, res.UserID, id); err != nil {
				return err
			}
		}
		if res.DeviceKey == nil {
			continue
		}
		d, err := t.device(res.UserID, res.DeviceID)
		if err != nil {
			return err
		}
		if d == nil || d.Ed != res.DeviceKey.String() {
			continue
		}
		if err := t.signVerified(d, res.MasterKey); err != nil {
			return err
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
		}
		if err := t.putDevice(d); err != nil {
			return err
		}
	}
	return nil
}

// SendVerificationEvents queues the to-device events that calls on
// Verifications returned (they come back from OutgoingRequests) and returns
// the in-room ones, which the caller sends in their room (encrypted with
// EncryptRoomEvent in an encrypted room). Devices whose verification
// finished are recorded as verified.
func (m *Machine) SendVerificationEvents(ctx context.Context, evs []sas.Event) ([]sas.Event, error) {
	var room []sas.Event
	err := m.update(ctx, func(t *txn) error {
		var err error
		if room, err = t.queueVerification(evs); err != nil {
			return err
		}
		return t.applyVerifications()
	})
	return room, err
}

// ReceiveRoomVerificationEvent passes an in-room verification event (an
// m.key.verification.* room event, or an m.room.message with msgtype
// m.key.verification.request, decrypted if it was encrypted) to the
// verifications, and returns the in-room events to send in answer; to-device
// answers are queued. The error says why the sas.Machine refused the event;
// send the returned events even then.
func (m *Machine) ReceiveRoomVerificationEvent(ctx context.Context, ev sas.Event) ([]sas.Event, error) {
	var room []sas.Event
	var refusal error
	err := m.update(ctx, func(t *txn) error {
		var err error
		room, refusal, err = t.routeVerification(ev)
		return err
	})
	if err != nil {
		return nil, err
	}
	return room, refusal
}
