package machine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// keyRequestState is a room key or secret request we made.
type keyRequestState struct {
	RequestID string `json:"request_id"`
	// RoomID and SessionID for a room key; Secret for a secret.
	RoomID     string `json:"room_id,omitempty"`
	SessionID  string `json:"session_id,omitempty"`
	SecretName string `json:"secret,omitempty"`
	// SenderKey is the room key's sender key as the event named it
	// (deprecated in requests, sent when known).
	SenderKey string `json:"sender_key,omitempty"`
	// Created is when the request was made (ms), to expire the oldest.
	Created int64 `json:"created,omitempty"`
}

// requestContent is the m.room_key_request or m.secret.request content
// of an outstanding request.
func (t *txn) requestContent(st keyRequestState) (typ string, c json.RawMessage) {
	if st.SecretName != "" {
		c, _ = json.Marshal(secretRequestContent{Action: "request", Name: st.SecretName, RequestID: st.RequestID, RequestingDeviceID: t.m.deviceID})
		return "m.secret.request", c
	}
	c, _ = json.Marshal(keyRequestContent{Action: "request", RequestID: st.RequestID, RequestingDeviceID: t.m.deviceID,
		Body: &keyRequestBody{Algorithm: olm.AlgorithmMegolm, RoomID: st.RoomID, SessionID: st.SessionID, SenderKey: st.SenderKey}})
	return "m.room_key_request", c
}

// resendRequests sends our outstanding room key and secret requests, with
// their request IDs, to one of our devices: one that we just verified,
// which ignored them while it did not trust us.
func (t *txn) resendRequests(deviceID string) error {
	kvs, err := t.tx.List(NSKeyRequests)
	if err != nil {
		return storeErr(err)
	}
	for _, kv := range kvs {
		if !strings.HasPrefix(kv.Key, "room\x00") && !strings.HasPrefix(kv.Key, "secret\x00") {
			continue
		}
		var st keyRequestState
		if _, err := t.getValue(NSKeyRequests, kv.Key, &st); err != nil {
			return err
		}
		typ, c := t.requestContent(st)
		if err := t.queueToDevice(typ, map[string]map[string]json.RawMessage{t.m.userID: {deviceID: c}}, ""); err != nil {
			return err
		}
	}
	return nil
}

// maxKeyRequests bounds our outstanding m.room_key_request: a new one
// beyond it cancels the oldest (room events can name any session).
const maxKeyRequests = 256

type keyRequestContent struct {
	Action             string          `json:"action"`
	RequestID          string          `json:"request_id"`
	RequestingDeviceID string          `json:"requesting_device_id"`
	Body               *keyRequestBody `json:"body,omitempty"`
}

type keyRequestBody struct {
	Algorithm string `json:"algorithm"`
	RoomID    string `json:"room_id"`
	SessionID string `json:"session_id"`
	SenderKey string `json:"sender_key,omitempty"`
}

// hasOtherOwnDevices reports whether we know another device of our own
// that could answer a request: our dehydrated device cannot.
func (t *txn) hasOtherOwnDevices() (bool, error) {
	ds, err := t.devices(t.m.userID)
	if err != nil {
		return false, err
	}
	for _, d := range ds {
		if d.DeviceID != t.m.deviceID && !d.Deleted && !d.Dehydrated {
			return true, nil
		}
	}
	return false, nil
}

// requestKey asks our other devices for a missing room key, once per
// session, with m.room_key_request (sent in the clear, as the
// specification says; the answer comes over Olm).
func (t *txn) requestKey(roomID, sessionID, senderKey string) error {
	k := "room\x00" + roomID + "\x00" + sessionID
	var st keyRequestState
	if ok, err := t.getValue(NSKeyRequests, k, &st); err != nil || ok {
		return err
	}
	if ok, err := t.hasOtherOwnDevices(); err != nil || !ok {
		return err
	}
	// Only for rooms we know to be encrypted: anyone can make up events.
	if r, err := t.room(roomID); err != nil || r == nil {
		return err
	}
	if err := t.expireKeyRequests(); err != nil {
		return err
	}
	st = keyRequestState{RequestID: newID(), RoomID: roomID, SessionID: sessionID, SenderKey: senderKey, Created: ms(t.now)}
	typ, c := t.requestContent(st)
	if err := t.queueToDevice(typ, map[string]map[string]json.RawMessage{t.m.userID: {"*": c}}, ""); err != nil {
		return err
	}
	if err := t.putValue(NSKeyRequests, k, st); err != nil {
		return err
	}
	return t.putValue(NSKeyRequests, "id\x00"+st.RequestID, st)
}

