package machine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// holdCrossSigningKeys gives a client's machine our cross-signing private
// keys, as secret storage or another device would.
func holdCrossSigningKeys(t *testing.T, c *client, ks *crossign.PrivateKeys) {
	t.Helper()
	for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
		if err := c.m.SetSecret(ctx, k.Usage().SecretName(), k.Secret()); err != nil {
			t.Fatal(err)
		}
	}
}

// dehydrationWorld is a world where Alice has a published cross-signing
// identity that signed her device, and her machine holds its keys.
func dehydrationWorld(t *testing.T) (*world, *crossign.PrivateKeys) {
	t.Helper()
	w := newWorld(t)
	ks := crossSign(t, w, w.alice)
	holdCrossSigningKeys(t, w.alice, ks)
	return w, ks
}

// dehydrate creates and uploads a dehydrated device.
func (c *client) dehydrate() *machine.DehydratedDevice {
	c.t.Helper()
	d, err := c.m.CreateDehydratedDevice(ctx, nil)
	if err != nil {
		c.t.Fatalf("%s: CreateDehydratedDevice: %v", c.user, err)
	}
	if d.Request.Kind != machine.KindDehydratedDevice || d.Request.Method != "PUT" || d.Request.Path != dehydrated.Path {
		c.t.Fatalf("request: %s %s %s", d.Request.Kind, d.Request.Method, d.Request.Path)
	}
	body, err := c.hs.Do(c.user, c.dev, d.Request)
	if err != nil {
		c.t.Fatalf("%s: PUT dehydrated_device: %v", c.user, err)
	}
	if !strings.Contains(string(body), d.DeviceID) {
		c.t.Fatalf("PUT answered %s", body)
	}
	return d
}

// rehydrate downloads the dehydrated device, opens it with key (nil: the
// secret) and reads every page of its events.
func (c *client) rehydrate(key *dehydrated.Key) (*machine.Rehydration, []*machine.RehydrationResult) {
	c.t.Helper()
	body, err := c.hs.Do(c.user, c.dev, machine.GetDehydratedDeviceRequest())
	if err != nil {
		c.t.Fatalf("%s: GET dehydrated_device: %v", c.user, err)
	}
	r, err := c.m.Rehydrate(ctx, key, body)
	if err != nil {
		c.t.Fatalf("%s: Rehydrate: %v", c.user, err)
	}
	var out []*machine.RehydrationResult
	for i := 0; ; i++ {
		req := r.NextRequest()
		if req == nil {
			break
		}
		if i > 1000 {
			c.t.Fatal("rehydration never ends")
		}
		if req.Kind != machine.KindDehydratedEvents || req.Method != "POST" {
			c.t.Fatalf("events request: %s %s", req.Kind, req.Method)
		}
		body, err := c.hs.Do(c.user, c.dev, *req)
		if err != nil {
			c.t.Fatalf("%s: POST %s: %v", c.user, req.Path, err)
		}
		res, err := r.ReceiveEvents(ctx, body)
		if err != nil {
			c.t.Fatalf("%s: ReceiveEvents: %v", c.user, err)
		}
		out = append(out, res)
	}
	if !r.Done() {
		c.t.Fatal("no request left, but not done")
	}
	return r, out
}

