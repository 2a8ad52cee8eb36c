package machine_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// verifyEachOther makes each client verify the other's device locally.
func verifyEachOther(t *testing.T, cs ...*client) {
	t.Helper()
	for _, c := range cs {
		users := []string{}
		for _, o := range cs {
			users = append(users, o.user)
		}
		c.m.UpdateTrackedUsers(ctx, users)
		c.m.MarkAllTrackedUsersOutdated(ctx)
		c.flush()
	}
	for _, c := range cs {
		for _, o := range cs {
			if o == c {
				continue
			}
			_, ed, _ := o.m.IdentityKeys(ctx)
			if err := c.m.SetDeviceVerified(ctx, o.user, o.dev, ed, true); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// verifyOneWay makes c verify o's device.
func verifyOneWay(t *testing.T, c, o *client) {
	t.Helper()
	_, ed, _ := o.m.IdentityKeys(ctx)
	if err := c.m.SetDeviceVerified(ctx, o.user, o.dev, ed, true); err != nil {
		t.Fatal(err)
	}
}

func sentToDevice(reqs []machine.Request, typ string) int {
	n := 0
	for _, r := range reqs {
		if r.Kind == machine.KindToDevice && strings.Contains(r.Path, "/sendToDevice/"+typ+"/") {
			n++
		}
	}
	return n
}

func TestKeyRequestCycle(t *testing.T) {
	w := newWorld(t)
	w.bob.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.bob.user, w.bob.encrypt(w.room, `{"body":"before alice2"}`))
	w.alice.sync()

	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	a2.setEncrypted(w.room)
	verifyEachOther(t, w.alice, a2)

	if _, err := a2.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrNoSession) {
		t.Fatalf("before the forward: %v", err)
	}
	reqs, _ := a2.m.OutgoingRequests(ctx)
	if sentToDevice(reqs, "m.room_key_request") != 1 {
		t.Fatalf("no key request: %v", kinds(reqs))
	}
	a2.flush()
	w.alice.sync() // answers over Olm
	res := a2.sync()
	if len(res.RoomKeys) != 1 || res.RoomKeys[0].Provenance != machine.ProvenanceForwarded {
		t.Fatalf("forwarded key: %+v", res.RoomKeys)
	}
	if len(res.Retry) != 1 {
		t.Errorf("retry after the forward: %+v", res.Retry)
	}
	d := a2.decrypt(w.room, ev)
	if d.Provenance != machine.ProvenanceForwarded || !strings.Contains(string(d.Content), "before alice2") {
		t.Errorf("forwarded decrypt: %s %s", d.Provenance, d.Content)
	}
	// The request was cancelled when the key arrived.
	var cancelled bool
	for _, e := range w.hs.Peek(w.alice.user, w.alice.dev) {
		if strings.Contains(string(e), "request_cancellation") {
			cancelled = true
		}
	}
	if !cancelled {
		t.Error("no request_cancellation sent")
	}
}

func TestKeyRequestRefusals(t *testing.T) {
	w := newWorld(t)
	w.bob.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.bob.user, w.bob.encrypt(w.room, `{}`))
	w.alice.sync()

	// An own device that is not verified gets nothing.
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	a2.setEncrypted(w.room)
	w.alice.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	w.alice.m.MarkAllTrackedUsersOutdated(ctx)
	w.alice.flush()
	a2.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	a2.flush()
	verifyOneWay(t, a2, w.alice) // a2 would accept, but Alice must not answer
	a2.m.DecryptRoomEvent(ctx, w.room, ev)
	a2.flush()
	w.alice.sync()
	if res := a2.sync(); len(res.RoomKeys) != 0 {
		t.Errorf("unverified own device got a forward: %+v", res.RoomKeys)
	}

	// Carol, with whom Bob never shared, asks Bob: nothing.
	carol := newClient(t, w.hs, "@carol:x", "CAROL", w.clock)
	carol.setEncrypted(w.room)
	sid := sessionOf(t, json.RawMessage(mustContent(ev)))
	req, _ := json.Marshal(map[string]any{"type": "m.room_key_request", "sender": carol.user, "content": map[string]any{
		"action": "request", "request_id": "r1", "requesting_device_id": carol.dev,
		"body": map[string]any{"algorithm": olm.AlgorithmMegolm, "room_id": w.room, "session_id": sid},
	}})
	w.hs.Inject(w.bob.user, w.bob.dev, req)
	w.bob.m.UpdateTrackedUsers(ctx, []string{carol.user})
	w.bob.flush()
	before := len(w.hs.Peek(carol.user, carol.dev))
	w.bob.sync()
	if after := len(w.hs.Peek(carol.user, carol.dev)); after != before {
		t.Errorf("Bob answered a stranger's key request")
	}

	// Alice asks Bob for the session he shared with her (she lost it):
	// she gets it from the index she was given.
	req, _ = json.Marshal(map[string]any{"type": "m.room_key_request", "sender": w.alice.user, "content": map[string]any{
		"action": "request", "request_id": "r2", "requesting_device_id": w.alice.dev,
		"body": map[string]any{"algorithm": olm.AlgorithmMegolm, "room_id": w.room, "session_id": sid},
	}})
	w.hs.Inject(w.bob.user, w.bob.dev, req)
	w.bob.sync()
	var forwarded bool
	for _, e := range w.hs.Peek(w.alice.user, w.alice.dev) {
		if strings.Contains(string(e), "m.room.encrypted") {
			forwarded = true
		}
	}
	if !forwarded {
		t.Error("Bob did not answer the device he shared the session with")
	}
}