// expireKeyRequests cancels the oldest outstanding room key requests
// until a new one fits under maxKeyRequests.
func (t *txn) expireKeyRequests() error {
	kvs, err := t.tx.List(NSKeyRequests)
	if err != nil {
		return storeErr(err)
	}
	n := 0
	for _, kv := range kvs {
		if strings.HasPrefix(kv.Key, "room\x00") {
			n++
		}
	}
	if n < maxKeyRequests {
		return nil
	}
	var reqs []keyRequestState
	for _, kv := range kvs {
		if !strings.HasPrefix(kv.Key, "room\x00") {
			continue
		}
		var st keyRequestState
		if _, err := t.getValue(NSKeyRequests, kv.Key, &st); err != nil {
			return err
		}
		reqs = append(reqs, st)
	}
	if len(reqs) < maxKeyRequests {
		return nil
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Created < reqs[j].Created })
	for _, st := range reqs[:len(reqs)-maxKeyRequests+1] {
		if err := t.keyArrived(st.RoomID, st.SessionID); err != nil {
			return err
		}
	}
	return nil
}

// keyArrived cancels the key request for a session whose key arrived (or
// that expired).
func (t *txn) keyArrived(roomID, sessionID string) error {
	k := "room\x00" + roomID + "\x00" + sessionID
	var st keyRequestState
	ok, err := t.getValue(NSKeyRequests, k, &st)
	if err != nil || !ok {
		return err
	}
	c, _ := json.Marshal(keyRequestContent{Action: "request_cancellation", RequestID: st.RequestID, RequestingDeviceID: t.m.deviceID})
	if err := t.queueToDevice("m.room_key_request", map[string]map[string]json.RawMessage{t.m.userID: {"*": c}}, ""); err != nil {
		return err
	}
	if err := storeErr(t.tx.Delete(NSKeyRequests, k)); err != nil {
		return err
	}
	return storeErr(t.tx.Delete(NSKeyRequests, "id\x00"+st.RequestID))
}

// ownVerified reports whether d is one of our own other devices that we
// trust: verified by us or cross-signed by our verified identity. Our
// dehydrated device never is: it asks for nothing and sends nothing
// (MSC3814), and anyone who can read our dehydration key could speak for
// it.
func (t *txn) ownVerified(d *deviceState) bool {
	return d != nil && d.UserID == t.m.userID && d.DeviceID != t.m.deviceID && !d.Deleted && !d.Blacklisted &&
		!d.Dehydrated && d.verification() == VerificationVerified
}

// receiveKeyRequest answers an m.room_key_request: with the key from its
// first known index for our own verified devices; from the index it was
// shared at for the exact device (user, device ID and identity key) we
// shared our own outbound session with; with nothing for anyone else
// (SECURITY 31). The request itself is unauthenticated, which is fine: the
// answer is Olm-encrypted to the device keys we know.
func (t *txn) receiveKeyRequest(ev *ToDeviceEvent, _ *deviceState) error {
	var c keyRequestContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return fmt.Errorf("%w: m.room_key_request: %v", ErrMalformedEvent, err)
	}
	if c.Action != "request" || c.Body == nil || c.Body.Algorithm != olm.AlgorithmMegolm {
		return nil
	}
	if ev.Sender == t.m.userID && c.RequestingDeviceID == t.m.deviceID {
		return nil
	}
	d, err := t.device(ev.Sender, c.RequestingDeviceID)
	if err != nil {
		return err
	}
	if d == nil || d.Deleted || d.Blacklisted {
		return nil
	}
	s, err := t.inbound(c.Body.RoomID, c.Body.SessionID)
	if err != nil || s == nil {
		return err
	}
	var index uint32
	switch {
	case t.ownVerified(d):
		index = s.s.FirstKnownIndex()
	default:
		o, err := t.outbound(c.Body.RoomID)
		if err != nil {
			return err
		}
		if o == nil || o.state.SessionID != c.Body.SessionID {
			return nil
		}
		sh, ok := o.state.Shared[d.key()]
		if !ok || sh.Withheld != "" || sh.Curve25519 != d.Curve {
			return nil // not shared with this device, or it has a new identity key
		}
		index = sh.Index
	}
	exp, err := s.s.ExportAt(index)
	if err != nil {
		return nil
	}
	fwd, _ := json.Marshal(forwardedKeyContent{
		Algorithm: olm.AlgorithmMegolm, RoomID: c.Body.RoomID, SessionID: c.Body.SessionID,
		SessionKey: exp.Encode(), SenderKey: s.state.SenderKey, SenderClaimedEd25519: s.state.SenderEd25519,
		Chain: []string{},
	})
	enc, ok, err := t.encryptOlm(d, "m.forwarded_room_key", fwd)
	if err != nil {
		return err
	}
	if !ok {
		return t.deferUntilSession(d, ev)
	}
	return t.queueToDevice("m.room.encrypted", map[string]map[string]json.RawMessage{d.UserID: {d.DeviceID: enc}}, "")
}