// Alice uploads a dehydrated device and logs out; Bob sends messages in
// five rooms; Alice's new device rehydrates the device (three pages of
// events and an empty one) and reads them all, then replaces it.
func TestDehydratedDeviceCarriesHistory(t *testing.T) {
	w, ks := dehydrationWorld(t)
	a, b := w.alice, w.bob
	d := a.dehydrate()
	if !d.NewKey {
		t.Error("the first device did not report a new key")
	}
	secret, ok, err := a.m.Secret(ctx, dehydrated.SecretName)
	if err != nil || !ok {
		t.Fatalf("the key was not stored as %s: %v", dehydrated.SecretName, err)
	}
	// Alice's only device goes away; her dehydrated device stays.
	w.hs.DeleteDevice(a.user, a.dev)
	w.hs.DehydratedPageSize = 2

	var rooms []string
	var msgs []json.RawMessage
	for i := range 5 {
		room := fmt.Sprintf("!away%d:x", i)
		rooms = append(rooms, room)
		b.setEncrypted(room)
		if i == 0 {
			if err := b.m.SetRoomHistoryVisibility(ctx, room, "shared"); err != nil {
				t.Fatal(err)
			}
		}
		b.share(room, a.user, b.user)
		msgs = append(msgs, roomEvent(room, b.user, b.encrypt(room, fmt.Sprintf(`{"msgtype":"m.text","body":"while you were away %d"}`, i))))
	}
	// Bob saw the dehydrated device as Alice's cross-signed device and
	// sent it the keys under the default policy.
	if dev := device(t, b, a.user, d.DeviceID); dev == nil || dev.Verification != machine.VerificationUnverifiedIdentity {
		t.Fatalf("Bob's view of the dehydrated device: %+v", dev)
	}
	inbox := w.hs.Peek(a.user, d.DeviceID)
	if len(inbox) != 5 {
		t.Fatalf("the dehydrated device got %d events, want 5", len(inbox))
	}
	for _, ev := range inbox {
		if !strings.Contains(string(ev), `"m.room.encrypted"`) {
			t.Fatalf("the dehydrated device got %s", ev)
		}
	}

	// Alice logs in on a new device, which has the key from secret storage.
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	if err := a2.m.SetSecret(ctx, dehydrated.SecretName, secret); err != nil {
		t.Fatal(err)
	}
	// A message it tried to read before rehydrating comes back for a retry.
	if _, err := a2.m.DecryptRoomEvent(ctx, rooms[1], msgs[1]); !errors.Is(err, machine.ErrNoSession) {
		t.Fatalf("before rehydration: %v", err)
	}
	r, pages := a2.rehydrate(nil)
	var retry []machine.RetryEvent
	for _, p := range pages {
		retry = append(retry, p.Retry...)
	}
	var ev1 struct {
		EventID string `json:"event_id"`
	}
	json.Unmarshal(msgs[1], &ev1)
	if len(retry) != 1 || retry[0].RoomID != rooms[1] || retry[0].EventID != ev1.EventID {
		t.Errorf("retry: %+v", retry)
	}
	if r.DeviceID() != d.DeviceID {
		t.Errorf("rehydrated %s, want %s", r.DeviceID(), d.DeviceID)
	}
	if len(pages) != 4 || !pages[3].Done || pages[2].Done {
		t.Fatalf("%d pages, want 3 of events and an empty one", len(pages))
	}
	keys := 0
	for _, p := range pages {
		keys += len(p.RoomKeys)
		for _, k := range p.RoomKeys {
			if k.Provenance != machine.ProvenanceDirect {
				t.Errorf("room key provenance %s", k.Provenance)
			}
		}
		if len(p.Failed) != 0 {
			t.Errorf("refused: %v", p.Failed)
		}
	}
	if keys != 5 {
		t.Fatalf("%d room keys, want 5", keys)
	}
	r.Close()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, r)
		if out != fmt.Sprintf("machine.Rehydration{%s, 4 pages, 5 events, done: true}", d.DeviceID) {
			t.Errorf("%s prints %s", verb, out)
		}
	}
	a2.flush() // the rehydration tracked Bob: his devices are queried
	for i, ev := range msgs {
		got := a2.decrypt(rooms[i], ev)
		if !strings.Contains(string(got.Content), fmt.Sprintf("while you were away %d", i)) {
			t.Errorf("message %d: %s", i, got.Content)
		}
		if got.Provenance != machine.ProvenanceDirect || got.SenderDevice == nil || got.SenderDevice.DeviceID != b.dev ||
			got.Verification != machine.VerificationUnsigned {
			t.Errorf("message %d: provenance %s, device %+v, verification %s", i, got.Provenance, got.SenderDevice, got.Verification)
		}
		if got.SharedHistory != (i == 0) {
			t.Errorf("message %d: shared history %v", i, got.SharedHistory)
		}
	}

	// Alice's new device replaces the dehydrated device with the same key.
	holdCrossSigningKeys(t, a2, ks)
	d2 := a2.dehydrate()
	if d2.NewKey || d2.DeviceID == d.DeviceID {
		t.Fatalf("replacement: new key %v, ID %s (old %s)", d2.NewKey, d2.DeviceID, d.DeviceID)
	}
	if id, _ := w.hs.DehydratedDevice(a.user); id != d2.DeviceID {
		t.Fatalf("server holds %s, want %s", id, d2.DeviceID)
	}
	b.sync()
	if dev := device(t, b, a.user, d.DeviceID); dev == nil || !dev.Deleted {
		t.Errorf("the old dehydrated device is still listed: %+v", dev)
	}
	if dev := device(t, b, a.user, d2.DeviceID); dev == nil || dev.Verification != machine.VerificationUnverifiedIdentity {
		t.Errorf("the new dehydrated device: %+v", dev)
	}
	r2, pages := a2.rehydrate(nil)
	if r2.DeviceID() != d2.DeviceID || len(pages) != 1 || !pages[0].Done {
		t.Errorf("the new device does not open with the same key: %s, %d pages", r2.DeviceID(), len(pages))
	}
	if _, err := w.hs.Do(a.user, a2.dev, machine.DeleteDehydratedDeviceRequest()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.hs.Do(a.user, a2.dev, machine.GetDehydratedDeviceRequest()); !errors.Is(err, fakehs.ErrNotFound) {
		t.Errorf("GET after DELETE: %v", err)
	}
}