func mustContent(ev json.RawMessage) []byte {
	var e struct {
		Content json.RawMessage `json:"content"`
	}
	json.Unmarshal(ev, &e)
	return e.Content
}

func TestForwardedKeyRefusals(t *testing.T) {
	w := newWorld(t)
	r := newRogue(t, w.hs, "@mallory:x", "MAL")
	w.bob.m.UpdateTrackedUsers(ctx, []string{r.user})
	w.bob.flush()
	fwd := map[string]any{
		"algorithm": olm.AlgorithmMegolm, "room_id": w.room, "session_id": "x", "session_key": "x",
		"sender_key": r.a.Curve25519Key().String(), "sender_claimed_ed25519_key": r.a.Ed25519Key().String(),
		"forwarding_curve25519_key_chain": []string{},
	}
	w.hs.Inject(w.bob.user, w.bob.dev, r.olmEvent(w.bob, r.payload(w.bob, "m.forwarded_room_key", fwd)))
	refusedWith(t, w.bob.sync(), "m.forwarded_room_key", machine.ErrUntrustedSender)

	w.hs.Inject(w.bob.user, w.bob.dev, r.olmEvent(w.bob, r.payload(w.bob, "m.secret.send", map[string]any{"request_id": "x", "secret": "s"})))
	refusedWith(t, w.bob.sync(), "m.secret.send", machine.ErrUntrustedSender)
	if _, ok, _ := w.bob.m.Secret(ctx, "m.megolm_backup.v1"); ok {
		t.Error("secret stored")
	}

	// A key Bob did ask for (he has a second device to ask), forwarded by
	// another user or by his own unverified device: refused.
	b2 := newClient(t, w.hs, w.bob.user, "BOB2", w.clock)
	w.bob.m.UpdateTrackedUsers(ctx, []string{w.bob.user})
	w.bob.m.MarkAllTrackedUsersOutdated(ctx)
	w.bob.flush()
	g := r.sendRoomKey(w.alice, w.room) // a real session, Bob lacks it
	w.alice.sync()
	ev := r.megolmEvent(g, w.room, r.user, map[string]any{"type": "m.room.message", "content": map[string]any{}, "room_id": w.room})
	if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrNoSession) {
		t.Fatal(err)
	}
	w.bob.flush()
	fwd["session_id"] = g.SessionID()
	exp, _ := megolmExport(g)
	fwd["session_key"] = exp
	w.hs.Inject(w.bob.user, w.bob.dev, r.olmEvent(w.bob, r.payload(w.bob, "m.forwarded_room_key", fwd)))
	refusedWith(t, w.bob.sync(), "m.forwarded_room_key", machine.ErrUntrustedSender)
	// From Bob's own device that he has not verified.
	own := newRogue(t, w.hs, w.bob.user, "BOBEVIL")
	w.bob.m.MarkAllTrackedUsersOutdated(ctx)
	w.bob.flush()
	w.hs.Inject(w.bob.user, w.bob.dev, own.olmEvent(w.bob, own.payload(w.bob, "m.forwarded_room_key", fwd)))
	refusedWith(t, w.bob.sync(), "m.forwarded_room_key", machine.ErrUntrustedSender)
	// Once Bob verifies that device, the same forward is accepted.
	verifyOneWayKey(t, w.bob, own.user, own.dev, own.a.Ed25519Key())
	w.hs.Inject(w.bob.user, w.bob.dev, own.olmEvent(w.bob, own.payload(w.bob, "m.forwarded_room_key", fwd)))
	if res := w.bob.sync(); len(res.RoomKeys) != 1 || res.RoomKeys[0].Provenance != machine.ProvenanceForwarded {
		t.Errorf("forward from a verified own device: %+v", res.RoomKeys)
	}
	_ = b2

	// A secret Bob asked for, sent by an own device he has not verified:
	// refused; by the verified one: accepted.
	w.bob.m.RequestSecret(ctx, "m.megolm_backup.v1")
	reqs, _ := w.bob.m.OutgoingRequests(ctx)
	var rid string
	for _, r := range reqs {
		if strings.Contains(r.Path, "m.secret.request") {
			var b struct {
				Messages map[string]map[string]struct {
					RequestID string `json:"request_id"`
				} `json:"messages"`
			}
			json.Unmarshal(r.Body, &b)
			rid = b.Messages[w.bob.user]["*"].RequestID
		}
	}
	w.bob.flush()
	own2 := newRogue(t, w.hs, w.bob.user, "BOBEVIL2")
	w.bob.m.MarkAllTrackedUsersOutdated(ctx)
	w.bob.flush()
	goodKey, _ := keybackup.GenerateBackupKey()
	evilKey, _ := keybackup.GenerateBackupKey()
	w.hs.Inject(w.bob.user, w.bob.dev, own2.olmEvent(w.bob, own2.payload(w.bob, "m.secret.send", map[string]any{"request_id": rid, "secret": evilKey.Encode()})))
	refusedWith(t, w.bob.sync(), "m.secret.send", machine.ErrUntrustedSender)
	w.hs.Inject(w.bob.user, w.bob.dev, own.olmEvent(w.bob, own.payload(w.bob, "m.secret.send", map[string]any{"request_id": rid, "secret": goodKey.Encode()})))
	w.bob.sync()
	if v, ok, _ := w.bob.m.Secret(ctx, "m.megolm_backup.v1"); !ok || v != goodKey.Encode() {
		t.Errorf("secret from the verified own device: %q %v", v, ok)
	}
}