type forwardedKeyContent struct {
	Algorithm            string   `json:"algorithm"`
	RoomID               string   `json:"room_id"`
	SessionID            string   `json:"session_id"`
	SessionKey           string   `json:"session_key"`
	SenderKey            string   `json:"sender_key"`
	SenderClaimedEd25519 string   `json:"sender_claimed_ed25519_key"`
	Chain                []string `json:"forwarding_curve25519_key_chain"`
}

// receiveForwardedKey accepts an m.forwarded_room_key only in answer to a
// request of ours and only from our own verified device (SECURITY 30); the
// session is marked forwarded, never direct.
func (t *txn) receiveForwardedKey(ev *ToDeviceEvent, _ *olm.Payload, dev *deviceState, res *SyncResult) (*RoomKeyInfo, error) {
	var c forwardedKeyContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return nil, fmt.Errorf("%w: m.forwarded_room_key: %v", ErrMalformedEvent, err)
	}
	if c.Algorithm != olm.AlgorithmMegolm {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAlgorithm, c.Algorithm)
	}
	if !t.ownVerified(dev) {
		return nil, fmt.Errorf("%w: m.forwarded_room_key from a device that is not our own verified device", ErrUntrustedSender)
	}
	var req keyRequestState
	ok, err := t.getValue(NSKeyRequests, "room\x00"+c.RoomID+"\x00"+c.SessionID, &req)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: m.forwarded_room_key we did not ask for", ErrUntrustedSender)
	}
	k, err := megolm.ParseExportedSessionKey(c.SessionKey)
	if err != nil || k.SessionID() != c.SessionID {
		return nil, fmt.Errorf("%w: m.forwarded_room_key session key", ErrMalformedEvent)
	}
	if _, err := olm.ParseCurve25519PublicKey(c.SenderKey); err != nil {
		return nil, fmt.Errorf("%w: m.forwarded_room_key sender_key", ErrMalformedEvent)
	}
	s, err := megolm.ImportInboundGroupSessionFrom(k, megolm.ProvenanceForwarded)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	st := inboundState{RoomID: c.RoomID, SessionID: c.SessionID, SenderKey: c.SenderKey,
		SenderEd25519: c.SenderClaimedEd25519, Provenance: ProvenanceForwarded, ForwardedBy: dev.Curve}
	if err := t.storeInbound(&inboundSession{s: s, state: st}, res); err != nil {
		return nil, err
	}
	return &RoomKeyInfo{RoomID: c.RoomID, SessionID: c.SessionID, Provenance: ProvenanceForwarded}, nil
}

type secretRequestContent struct {
	Action             string `json:"action"`
	Name               string `json:"name,omitempty"`
	RequestID          string `json:"request_id"`
	RequestingDeviceID string `json:"requesting_device_id"`
}

type secretSendContent struct {
	RequestID string `json:"request_id"`
	Secret    string `json:"secret"`
}

// receiveSecretRequest answers an m.secret.request only for our own
// verified devices, over Olm.
func (t *txn) receiveSecretRequest(ev *ToDeviceEvent, _ *deviceState) error {
	var c secretRequestContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return fmt.Errorf("%w: m.secret.request: %v", ErrMalformedEvent, err)
	}
	if c.Action != "request" || ev.Sender != t.m.userID || c.RequestingDeviceID == t.m.deviceID {
		return nil
	}
	d, err := t.device(ev.Sender, c.RequestingDeviceID)
	if err != nil || !t.ownVerified(d) {
		return err
	}
	var secret string
	ok, err := t.getValue(NSSecrets, c.Name, &secret)
	if err != nil || !ok {
		return err
	}
	body, _ := json.Marshal(secretSendContent{RequestID: c.RequestID, Secret: secret})
	enc, ok, err := t.encryptOlm(d, "m.secret.send", body)
	if err != nil {
		return err
	}
	if !ok {
		return t.deferUntilSession(d, ev)
	}
	return t.queueToDevice("m.room.encrypted", map[string]map[string]json.RawMessage{d.UserID: {d.DeviceID: enc}}, "")
}