// A key given by the caller is used and not stored; a held secret is used
// and kept; the unstable secret name is read too.
func TestCreateDehydratedDeviceKeys(t *testing.T) {
	w, _ := dehydrationWorld(t)
	a := w.alice
	key := dehydrated.GenerateKey()
	d, err := a.m.CreateDehydratedDevice(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if d.NewKey {
		t.Error("a key given by the caller was reported as new")
	}
	if _, ok, _ := a.m.Secret(ctx, dehydrated.SecretName); ok {
		t.Error("a key given by the caller was stored")
	}
	if err := a.m.SetSecret(ctx, dehydrated.UnstableSecretName, key.Secret()); err != nil {
		t.Fatal(err)
	}
	d = a.dehydrate()
	if d.NewKey {
		t.Error("the unstable secret was not used")
	}
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	if r, _ := a2.rehydrate(key); r.DeviceID() != d.DeviceID {
		t.Error("the device is not under the held key")
	}
	// A held secret that is not a key is refused, not replaced.
	if err := a.m.SetSecret(ctx, dehydrated.SecretName, "not a key"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.CreateDehydratedDevice(ctx, nil); !errors.Is(err, dehydrated.ErrKeySize) {
		t.Errorf("malformed secret: %v", err)
	}
	if s, _, _ := a.m.Secret(ctx, dehydrated.SecretName); s != "not a key" {
		t.Error("the malformed secret was replaced")
	}
}

// Without the self-signing key no dehydrated device is made, and no key is
// stored; a dehydrated device whose cross-signature the server strips gets
// no room key from Bob (m.unverified), as MSC3814 requires.
func TestDehydratedDeviceMustBeCrossSigned(t *testing.T) {
	w := newWorld(t)
	a, b := w.alice, w.bob
	crossSign(t, w, a)
	if _, err := a.m.CreateDehydratedDevice(ctx, nil); !errors.Is(err, machine.ErrNoSelfSigningKey) {
		t.Fatalf("without the self-signing key: %v", err)
	}
	if _, ok, _ := a.m.Secret(ctx, dehydrated.SecretName); ok {
		t.Error("a key was stored for a device that was not made")
	}
	// A self-signing key that is not the published one (Alice's machine
	// knows it from its /keys/query).
	a.sync()
	other, _ := crossign.GenerateKeys(a.user)
	holdCrossSigningKeys(t, a, other)
	if _, err := a.m.CreateDehydratedDevice(ctx, nil); !errors.Is(err, machine.ErrNoSelfSigningKey) {
		t.Fatalf("with another self-signing key: %v", err)
	}

	w2, _ := dehydrationWorld(t)
	a, b = w2.alice, w2.bob
	d := a.dehydrate()
	var up dehydrated.UploadRequest
	if err := json.Unmarshal(d.Request.Body, &up); err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	json.Unmarshal(up.DeviceKeys, &keys)
	sigs := keys["signatures"].(map[string]any)[a.user].(map[string]any)
	if len(sigs) != 2 {
		t.Fatalf("device keys signed by %d keys, want the device's and the self-signing key's", len(sigs))
	}
	for id := range sigs {
		if id != "ed25519:"+d.DeviceID {
			delete(sigs, id)
		}
	}
	stripped, _ := json.Marshal(keys)
	w2.hs.SetDeviceKeys(a.user, d.DeviceID, stripped)
	b.share(w2.room, a.user, b.user)
	if dev := device(t, b, a.user, d.DeviceID); dev == nil || dev.Verification != machine.VerificationUnsigned {
		t.Fatalf("Bob's view of the stripped device: %+v", dev)
	}
	inbox := w2.hs.Peek(a.user, d.DeviceID)
	if len(inbox) != 1 || !strings.Contains(string(inbox[0]), machine.WithheldUnverified) {
		t.Errorf("the unsigned dehydrated device got %s", inbox)
	}
}

// A wrong key and a changed device_data are refused, and store nothing.
func TestRehydrateRefusesWrongKeyAndTamperedData(t *testing.T) {
	w, _ := dehydrationWorld(t)
	a := w.alice
	a.dehydrate()
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	body, err := w.hs.Do(a.user, a2.dev, machine.GetDehydratedDeviceRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a2.m.Rehydrate(ctx, nil, body); !errors.Is(err, machine.ErrNotFound) {
		t.Errorf("no key held: %v", err)
	}
	if _, err := a2.m.Rehydrate(ctx, dehydrated.GenerateKey(), body); !errors.Is(err, dehydrated.ErrWrongKey) {
		t.Errorf("wrong key: %v", err)
	}
	secret, _, _ := a.m.Secret(ctx, dehydrated.SecretName)
	key, err := dehydrated.KeyFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		DeviceID   string            `json:"device_id"`
		DeviceData map[string]string `json:"device_data"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for _, tc := range []struct {
		name  string
		field string
		edit  func(string) string
		want  error
	}{
		{"pickle first byte", "device_pickle", func(s string) string { return flip(s, 0) }, dehydrated.ErrWrongKey},
		{"pickle middle byte", "device_pickle", func(s string) string { return flip(s, len(s)/2) }, dehydrated.ErrWrongKey},
		{"pickle truncated", "device_pickle", func(s string) string { return s[:len(s)-8] }, dehydrated.ErrWrongKey},
		{"nonce", "nonce", func(s string) string { return flip(s, 1) }, dehydrated.ErrWrongKey},
		{"algorithm", "algorithm", func(string) string { return "org.example.v9" }, dehydrated.ErrUnknownAlgorithm},
		{"no pickle", "device_pickle", func(string) string { return "" }, dehydrated.ErrBadDeviceData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := map[string]string{}
			for k, v := range got.DeviceData {
				data[k] = v
			}
			data[tc.field] = tc.edit(data[tc.field])
			b, _ := json.Marshal(map[string]any{"device_id": got.DeviceID, "device_data": data})
			if _, err := a2.m.Rehydrate(ctx, key, b); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// The server changes the device_data it hands out.
	data := map[string]string{}
	for k, v := range got.DeviceData {
		data[k] = v
	}
	data["device_pickle"] = flip(data["device_pickle"], 10)
	tampered, _ := json.Marshal(data)
	w.hs.SetDehydratedDeviceData(a.user, tampered)
	served, _ := w.hs.Do(a.user, a2.dev, machine.GetDehydratedDeviceRequest())
	if _, err := a2.m.Rehydrate(ctx, key, served); !errors.Is(err, dehydrated.ErrWrongKey) {
		t.Errorf("device_data changed by the server: %v", err)
	}
	for _, bad := range []string{``, `{}`, `{"device_id":"X"}`, `[]`, `{"device_id":"X","device_data":"x"}`} {
		if _, err := a2.m.Rehydrate(ctx, key, []byte(bad)); !errors.Is(err, dehydrated.ErrBadDeviceData) {
			t.Errorf("response %q: %v", bad, err)
		}
	}
	// The untouched device still opens.
	if _, err := a2.m.Rehydrate(ctx, key, body); err != nil {
		t.Fatal(err)
	}
}

// olmSender sends Olm-encrypted to-device events from an account of its
// own to a device listed by the fake homeserver.
type olmSender struct {
	t        testing.TB
	hs       *fakehs.Server
	account  *olm.Account
	sessions map[string]*olm.Session
}

func newOlmSender(t testing.TB, hs *fakehs.Server) *olmSender {
	a, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	return &olmSender{t: t, hs: hs, account: a, sessions: map[string]*olm.Session{}}
}

// send returns the event, from envelope sender, whose payload is made by
// NewPayload with payloadSender as sender.
func (s *olmSender) send(envelopeSender, payloadSender, user, dev, eventType string, content any) json.RawMessage {
	s.t.Helper()
	q, _ := json.Marshal(map[string]any{"device_keys": map[string][]string{user: {}}})
	resp, err := s.hs.Do("@mallory:x", "M", machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/query", Body: q})
	if err != nil {
		s.t.Fatal(err)
	}
	qr, err := crossign.ParseQueryResponse(resp)
	if err != nil {
		s.t.Fatal(err)
	}
	dk, err := qr.Device(user, dev)
	if err != nil {
		s.t.Fatal(err)
	}
	sess := s.sessions[dev]
	if sess == nil {
		c, _ := json.Marshal(map[string]any{"one_time_keys": map[string]map[string]string{user: {dev: "signed_curve25519"}}})
		resp, err := s.hs.Do("@mallory:x", "M", machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/claim", Body: c})
		if err != nil {
			s.t.Fatal(err)
		}
		var cr struct {
			OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
		}
		json.Unmarshal(resp, &cr)
		for _, signed := range cr.OneTimeKeys[user][dev] {
			otk, _, err := olm.VerifySignedKey(signed, user, dev, dk.Ed25519Key())
			if err != nil {
				s.t.Fatal(err)
			}
			if sess, err = s.account.NewOutboundSession(dk.Curve25519Key(), otk); err != nil {
				s.t.Fatal(err)
			}
		}
		if sess == nil {
			s.t.Fatal("no one-time key")
		}
		s.sessions[dev] = sess
	}
	c, _ := json.Marshal(content)
	plain, err := olm.NewPayload(s.account, payloadSender, user, dk.Ed25519Key(), eventType, c)
	if err != nil {
		s.t.Fatal(err)
	}
	m, err := sess.Encrypt(plain)
	if err != nil {
		s.t.Fatal(err)
	}
	ev, _ := json.Marshal(map[string]any{
		"type": "m.room.encrypted", "sender": envelopeSender,
		"content": map[string]any{
			"algorithm": olm.AlgorithmOlm, "sender_key": s.account.Curve25519Key().String(),
			"ciphertext": map[string]any{dk.Curve25519Key().String(): map[string]any{"type": int(m.Type()), "body": b64.Encode(m.Bytes())}},
		},
	})
	return ev
}

// normalMessageTo returns an event carrying a normal Olm message, from a
// session between two other accounts, addressed to the device.
func normalMessageTo(t *testing.T, sender, dev string, hs *fakehs.Server, user string) json.RawMessage {
	t.Helper()
	s, _ := olm.NewAccount()
	r, _ := olm.NewAccount()
	r.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range r.OneTimeKeys() {
		otk = k
	}
	out, err := s.NewOutboundSession(r.Curve25519Key(), otk)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := out.Encrypt([]byte("hello"))
	in, _, err := r.NewInboundSession(s.Curve25519Key(), m.(*olm.PreKeyMessage))
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := in.Encrypt([]byte("hi"))
	if _, err := out.Decrypt(reply); err != nil {
		t.Fatal(err)
	}
	normal, _ := out.Encrypt([]byte(`{}`))
	if normal.Type() != olm.MessageTypeNormal {
		t.Fatal("not a normal message")
	}
	q, _ := json.Marshal(map[string]any{"device_keys": map[string][]string{user: {}}})
	resp, _ := hs.Do("@mallory:x", "M", machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/query", Body: q})
	qr, _ := crossign.ParseQueryResponse(resp)
	dk, err := qr.Device(user, dev)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(map[string]any{
		"type": "m.room.encrypted", "sender": sender,
		"content": map[string]any{
			"algorithm": olm.AlgorithmOlm, "sender_key": s.Curve25519Key().String(),
			"ciphertext": map[string]any{dk.Curve25519Key().String(): map[string]any{"type": int(normal.Type()), "body": b64.Encode(normal.Bytes())}},
		},
	})
	return ev
}

func roomKeyFor(t testing.TB, room string) (map[string]any, *megolm.GroupSession) {
	g, err := megolm.NewGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"algorithm": olm.AlgorithmMegolm, "room_id": room, "session_id": g.SessionID(), "session_key": g.SessionKey().Encode()}, g
}

// Events the machine must refuse sit among good ones on the same page:
// each is listed with its reason and the good ones are all stored.
func TestRehydrationRefusesBadEventsAndGoesOn(t *testing.T) {
	w, _ := dehydrationWorld(t)
	a, b := w.alice, w.bob
	d := a.dehydrate()
	w.hs.DeleteDevice(a.user, a.dev)

	b.share(w.room, a.user, b.user)
	good1 := roomEvent(w.room, b.user, b.encrypt(w.room, `{"body":"one"}`))

	// 1. Mallory's device sends a room key as Bob: the homeserver puts
	// Bob in the envelope, the Olm payload says Mallory.
	mallory := newOlmSender(t, w.hs)
	c, _ := roomKeyFor(t, w.room)
	w.hs.Inject(a.user, d.DeviceID, mallory.send(b.user, "@mallory:x", a.user, d.DeviceID, "m.room_key", c))
	// 2. A device the server lists as Bob's BOB3, with the Curve25519 key
	// of an Olm account and the Ed25519 key of another (self-signed by
	// that one): its payload claims its own Ed25519 key, not the listed
	// one.
	x := newOlmSender(t, w.hs)
	y, _ := olm.NewAccount()
	bob3 := map[string]any{
		"algorithms": []string{olm.AlgorithmOlm, olm.AlgorithmMegolm}, "device_id": "BOB3", "user_id": b.user,
		"keys": map[string]string{"curve25519:BOB3": x.account.Curve25519Key().String(), "ed25519:BOB3": y.Ed25519Key().String()},
	}
	canon, _ := canonicaljson.Marshal(bob3)
	bob3["signatures"] = map[string]any{b.user: map[string]string{"ed25519:BOB3": y.Sign(canon).String()}}
	bob3JSON, _ := json.Marshal(bob3)
	w.hs.SetDeviceKeys(b.user, "BOB3", bob3JSON)
	c, _ = roomKeyFor(t, w.room)
	w.hs.Inject(a.user, d.DeviceID, x.send(b.user, b.user, a.user, d.DeviceID, "m.room_key", c))
	// 3. A normal Olm message from a key no session of the dehydrated
	// device knows (made in a session with another account).
	w.hs.Inject(a.user, d.DeviceID, normalMessageTo(t, b.user, d.DeviceID, w.hs, a.user))
	// 4. Garbage.
	w.hs.Inject(a.user, d.DeviceID, json.RawMessage(`{"type":"m.room.encrypted","sender":"@bob:x","content":{"algorithm":"m.olm.v1.curve25519-aes-sha2","sender_key":"nope"}}`))
	// 5. Bob's own dehydrated device sends a room key: a dehydrated
	// device sends nothing.
	bobDehydrated, err := dehydrated.NewDevice(b.user)
	if err != nil {
		t.Fatal(err)
	}
	bup, _ := bobDehydrated.UploadRequest(dehydrated.GenerateKey(), "")
	bbody, _ := json.Marshal(bup)
	if _, err := w.hs.Do(b.user, b.dev, machine.Request{Method: "PUT", Path: dehydrated.Path, Body: bbody}); err != nil {
		t.Fatal(err)
	}
	fromDehydrated := &olmSender{t: t, hs: w.hs, account: bobDehydrated.Account(), sessions: map[string]*olm.Session{}}
	c, _ = roomKeyFor(t, w.room)
	w.hs.Inject(a.user, d.DeviceID, fromDehydrated.send(b.user, b.user, a.user, d.DeviceID, "m.room_key", c))

	room2 := "!second:x"
	b.setEncrypted(room2)
	b.share(room2, a.user, b.user)
	good2 := roomEvent(room2, b.user, b.encrypt(room2, `{"body":"two"}`))

	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	secret, _, _ := a.m.Secret(ctx, dehydrated.SecretName)
	a2.m.SetSecret(ctx, dehydrated.SecretName, secret)
	// ALICE2 knows Bob's devices, BOB3 among them, before rehydrating.
	a2.m.UpdateTrackedUsers(ctx, []string{b.user})
	a2.flush()
	if device(t, a2, b.user, "BOB3") == nil || device(t, a2, b.user, bobDehydrated.DeviceID()) == nil {
		t.Fatal("BOB3 or Bob's dehydrated device not known")
	}
	_, pages := a2.rehydrate(nil)
	var failed []dehydrated.EventError
	keys := 0
	for _, p := range pages {
		failed = append(failed, p.Failed...)
		keys += len(p.RoomKeys)
	}
	if keys != 2 {
		t.Errorf("%d room keys stored, want Bob's 2", keys)
	}
	want := []error{olm.ErrPayloadMismatch, olm.ErrPayloadMismatch, dehydrated.ErrNoSession, dehydrated.ErrBadEvent, machine.ErrUntrustedSender}
	if len(failed) != len(want) {
		t.Fatalf("refused %v, want %d", failed, len(want))
	}
	for i, f := range failed {
		if !errors.Is(f, want[i]) {
			t.Errorf("refusal %d: %v, want %v", i, f, want[i])
		}
	}
	for room, ev := range map[string]json.RawMessage{w.room: good1, room2: good2} {
		if got := a2.decrypt(room, ev); got.Provenance != machine.ProvenanceDirect {
			t.Errorf("%s: provenance %s", room, got.Provenance)
		}
	}
}

// A homeserver that returns more than MaxRehydrationEvents events gets
// the rest ignored: the rehydration ends, truncated.
func TestRehydrationIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 events")
	}
	w, _ := dehydrationWorld(t)
	a := w.alice
	d := a.dehydrate()
	w.hs.DehydratedPageSize = 30_000
	ev := json.RawMessage(`{"type":"m.dummy","sender":"@bob:x","content":{}}`)
	for range machine.MaxRehydrationEvents + 10 {
		w.hs.Inject(a.user, d.DeviceID, ev)
	}
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	secret, _, _ := a.m.Secret(ctx, dehydrated.SecretName)
	a2.m.SetSecret(ctx, dehydrated.SecretName, secret)
	r, pages := a2.rehydrate(nil)
	ignored := 0
	for _, p := range pages {
		ignored += p.Ignored
	}
	last := pages[len(pages)-1]
	if len(pages) != 4 || ignored != machine.MaxRehydrationEvents || !last.Truncated || !last.Done {
		t.Errorf("%d pages, %d events read, last page %+v", len(pages), ignored, last)
	}
	if r.NextRequest() != nil {
		t.Error("a request after the limit")
	}
	if res, err := r.ReceiveEvents(ctx, []byte(`{"events":[{"type":"m.dummy","sender":"@bob:x","content":{}}],"next_batch":"x"}`)); err != nil || res.Ignored != 0 || !res.Done {
		t.Errorf("a page after the limit: %+v, %v", res, err)
	}
}

// A page that does not parse changes nothing and can be sent again.
func TestRehydrationBadPage(t *testing.T) {
	w, _ := dehydrationWorld(t)
	a, b := w.alice, w.bob
	d := a.dehydrate()
	b.share(w.room, a.user, b.user)
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	secret, _, _ := a.m.Secret(ctx, dehydrated.SecretName)
	a2.m.SetSecret(ctx, dehydrated.SecretName, secret)
	body, _ := w.hs.Do(a.user, a2.dev, machine.GetDehydratedDeviceRequest())
	r, err := a2.m.Rehydrate(ctx, nil, body)
	if err != nil {
		t.Fatal(err)
	}
	req := r.NextRequest()
	for _, bad := range []string{``, `[`, `{"events":{}}`, `{"events":[1],"next_batch":2}`} {
		if _, err := r.ReceiveEvents(ctx, []byte(bad)); !errors.Is(err, machine.ErrBadResponse) {
			t.Errorf("page %q: %v", bad, err)
		}
	}
	if again := r.NextRequest(); again.Path != req.Path || string(again.Body) != string(req.Body) || again.ID != req.ID {
		t.Errorf("the request changed: %+v, %+v", req, again)
	}
	page, _ := w.hs.Do(a.user, a2.dev, *req)
	res, err := r.ReceiveEvents(ctx, page)
	if err != nil || len(res.RoomKeys) != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if next := r.NextRequest(); next == nil || next.ID == req.ID || !strings.Contains(string(next.Body), "next_batch") {
		t.Errorf("next request: %+v", next)
	}
	// The wrong device's events are forbidden.
	other := *req
	other.Path = dehydrated.EventsPath("NOTIT")
	if _, err := w.hs.Do(a.user, a2.dev, other); !errors.Is(err, fakehs.ErrForbidden) {
		t.Errorf("events of another device: %v", err)
	}
	_ = d
}

// MSC3814: a dehydrated device that is not cross-signed gets no room key,
// even from a user who shares with unsigned devices and when its owner has
// no cross-signing identity; it is shown as dehydrated; a to-device event
// from a dehydrated device is refused.
func TestUnsignedDehydratedDevice(t *testing.T) {
	for _, shareUnsigned := range []bool{false, true} {
		t.Run(fmt.Sprint("ShareWithUnsignedDevices=", shareUnsigned), func(t *testing.T) {
			w := newWorld(t) // nobody has a cross-signing identity
			a, b := w.alice, w.bob
			if shareUnsigned {
				b.opts.ShareWithUnsignedDevices = true
				b.restart()
			}
			dev, err := dehydrated.NewDevice(a.user)
			if err != nil {
				t.Fatal(err)
			}
			up, err := dev.UploadRequest(dehydrated.GenerateKey(), dehydrated.DefaultDisplayName)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(up)
			if _, err := w.hs.Do(a.user, a.dev, machine.Request{Method: "PUT", Path: dehydrated.Path, Body: body}); err != nil {
				t.Fatal(err)
			}
			b.share(w.room, a.user, b.user)
			if d := device(t, b, a.user, dev.DeviceID()); d == nil || !d.Dehydrated || d.Verification != machine.VerificationUnsigned {
				t.Fatalf("Bob's view of the dehydrated device: %+v", d)
			}
			if d := device(t, b, a.user, a.dev); d == nil || d.Dehydrated {
				t.Fatalf("Bob's view of Alice's device: %+v", d)
			}
			inbox := w.hs.Peek(a.user, dev.DeviceID())
			if len(inbox) != 1 || !strings.Contains(string(inbox[0]), machine.WithheldUnverified) {
				t.Errorf("the unsigned dehydrated device got %s", inbox)
			}
			ev := roomEvent(w.room, b.user, b.encrypt(w.room, `{"body":"hi"}`))
			a.sync()
			a.decrypt(w.room, ev) // Alice's own device got the key

			s := &olmSender{t: t, hs: w.hs, account: dev.Account(), sessions: map[string]*olm.Session{}}
			c, _ := roomKeyFor(t, "!other:x")
			w.hs.Inject(b.user, b.dev, s.send(a.user, a.user, b.user, b.dev, "m.room_key", c))
			res := b.sync()
			if len(res.ToDevice) != 1 || !errors.Is(res.ToDevice[0].Err, machine.ErrUntrustedSender) || len(res.RoomKeys) != 0 {
				t.Errorf("a room key from the dehydrated device: %+v", res)
			}
		})
	}
}

// Our own dehydrated device, cross-signed and so verified, is still not
// one of our devices that may ask for secrets or room keys: a request
// naming it is not answered.
func TestOwnDehydratedDeviceGetsNoSecrets(t *testing.T) {
	w, _ := dehydrationWorld(t)
	a := w.alice
	d := a.dehydrate()
	a.sync()
	if dev := device(t, a, a.user, d.DeviceID); dev == nil || !dev.Dehydrated || dev.Verification != machine.VerificationVerified {
		t.Fatalf("Alice's view of her dehydrated device: %+v", dev)
	}
	otks := w.hs.OneTimeKeyCount(a.user, d.DeviceID)
	for _, ev := range []string{
		`{"type":"m.secret.request","sender":"@alice:x","content":{"action":"request","name":"m.cross_signing.self_signing","request_id":"r1","requesting_device_id":"` + d.DeviceID + `"}}`,
		`{"type":"m.room_key_request","sender":"@alice:x","content":{"action":"request","request_id":"r2","requesting_device_id":"` + d.DeviceID + `","body":{"algorithm":"m.megolm.v1.aes-sha2","room_id":"!room:x","session_id":"s","sender_key":"k"}}}`,
	} {
		w.hs.Inject(a.user, a.dev, json.RawMessage(ev))
	}
	a.sync()
	a.sync()
	if inbox := w.hs.Peek(a.user, d.DeviceID); len(inbox) != 0 || w.hs.OneTimeKeyCount(a.user, d.DeviceID) != otks {
		t.Errorf("the dehydrated device was answered: %d events, %d one-time keys claimed", len(inbox), otks-w.hs.OneTimeKeyCount(a.user, d.DeviceID))
	}
}

// A store failure while a page's keys are stored leaves nothing of the
// page, and the Rehydration unusable (its account used the page's one-time
// keys); a new one reads everything again, since the server keeps the
// events.
func TestRehydrationStoreFailure(t *testing.T) {
	w, _ := dehydrationWorld(t)
	a, b := w.alice, w.bob
	a.dehydrate()
	b.share(w.room, a.user, b.user)
	ev := roomEvent(w.room, b.user, b.encrypt(w.room, `{"body":"kept"}`))
	secret, _, _ := a.m.Secret(ctx, dehydrated.SecretName)

	f := &failer{}
	c := &client{t: t, hs: w.hs, user: a.user, dev: "ALICE2", store: &failStore{Store: memstore.New(), f: f}, key: pickleKey(9), clock: w.clock}
	c.opts = machine.Options{UserID: c.user, DeviceID: c.dev, Store: c.store, PickleKey: c.key, Clock: w.clock.now}
	c.open()
	c.flush()
	c.m.SetSecret(ctx, dehydrated.SecretName, secret)
	body, _ := w.hs.Do(a.user, c.dev, machine.GetDehydratedDeviceRequest())
	r, err := c.m.Rehydrate(ctx, nil, body)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := w.hs.Do(a.user, c.dev, *r.NextRequest())
	f.at = f.n + 1
	if _, err := r.ReceiveEvents(ctx, page); !errors.Is(err, errInjected) {
		t.Fatalf("store failure: %v", err)
	}
	if _, err := r.ReceiveEvents(ctx, page); !errors.Is(err, machine.ErrRehydrationFailed) || !errors.Is(err, errInjected) {
		t.Errorf("after the failure: %v", err)
	}
	if r.NextRequest() != nil {
		t.Error("a request after the failure")
	}
	// The account that can no longer be used is wiped at once, not when
	// the caller remembers to Close it.
	if !machine.RehydrationWiped(r) {
		t.Error("the dehydrated account of the failed rehydration is not wiped")
	}
	if _, err := c.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrNoSession) {
		t.Errorf("the failed page left a key: %v", err)
	}
	c.rehydrate(nil)
	if got := c.decrypt(w.room, ev); !strings.Contains(string(got.Content), "kept") {
		t.Errorf("after starting again: %s", got.Content)
	}
}

// The dehydration key travels through secret storage: Alice's machine
// makes it and writes it there with her other secrets, under both names;
// her new device opens secret storage with the recovery key and rehydrates
// without being handed the key. A secret storage entry that is not a
// dehydration key is refused.
func TestDehydrationKeyThroughSecretStorage(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	d := a.dehydrate()
	if !d.NewKey {
		t.Fatal("no new key")
	}
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(ss.AccountData)
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	a2.syncAccountData()
	res, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{dehydrated.SecretName, dehydrated.UnstableSecretName} {
		if !slices.Contains(res.Imported, name) {
			t.Errorf("%s not imported: %v", name, res.Imported)
		}
	}
	if r, _ := a2.rehydrate(nil); r.DeviceID() != d.DeviceID {
		t.Errorf("rehydrated %s, want %s", r.DeviceID(), d.DeviceID)
	}

	// An entry that decrypts but is not a key of 32 bytes.
	if err := a.m.SetSecret(ctx, dehydrated.UnstableSecretName, "c2hvcnQ"); err != nil {
		t.Fatal(err)
	}
	puts, err := a.m.SecretStorageAccountData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(puts)
	a3 := newClient(t, w.hs, a.user, "ALICE3", w.clock)
	a3.syncAccountData()
	res, err = a3.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.Errors[dehydrated.UnstableSecretName], dehydrated.ErrKeySize) || !slices.Contains(res.Imported, dehydrated.SecretName) {
		t.Errorf("imported %v, errors %v", res.Imported, res.Errors)
	}
}

// When the two names hold different keys (another client rotated one),
// Rehydrate tries both.
func TestRehydrateTriesBothSecretNames(t *testing.T) {
	w, _ := dehydrationWorld(t)
	a := w.alice
	d := a.dehydrate()
	right, _, _ := a.m.Secret(ctx, dehydrated.SecretName)
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	a2.m.SetSecret(ctx, dehydrated.SecretName, dehydrated.GenerateKey().Secret())
	a2.m.SetSecret(ctx, dehydrated.UnstableSecretName, right)
	if r, _ := a2.rehydrate(nil); r.DeviceID() != d.DeviceID {
		t.Error("not rehydrated")
	}
	a2.m.SetSecret(ctx, dehydrated.UnstableSecretName, "not a key")
	body, _ := w.hs.Do(a.user, a2.dev, machine.GetDehydratedDeviceRequest())
	if _, err := a2.m.Rehydrate(ctx, nil, body); !errors.Is(err, dehydrated.ErrWrongKey) {
		t.Errorf("with a wrong key and a malformed one: %v", err)
	}
	a2.m.SetSecret(ctx, dehydrated.SecretName, "not a key")
	if _, err := a2.m.Rehydrate(ctx, nil, body); !errors.Is(err, dehydrated.ErrKeySize) {
		t.Errorf("with two malformed keys: %v", err)
	}
}

// A device whose only other device is the dehydrated one asks nobody for
// keys or secrets: the dehydrated device cannot answer, and requests sent
// to all our devices would pile up in its inbox.
func TestNoRequestsToOwnDehydratedDevice(t *testing.T) {
	w, _ := dehydrationWorld(t)
	a, b := w.alice, w.bob
	d := a.dehydrate()
	a.sync()
	if dev := device(t, a, a.user, d.DeviceID); dev == nil || !dev.Dehydrated {
		t.Fatalf("Alice's view of her dehydrated device: %+v", dev)
	}
	// Bob writes with a key Alice never got (she is left out of the share).
	b.share(w.room, b.user)
	ev := roomEvent(w.room, b.user, b.encrypt(w.room, `{"body":"x"}`))
	if _, err := a.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrNoSession) {
		t.Fatalf("decrypt: %v", err)
	}
	if asked, err := a.m.RequestMissingSecrets(ctx); err != nil || len(asked) != 0 {
		t.Errorf("asked for %v, %v", asked, err)
	}
	a.flush()
	if inbox := w.hs.Peek(a.user, d.DeviceID); len(inbox) != 0 {
		t.Errorf("the dehydrated device got %d requests", len(inbox))
	}
}