func verifyOneWayKey(t *testing.T, c *client, user, dev string, ed olm.Ed25519PublicKey) {
	t.Helper()
	if err := c.m.SetDeviceVerified(ctx, user, dev, ed, true); err != nil {
		t.Fatal(err)
	}
}

func megolmExport(g *megolm.GroupSession) (string, error) {
	in, err := megolm.NewInboundGroupSession(g.SessionKey())
	if err != nil {
		return "", err
	}
	return in.Export().Encode(), nil
}

func TestSecretCycle(t *testing.T) {
	w := newWorld(t)
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	bk, _ := keybackup.GenerateBackupKey()
	w.alice.m.SetSecret(ctx, "m.megolm_backup.v1", bk.Encode())
	w.alice.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	w.alice.m.MarkAllTrackedUsersOutdated(ctx)
	w.alice.flush()
	var captured []json.RawMessage
	w.hs.Tamper = func(to, dev string, ev json.RawMessage) []json.RawMessage {
		if dev == w.alice.dev && strings.Contains(string(ev), "m.secret.request") {
			captured = append(captured, ev)
		}
		return []json.RawMessage{ev}
	}
	a2.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	a2.flush()
	verifyOneWay(t, a2, w.alice) // a2 would accept, but Alice must not answer
	a2.m.RequestSecret(ctx, "m.megolm_backup.v1")
	a2.flush()
	// Unverified: Alice does not answer.
	w.alice.sync()
	a2.sync()
	if _, ok, _ := a2.m.Secret(ctx, "m.megolm_backup.v1"); ok {
		t.Fatal("secret sent to an unverified device")
	}
	verifyEachOther(t, w.alice, a2)
	if len(captured) != 1 {
		t.Fatalf("%d secret requests captured", len(captured))
	}
	w.hs.Inject(w.alice.user, w.alice.dev, captured[0])
	w.alice.sync()
	a2.sync()
	if v, ok, _ := a2.m.Secret(ctx, "m.megolm_backup.v1"); !ok || v != bk.Encode() {
		t.Errorf("secret after verification: %q %v", v, ok)
	}
}