// receiveSecret accepts an m.secret.send only over Olm (the caller checked),
// from our own verified device, in answer to a request of ours (SECURITY
// 46). The secret goes to the store's secrets; the application checks it
// against its public counterpart (for a backup key, the backup's public
// key) before using it.
func (t *txn) receiveSecret(ev *ToDeviceEvent, dev *deviceState) error {
	var c secretSendContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return fmt.Errorf("%w: m.secret.send: %v", ErrMalformedEvent, err)
	}
	if !t.ownVerified(dev) {
		return fmt.Errorf("%w: m.secret.send from a device that is not our own verified device", ErrUntrustedSender)
	}
	var req keyRequestState
	ok, err := t.getValue(NSKeyRequests, "id\x00"+c.RequestID, &req)
	if err != nil {
		return err
	}
	if !ok || req.RoomID != "" { // unknown, or a room key request
		return fmt.Errorf("%w: m.secret.send we did not ask for", ErrUntrustedSender)
	}
	if err := t.checkSecret(req.SecretName, c.Secret); err != nil {
		return err
	}
	if err := t.putSecret(req.SecretName, c.Secret); err != nil {
		return err
	}
	cancel, _ := json.Marshal(secretRequestContent{Action: "request_cancellation", RequestID: req.RequestID, RequestingDeviceID: t.m.deviceID})
	if err := t.queueToDevice("m.secret.request", map[string]map[string]json.RawMessage{t.m.userID: {"*": cancel}}, ""); err != nil {
		return err
	}
	if err := storeErr(t.tx.Delete(NSKeyRequests, "id\x00"+c.RequestID)); err != nil {
		return err
	}
	return storeErr(t.tx.Delete(NSKeyRequests, "secret\x00"+req.SecretName))
}

// RequestSecret asks our other devices for a secret (such as
// "m.megolm_backup.v1" or "m.cross_signing.self_signing") with
// m.secret.request. Only an answer from our own verified device is
// accepted; read it with Secret.
func (m *Machine) RequestSecret(ctx context.Context, name string) error {
	return m.update(ctx, func(t *txn) error {
		_, err := t.requestSecret(name)
		return err
	})
}

// requestSecret queues an m.secret.request for name unless one is
// outstanding; asked reports that one was queued.
func (t *txn) requestSecret(name string) (asked bool, err error) {
	var st keyRequestState
	if ok, err := t.getValue(NSKeyRequests, "secret\x00"+name, &st); err != nil || ok {
		return false, err
	}
	st = keyRequestState{RequestID: newID(), SecretName: name}
	typ, c := t.requestContent(st)
	if err := t.queueToDevice(typ, map[string]map[string]json.RawMessage{t.m.userID: {"*": c}}, ""); err != nil {
		return false, err
	}
	if err := t.putValue(NSKeyRequests, "secret\x00"+name, st); err != nil {
		return false, err
	}
	return true, t.putValue(NSKeyRequests, "id\x00"+st.RequestID, st)
}

// SetSecret stores a secret, which our own verified devices may then
// request.
func (m *Machine) SetSecret(ctx context.Context, name, value string) error {
	return m.update(ctx, func(t *txn) error { return t.putSecret(name, value) })
}

// putSecret stores a secret. It is the one place secrets are written
// (SetSecret, m.secret.send answers, secret storage, a cross-signing
// bootstrap once confirmed, a backup version once SetBackupVersion
// accepts it), so that what must follow the storing of a secret is done
// once here.
//
// A cross-signing private key (m.cross_signing.*) may change this
// device's trust in its own master key, which the verifications learn when
// the transaction commits (see ownMaster).
func (t *txn) putSecret(name, value string) error {
	if err := t.putValue(NSSecrets, name, value); err != nil {
		return err
	}
	if strings.HasPrefix(name, "m.cross_signing.") {
		t.ownMasterDirty = true
	}
	return nil
}

// Secret returns a stored secret; ok is false if there is none.
func (m *Machine) Secret(ctx context.Context, name string) (value string, ok bool, err error) {
	err = m.view(ctx, func(t *txn) error {
		ok, err = t.getValue(NSSecrets, name, &value)
		return err
	})
	return value, ok, err
}

// maxDeferred bounds the requests kept waiting for an Olm session.
const maxDeferred = 1000

type deferredRequest struct {
	Type    string          `json:"type"`
	Sender  string          `json:"sender"`
	Content json.RawMessage `json:"content"`
}

// deferUntilSession keeps a request from a device we have no Olm session
// with, and has the machine claim one; the request is answered once the
// session exists (matrix-rust-sdk's wait queue).
func (t *txn) deferUntilSession(d *deviceState, ev *ToDeviceEvent) error {
	kvs, err := t.tx.List(NSKeyRequests)
	if err != nil {
		return storeErr(err)
	}
	n := 0 // our own requests are not counted: they have their own bound
	for _, kv := range kvs {
		if strings.HasPrefix(kv.Key, "incoming\x00") {
			n++
		}
	}
	if n >= maxDeferred {
		return nil
	}
	h := sha256.Sum256(ev.Content)
	k := "incoming\x00" + d.key() + "\x00" + hex.EncodeToString(h[:8])
	if err := t.putValue(NSKeyRequests, k, deferredRequest{Type: ev.Type, Sender: ev.Sender, Content: ev.Content}); err != nil {
		return err
	}
	t.m.needOlm[d.key()] = [2]string{d.UserID, d.DeviceID}
	return nil
}

// loadNeedOlm rebuilds, at start, the devices whose requests wait for an
// Olm session, from the deferred requests kept in the store.
func (t *txn) loadNeedOlm() error {
	kvs, err := t.tx.List(NSKeyRequests)
	if err != nil {
		return storeErr(err)
	}
	for _, kv := range kvs {
		rest, ok := strings.CutPrefix(kv.Key, "incoming\x00")
		if !ok {
			continue
		}
		parts := strings.SplitN(rest, "\x00", 3)
		if len(parts) != 3 {
			continue
		}
		t.m.needOlm[parts[0]+"\x00"+parts[1]] = [2]string{parts[0], parts[1]}
	}
	return nil
}

// answerDeferred answers the requests of a device that now has a session.
func (t *txn) answerDeferred(d *deviceState) error {
	kvs, err := t.tx.List(NSKeyRequests)
	if err != nil {
		return storeErr(err)
	}
	prefix := "incoming\x00" + d.key() + "\x00"
	for _, kv := range kvs {
		if !strings.HasPrefix(kv.Key, prefix) {
			continue
		}
		var r deferredRequest
		if _, err := t.getValue(NSKeyRequests, kv.Key, &r); err != nil {
			return err
		}
		if err := storeErr(t.tx.Delete(NSKeyRequests, kv.Key)); err != nil {
			return err
		}
		ev := &ToDeviceEvent{Type: r.Type, Sender: r.Sender, Content: r.Content}
		switch r.Type {
		case "m.room_key_request":
			err = t.receiveKeyRequest(ev, d)
		case "m.secret.request":
			err = t.receiveSecretRequest(ev, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkSecret checks a received secret against its public counterpart
// where we know it (SECURITY 46): a backup key must be the key of the
// backup version set (a key received before any version is set waits in
// the secrets and takes part only once a version signed by us matches it),
// and a private master key must be our pinned master key.
func (t *txn) checkSecret(name, value string) error {
	switch name {
	case keybackup.SecretMegolmBackup:
		k, err := keybackup.ParseBackupKey(value)
		if err != nil {
			return fmt.Errorf("%w: backup key: %v", ErrMalformedEvent, err)
		}
		defer k.Close()
		var b backupState
		ok, err := t.getValue(NSValues, "backup", &b)
		if err != nil {
			return err
		}
		if ok && k.PublicKey().String() != b.PublicKey {
			return fmt.Errorf("%w: the backup key does not match the backup", ErrUntrustedSender)
		}
	case crossign.UsageMaster.SecretName():
		k, err := crossign.ParsePrivateKey(crossign.UsageMaster, value)
		if err != nil {
			return fmt.Errorf("%w: master key: %v", ErrMalformedEvent, err)
		}
		defer k.Close()
		var id identityState
		if _, err := t.getValue(NSIdentities, t.m.userID, &id); err != nil {
			return err
		}
		if id.Master != "" && k.PublicKey().String() != id.Master {
			return fmt.Errorf("%w: the master key does not match our identity", ErrUntrustedSender)
		}
	case crossign.UsageSelfSigning.SecretName(), crossign.UsageUserSigning.SecretName():
		u := crossign.UsageSelfSigning
		if name == crossign.UsageUserSigning.SecretName() {
			u = crossign.UsageUserSigning
		}
		k, err := crossign.ParsePrivateKey(u, value)
		if err != nil {
			return fmt.Errorf("%w: %s key: %v", ErrMalformedEvent, u, err)
		}
		defer k.Close()
		var id identityState
		if _, err := t.getValue(NSIdentities, t.m.userID, &id); err != nil {
			return err
		}
		want := id.SelfSigning
		if u == crossign.UsageUserSigning {
			want = id.UserSigning
		}
		if want != "" && k.PublicKey().String() != want {
			return fmt.Errorf("%w: the %s key does not match our identity", ErrUntrustedSender, u)
		}
	}
	return nil
}