func TestWedgedSessionRecovery(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.bob.sync()
	w.alice.sync()
	curve, _, _ := w.alice.m.IdentityKeys(ctx)
	bobCurve, _, _ := w.bob.m.IdentityKeys(ctx)
	// A well-formed normal message that no session of Bob's decrypts.
	x, _ := olm.NewAccount()
	y, _ := olm.NewAccount()
	y.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range y.OneTimeKeys() {
		otk = k
	}
	xs, _ := x.NewOutboundSession(y.Curve25519Key(), otk)
	pre, _ := xs.Encrypt([]byte("a"))
	ys, _, err := y.NewInboundSession(x.Curve25519Key(), pre.(*olm.PreKeyMessage))
	if err != nil {
		t.Fatal(err)
	}
	normal, _ := ys.Encrypt([]byte("b"))
	garbage := func() json.RawMessage {
		ev, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": w.alice.user, "content": map[string]any{
			"algorithm": olm.AlgorithmOlm, "sender_key": curve.String(),
			"ciphertext": map[string]any{bobCurve.String(): map[string]any{"type": 1, "body": base64.RawStdEncoding.EncodeToString(normal.Bytes())}},
		}})
		return ev
	}
	dummies := func() int {
		n := 0
		for _, ev := range w.alice.sync().ToDevice {
			if ev.Type == "m.dummy" && ev.Encrypted && ev.Err == nil {
				n++
			}
		}
		return n
	}
	w.hs.Inject(w.bob.user, w.bob.dev, garbage())
	refusedWith(t, w.bob.sync(), "m.room.encrypted", machine.ErrOlmDecrypt)
	if n := dummies(); n != 1 {
		t.Fatalf("%d m.dummy after a wedged session, want 1", n)
	}
	// Again within the hour: no new session.
	w.hs.Inject(w.bob.user, w.bob.dev, garbage())
	w.bob.sync()
	if n := dummies(); n != 0 {
		t.Errorf("%d m.dummy within the hour, want 0", n)
	}
	w.clock.advance(time.Hour + time.Minute)
	w.hs.Inject(w.bob.user, w.bob.dev, garbage())
	w.bob.sync()
	if n := dummies(); n != 1 {
		t.Errorf("%d m.dummy after an hour, want 1", n)
	}
}

// crossSign gives a client's user cross-signing keys on the server and
// signs its device with them.
func crossSign(t *testing.T, w *world, c *client) *crossign.PrivateKeys {
	t.Helper()
	ks, err := crossign.GenerateKeys(c.user)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, w, c.user, ks)
	signDevice(t, w, c.user, c.dev, ks)
	return ks
}

func publish(t *testing.T, w *world, user string, ks *crossign.PrivateKeys) {
	for _, u := range []crossign.Usage{crossign.UsageMaster, crossign.UsageSelfSigning} {
		k, err := ks.PublicKey(u)
		if err != nil {
			t.Fatal(err)
		}
		w.hs.SetCrossSigningKey(user, string(u), k.Bytes())
	}
}

func signDevice(t *testing.T, w *world, user, dev string, ks *crossign.PrivateKeys) {
	body, _ := json.Marshal(map[string]any{"device_keys": map[string][]string{user: {}}})
	resp, _ := w.hs.Do(user, dev, machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/query", Body: body})
	q, err := crossign.ParseQueryResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	d, err := q.Device(user, dev)
	if err != nil {
		t.Fatal(err)
	}
	so, err := ks.SignDevice(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Object().AddSignatures(so.Object); err != nil {
		t.Fatal(err)
	}
	w.hs.SetDeviceKeys(user, dev, d.Bytes())
}

func TestIdentityChangeFlagsNewDevices(t *testing.T) {
	w := newWorld(t)
	crossSign(t, w, w.bob)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ds, _ := w.alice.m.Devices(ctx, w.bob.user)
	if len(ds) != 1 || ds[0].Verification != machine.VerificationUnverifiedIdentity {
		t.Fatalf("cross-signed device: %+v", ds)
	}
	// The server (or Bob) replaces Bob's identity and adds a device.
	b2 := newClient(t, w.hs, w.bob.user, "BOB2", w.clock)
	b2.setEncrypted(w.room)
	ks2, _ := crossign.GenerateKeys(w.bob.user)
	publish(t, w, w.bob.user, ks2)
	signDevice(t, w, w.bob.user, "BOB2", ks2)
	w.alice.sync()
	if changed, _ := w.alice.m.IdentityChanged(ctx, w.bob.user); !changed {
		t.Fatal("identity change not flagged")
	}
	noticed := false
	for _, n := range w.alice.m.Notices() {
		noticed = noticed || (n.UserID == w.bob.user && errors.Is(n.Err, machine.ErrIdentityChanged))
	}
	if !noticed {
		t.Error("no ErrIdentityChanged notice")
	}
	ds, _ = w.alice.m.Devices(ctx, w.bob.user)
	var bob2 *machine.Device
	for _, d := range ds {
		if d.DeviceID == "BOB2" {
			bob2 = d
		}
	}
	if bob2 == nil || bob2.Verification != machine.VerificationIdentityChanged {
		t.Fatalf("new device after the change: %+v", bob2)
	}
	w.alice.m.DiscardRoomKey(ctx, w.room)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	b2.sync()
	var we *machine.WithheldError
	if _, err := b2.m.DecryptRoomEvent(ctx, w.room, ev); !errors.As(err, &we) || we.Code != machine.WithheldUnverified {
		t.Errorf("flagged device: %v, want m.unverified", err)
	}
	// Once accepted, the new device gets keys.
	w.alice.m.AcceptIdentity(ctx, w.bob.user)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev = roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	b2.sync()
	b2.decrypt(w.room, ev)
}

func TestSharedHistoryFlag(t *testing.T) {
	w := newWorld(t)
	w.alice.m.SetRoomHistoryVisibility(ctx, w.room, "shared")
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	w.bob.sync()
	if d := w.bob.decrypt(w.room, ev); !d.SharedHistory {
		t.Error("shared_history not recorded")
	}
	w.alice.m.SetRoomHistoryVisibility(ctx, w.room, "joined")
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev2 := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	w.bob.sync()
	d := w.bob.decrypt(w.room, ev2)
	if d.SharedHistory || d.SessionID == sessionOf(t, mustContent(ev)) {
		t.Errorf("after the visibility change: shared=%v, same session=%v", d.SharedHistory, d.SessionID == sessionOf(t, mustContent(ev)))
	}
}

// After Bob recovers a wedged session with Alice (new Olm session), Alice
// sends him her current room key again over the new session.
func TestRoomKeyResentAfterUnwedge(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.bob.sync()
	w.alice.sync()
	curve, _, _ := w.alice.m.IdentityKeys(ctx)
	bobCurve, _, _ := w.bob.m.IdentityKeys(ctx)
	x, _ := olm.NewAccount()
	y, _ := olm.NewAccount()
	y.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range y.OneTimeKeys() {
		otk = k
	}
	xs, _ := x.NewOutboundSession(y.Curve25519Key(), otk)
	pre, _ := xs.Encrypt([]byte("a"))
	ys, _, _ := y.NewInboundSession(x.Curve25519Key(), pre.(*olm.PreKeyMessage))
	normal, _ := ys.Encrypt([]byte("b"))
	ev, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": w.alice.user, "content": map[string]any{
		"algorithm": olm.AlgorithmOlm, "sender_key": curve.String(),
		"ciphertext": map[string]any{bobCurve.String(): map[string]any{"type": 1, "body": base64.RawStdEncoding.EncodeToString(normal.Bytes())}},
	}})
	w.hs.Inject(w.bob.user, w.bob.dev, ev)
	w.bob.sync() // Bob makes a new session and sends m.dummy
	w.alice.sync()
	if _, err := w.alice.m.EncryptRoomEvent(ctx, w.room, "m.room.message", json.RawMessage(`{}`)); !errors.Is(err, machine.ErrShareRequired) {
		t.Fatalf("encrypt before sharing again: %v", err)
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	res := w.bob.sync()
	if len(res.RoomKeys) != 1 {
		t.Fatalf("room key not sent again: %+v", res.RoomKeys)
	}
	ev2 := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{"body":"after"}`))
	w.bob.decrypt(w.room, ev2)
}

// A /keys/query answer that was in flight when the user's devices changed
// leaves the user outdated (the specification's race rule).
func TestQueryRaceKeepsUserOutdated(t *testing.T) {
	w := newWorld(t)
	w.bob.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	reqs, _ := w.bob.m.OutgoingRequests(ctx)
	var q machine.Request
	for _, r := range reqs {
		if r.Kind == machine.KindKeysQuery {
			q = r
		}
	}
	if q.ID == "" {
		t.Fatal("no query")
	}
	body, err := w.hs.Do(w.bob.user, w.bob.dev, q)
	if err != nil {
		t.Fatal(err)
	}
	// Alice's devices change while the query is in flight.
	if _, err := w.bob.m.ReceiveSync(ctx, machine.SyncChanges{Changed: []string{w.alice.user}}); err != nil {
		t.Fatal(err)
	}
	if err := w.bob.m.MarkRequestSent(ctx, q.ID, body); err != nil {
		t.Fatal(err)
	}
	reqs, _ = w.bob.m.OutgoingRequests(ctx)
	again := false
	for _, r := range reqs {
		if r.Kind == machine.KindKeysQuery && strings.Contains(string(r.Body), w.alice.user) {
			again = true
		}
	}
	if !again {
		t.Error("alice not queried again after a change during the query")
	}
}

// Forged room events in a room never marked encrypted queue no
// m.room_key_request (review F4).
func TestNoKeyRequestForUnencryptedRoom(t *testing.T) {
	w := newWorld(t)
	bob2 := newClient(t, w.hs, w.bob.user, "BOB2", w.clock)
	_ = bob2
	w.bob.sync()
	w.bob.m.MarkAllTrackedUsersOutdated(ctx)
	w.bob.flush()
	var evs []json.RawMessage
	for i := 0; i < 2000; i++ {
		content, _ := json.Marshal(map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA", "session_id": fmt.Sprintf("fake%d", i)})
		evs = append(evs, roomEvent("!anyroom:evil", "@mallory:evil", content))
	}
	if _, _, err := w.bob.m.DecryptRoomEvents(ctx, "!anyroom:evil", evs); err != nil {
		t.Fatal(err)
	}
	reqs, _ := w.bob.m.OutgoingRequests(ctx)
	n := 0
	for _, r := range reqs {
		if strings.Contains(r.Path, "m.room_key_request") {
			n++
		}
	}
	if n > 100 {
		t.Fatalf("%d m.room_key_request queued for 2000 forged events in a room never marked encrypted", n)
	}
}

// Forged room events in an encrypted room queue at most maxKeyRequests
// (256) outstanding m.room_key_request; older ones are cancelled (review
// F4).
func TestKeyRequestsBounded(t *testing.T) {
	w := newWorld(t)
	newClient(t, w.hs, w.bob.user, "BOB2", w.clock)
	w.bob.sync()
	w.bob.m.MarkAllTrackedUsersOutdated(ctx)
	w.bob.flush()
	var evs []json.RawMessage
	for i := 0; i < 300; i++ {
		content, _ := json.Marshal(map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA", "session_id": fmt.Sprintf("fake%d", i)})
		evs = append(evs, roomEvent(w.room, "@mallory:evil", content))
	}
	if _, _, err := w.bob.m.DecryptRoomEvents(ctx, w.room, evs); err != nil {
		t.Fatal(err)
	}
	reqs, _ := w.bob.m.OutgoingRequests(ctx)
	requests, cancels := 0, 0
	for _, r := range reqs {
		if strings.Contains(r.Path, "m.room_key_request") {
			requests += strings.Count(string(r.Body), `"action":"request"`)
			cancels += strings.Count(string(r.Body), `"action":"request_cancellation"`)
		}
	}
	if requests-cancels > 256 || requests == 0 {
		t.Fatalf("%d requests, %d cancellations outstanding for 300 forged events", requests, cancels)
	}
}

// A key request deferred for want of an Olm session is answered after the
// holder restarts: the devices waiting are rebuilt at New (review F10).
func TestDeferredKeyRequestSurvivesRestart(t *testing.T) {
	w := newWorld(t)
	bob2 := newClient(t, w.hs, w.bob.user, "BOB2", w.clock)
	bob2.setEncrypted(w.room)
	for _, c := range []*client{w.bob, bob2} {
		c.m.MarkAllTrackedUsersOutdated(ctx)
		c.flush()
	}
	ds, _ := w.bob.m.Devices(ctx, w.bob.user)
	for _, d := range ds {
		if d.DeviceID == "BOB2" {
			w.bob.m.SetDeviceVerified(ctx, w.bob.user, "BOB2", d.Ed25519, true)
		}
	}
	ds2, _ := bob2.m.Devices(ctx, w.bob.user)
	for _, d := range ds2 {
		if d.DeviceID == w.bob.dev {
			bob2.m.SetDeviceVerified(ctx, w.bob.user, w.bob.dev, d.Ed25519, true)
		}
	}
	// Alice shares before BOB2 exists for her.
	w.hs.Tamper = func(to, dev string, ev json.RawMessage) []json.RawMessage {
		if dev == "BOB2" {
			return nil
		}
		return []json.RawMessage{ev}
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.hs.Tamper = nil
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	w.bob.sync()
	if _, err := bob2.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrNoSession) {
		t.Fatalf("bob2: %v", err)
	}
	bob2.flush() // sends m.room_key_request
	// Bob receives it, defers it (no Olm session with BOB2), and restarts
	// before sending anything.
	if _, err := w.bob.m.ReceiveSync(ctx, w.hs.Sync(w.bob.user, w.bob.dev)); err != nil {
		t.Fatal(err)
	}
	w.bob.restart()
	w.bob.flush()
	bob2.sync()
	if _, err := bob2.m.DecryptRoomEvent(ctx, w.room, ev); err != nil {
		t.Fatalf("own verified device never gets the key after the holder restarted: %v", err)
	}
}
