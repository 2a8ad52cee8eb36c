package machine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

func refusedWith(t *testing.T, res *machine.SyncResult, typ string, want error) {
	t.Helper()
	for _, ev := range res.ToDevice {
		if ev.Type == typ || typ == "" {
			if !errors.Is(ev.Err, want) {
				t.Errorf("%s: error %v, want %v", ev.Type, ev.Err, want)
			}
			return
		}
	}
	t.Errorf("no %s event in the sync result (%d events)", typ, len(res.ToDevice))
}

func TestPlaintextInMegolmNamesAnotherRoom(t *testing.T) {
	w := newWorld(t)
	r := newRogue(t, w.hs, "@mallory:x", "MAL")
	g := r.sendRoomKey(w.bob, "!other:x")
	w.bob.sync()
	ev := r.megolmEvent(g, "!other:x", r.user, map[string]any{"type": "m.room.message", "content": map[string]any{"body": "x"}, "room_id": w.room})
	if _, err := w.bob.m.DecryptRoomEvent(ctx, "!other:x", ev); !errors.Is(err, machine.ErrWrongRoom) {
		t.Errorf("plaintext room_id of another room: %v, want ErrWrongRoom", err)
	}
	ok := r.megolmEvent(g, "!other:x", r.user, map[string]any{"type": "m.room.message", "content": map[string]any{"body": "x"}, "room_id": "!other:x"})
	if _, err := w.bob.m.DecryptRoomEvent(ctx, "!other:x", ok); err != nil {
		t.Errorf("the same session in its own room: %v", err)
	}
}

func TestSessionUsedInAnotherRoom(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	content := w.alice.encrypt(w.room, `{"body":"x"}`)
	w.bob.sync()
	// The server replays the event in another room (same session ID).
	ev := roomEvent("!elsewhere:x", w.alice.user, content)
	if _, err := w.bob.m.DecryptRoomEvent(ctx, "!elsewhere:x", ev); !errors.Is(err, machine.ErrNoSession) {
		t.Errorf("session of another room: %v, want ErrNoSession", err)
	}
	// An event whose envelope names another room than the one given.
	ev = roomEvent(w.room, w.alice.user, content)
	if _, err := w.bob.m.DecryptRoomEvent(ctx, "!elsewhere:x", ev); !errors.Is(err, machine.ErrWrongRoom) {
		t.Errorf("envelope of another room: %v, want ErrWrongRoom", err)
	}
}

func TestSpoofedRoomEventSender(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	content := w.alice.encrypt(w.room, `{"body":"x"}`)
	w.bob.sync()
	ev := roomEvent(w.room, "@eve:x", content)
	if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrSenderMismatch) {
		t.Errorf("rewritten sender: %v, want ErrSenderMismatch", err)
	}
}

func TestKeyEventsOnlyOverOlm(t *testing.T) {
	w := newWorld(t)
	for _, typ := range []string{"m.room_key", "m.forwarded_room_key", "m.secret.send"} {
		ev, _ := json.Marshal(map[string]any{"type": typ, "sender": "@alice:x", "content": map[string]any{
			"algorithm": olm.AlgorithmMegolm, "room_id": w.room, "session_id": "x", "session_key": "x",
		}})
		w.hs.Inject(w.bob.user, w.bob.dev, ev)
		refusedWith(t, w.bob.sync(), typ, machine.ErrUnencryptedKeyEvent)
	}
}

func TestRoomKeyFromPayloadWithWrongKeys(t *testing.T) {
	w := newWorld(t)
	r := newRogue(t, w.hs, "@mallory:x", "MAL")
	w.bob.m.UpdateTrackedUsers(ctx, []string{r.user})
	w.bob.flush()
	bad := []struct {
		name string
		edit func(p map[string]any)
	}{
		{"sender", func(p map[string]any) { p["sender"] = "@alice:x" }},
		{"recipient", func(p map[string]any) { p["recipient"] = "@carol:x" }},
		{"recipient_keys", func(p map[string]any) {
			p["recipient_keys"] = map[string]string{"ed25519": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
		}},
		{"keys", func(p map[string]any) {
			p["keys"] = map[string]string{"ed25519": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
		}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			var p map[string]any
			json.Unmarshal(r.payload(w.bob, "m.room_key", map[string]any{"algorithm": olm.AlgorithmMegolm, "room_id": w.room, "session_id": "x", "session_key": "x"}), &p)
			tc.edit(p)
			b, _ := json.Marshal(p)
			w.hs.Inject(w.bob.user, w.bob.dev, r.olmEvent(w.bob, b))
			res := w.bob.sync()
			refusedWith(t, res, "", olm.ErrPayloadMismatch)
			if len(res.RoomKeys) != 0 {
				t.Errorf("room key accepted: %+v", res.RoomKeys)
			}
		})
	}
}

func TestPreKeyReplay(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprint("fallback=", fallback), func(t *testing.T) {
			w := newWorld(t)
			if fallback {
				w.bob.sync() // the server supports fallback keys: Bob makes one
				w.hs.DrainOneTimeKeys(w.bob.user, w.bob.dev)
			}
			var captured []json.RawMessage
			w.hs.Tamper = func(to, dev string, ev json.RawMessage) []json.RawMessage {
				if to == w.bob.user {
					captured = append(captured, ev)
				}
				return []json.RawMessage{ev}
			}
			w.alice.share(w.room, w.alice.user, w.bob.user)
			if fallback && !w.hs.FallbackUsed(w.bob.user, w.bob.dev) {
				t.Fatal("the fallback key was not used")
			}
			res := w.bob.sync()
			if len(res.RoomKeys) != 1 {
				t.Fatalf("room keys %+v", res.RoomKeys)
			}
			// The same pre-key message again, now and after a restart.
			for round := 0; round < 2; round++ {
				for _, ev := range captured {
					w.hs.Inject(w.bob.user, w.bob.dev, ev)
				}
				res = w.bob.sync()
				refusedWith(t, res, "m.room.encrypted", machine.ErrReplay)
				if len(res.RoomKeys) != 0 {
					t.Errorf("replayed pre-key message delivered again: %+v", res.RoomKeys)
				}
				w.bob.restart()
			}
		})
	}
}

func TestDeviceKeysPinned(t *testing.T) {
	w := newWorld(t)
	w.bob.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	w.bob.flush()
	ds, _ := w.bob.m.Devices(ctx, w.alice.user)
	if len(ds) != 1 {
		t.Fatalf("devices of alice: %+v", ds)
	}
	before := ds[0].Ed25519
	// The server swaps in a device of its own under Alice's device ID.
	evil, _ := olm.NewAccount()
	dk, _ := evil.DeviceKeys(w.alice.user, w.alice.dev)
	w.hs.SetDeviceKeys(w.alice.user, w.alice.dev, dk)
	w.bob.sync()
	ds, _ = w.bob.m.Devices(ctx, w.alice.user)
	if len(ds) != 1 || ds[0].Ed25519 != before {
		t.Errorf("device keys replaced: %+v", ds)
	}
	found := false
	for _, n := range w.bob.m.Notices() {
		if errors.Is(n.Err, machine.ErrDeviceKeysChanged) && n.DeviceID == w.alice.dev {
			found = true
		}
	}
	if !found {
		t.Error("the key change was not reported")
	}
}

func TestDeviceSelfSignatureRequired(t *testing.T) {
	w := newWorld(t)
	acct, _ := olm.NewAccount()
	dk, _ := acct.DeviceKeys(w.alice.user, "NEW")
	var obj map[string]any
	json.Unmarshal(dk, &obj)
	obj["algorithms"] = []string{"m.olm.v1.curve25519-aes-sha2"} // signature no longer matches
	bad, _ := json.Marshal(obj)
	w.hs.SetDeviceKeys(w.alice.user, "NEW", bad)
	dk2, _ := acct.DeviceKeys(w.alice.user, "OTHERID")
	w.hs.SetDeviceKeys(w.alice.user, "WRONGID", dk2) // listed under another ID
	w.bob.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	w.bob.flush()
	ds, _ := w.bob.m.Devices(ctx, w.alice.user)
	if len(ds) != 1 || ds[0].DeviceID != w.alice.dev {
		t.Errorf("devices accepted: %+v", ds)
	}
}

func TestOwnDevices(t *testing.T) {
	w := newWorld(t)
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	a2.setEncrypted(w.room)
	var toSelf int
	w.hs.Tamper = func(to, dev string, ev json.RawMessage) []json.RawMessage {
		if to == w.alice.user && dev == w.alice.dev {
			toSelf++
		}
		return []json.RawMessage{ev}
	}
	w.alice.sync()
	w.alice.share(w.room, w.alice.user, w.bob.user)
	if toSelf != 0 {
		t.Errorf("%d to-device messages to our own device", toSelf)
	}
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{"body":"x"}`))
	a2.sync()
	if d := a2.decrypt(w.room, ev); !strings.Contains(string(d.Content), `"x"`) {
		t.Errorf("own other device: %s", d.Content)
	}
}

func TestNoDowngrade(t *testing.T) {
	w := newWorld(t)
	m := w.alice.m
	if err := m.SetRoomEncryption(ctx, w.room, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := m.SetRoomEncryption(ctx, w.room, json.RawMessage(`{"algorithm":"m.plaintext"}`)); err != nil {
		t.Fatal(err)
	}
	if enc, _ := m.IsRoomEncrypted(ctx, w.room); !enc {
		t.Error("room no longer encrypted")
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.alice.encrypt(w.room, `{}`)
	if err := m.SetRoomEncryption(ctx, "!new:x", json.RawMessage(`{"algorithm":"m.megolm.v2.future"}`)); !errors.Is(err, machine.ErrUnknownAlgorithm) {
		t.Errorf("unknown algorithm: %v", err)
	}
	if _, err := m.EncryptRoomEvent(ctx, "!new:x", "m.room.message", json.RawMessage(`{}`)); !errors.Is(err, machine.ErrRoomNotEncrypted) {
		t.Errorf("encrypt in a room without encryption: %v", err)
	}
	if _, err := m.ShareRoomKey(ctx, "!new:x", nil); !errors.Is(err, machine.ErrRoomNotEncrypted) {
		t.Errorf("share in a room without encryption: %v", err)
	}
	// Unknown algorithm on a room event.
	ev := roomEvent(w.room, w.bob.user, json.RawMessage(`{"algorithm":"m.megolm.v2.future","ciphertext":"AAAA","session_id":"x"}`))
	if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrUnknownAlgorithm) {
		t.Errorf("unknown event algorithm: %v", err)
	}
}

func sessionOf(t *testing.T, content json.RawMessage) string {
	var c struct {
		SessionID string `json:"session_id"`
	}
	json.Unmarshal(content, &c)
	return c.SessionID
}

func TestRotation(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	for _, c := range []*client{w.alice, w.bob} {
		c.m.SetRoomEncryption(ctx, "!r:x", json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2","rotation_period_msgs":3,"rotation_period_ms":7200000}`))
	}
	a.share("!r:x", a.user, w.bob.user)
	s1 := sessionOf(t, a.encrypt("!r:x", `{}`))
	a.encrypt("!r:x", `{}`)
	a.encrypt("!r:x", `{}`)
	if _, err := a.m.EncryptRoomEvent(ctx, "!r:x", "m.room.message", json.RawMessage(`{}`)); !errors.Is(err, machine.ErrShareRequired) {
		t.Fatalf("fourth message: %v, want ErrShareRequired", err)
	}
	a.share("!r:x", a.user, w.bob.user)
	s2 := sessionOf(t, a.encrypt("!r:x", `{}`))
	if s2 == s1 {
		t.Error("no rotation after rotation_period_msgs")
	}
	// By age (2 hours).
	w.clock.advance(2*time.Hour + time.Second)
	if _, err := a.m.EncryptRoomEvent(ctx, "!r:x", "m.room.message", json.RawMessage(`{}`)); !errors.Is(err, machine.ErrShareRequired) {
		t.Fatalf("after the period: %v, want ErrShareRequired", err)
	}
	a.share("!r:x", a.user, w.bob.user)
	s3 := sessionOf(t, a.encrypt("!r:x", `{}`))
	if s3 == s2 {
		t.Error("no rotation after rotation_period_ms")
	}
	// Sharing again with the same members keeps the session.
	a.share("!r:x", a.user, w.bob.user)
	if s := sessionOf(t, a.encrypt("!r:x", `{}`)); s != s3 {
		t.Error("rotation without a reason")
	}
	// Bob leaves.
	a.share("!r:x", a.user)
	s4 := sessionOf(t, a.encrypt("!r:x", `{}`))
	if s4 == s3 {
		t.Error("no rotation after a member left")
	}
	// A device of a member is deleted.
	a.share("!r:x", a.user, w.bob.user)
	s5 := sessionOf(t, a.encrypt("!r:x", `{}`))
	w.hs.DeleteDevice(w.bob.user, w.bob.dev)
	a.sync()
	if _, err := a.m.EncryptRoomEvent(ctx, "!r:x", "m.room.message", json.RawMessage(`{}`)); !errors.Is(err, machine.ErrShareRequired) {
		t.Fatalf("after a device was deleted: %v, want ErrShareRequired", err)
	}
	a.share("!r:x", a.user, w.bob.user)
	if s := sessionOf(t, a.encrypt("!r:x", `{}`)); s == s5 {
		t.Error("no rotation after a device was deleted")
	}
}

func TestDefaultRotationSettings(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.share(w.room, a.user)
	s := sessionOf(t, a.encrypt(w.room, `{}`))
	for i := 1; i < machine.DefaultRotationPeriodMsgs; i++ {
		a.encrypt(w.room, `{}`)
	}
	if _, err := a.m.EncryptRoomEvent(ctx, w.room, "m.room.message", json.RawMessage(`{}`)); !errors.Is(err, machine.ErrShareRequired) {
		t.Fatalf("message 101: %v", err)
	}
	a.share(w.room, a.user)
	if sessionOf(t, a.encrypt(w.room, `{}`)) == s {
		t.Error("no rotation after 100 messages")
	}
}

func TestRelatesToStaysInCleartext(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	content := w.alice.encrypt(w.room, `{"body":"edit","m.relates_to":{"rel_type":"m.replace","event_id":"$orig"}}`)
	var clear map[string]json.RawMessage
	json.Unmarshal(content, &clear)
	if !strings.Contains(string(clear["m.relates_to"]), "$orig") {
		t.Errorf("m.relates_to not in cleartext: %s", content)
	}
	w.bob.sync()
	d := w.bob.decrypt(w.room, roomEvent(w.room, w.alice.user, content))
	if !strings.Contains(string(d.Content), `"m.relates_to"`) || !strings.Contains(string(d.Content), "$orig") {
		t.Errorf("m.relates_to not put back: %s", d.Content)
	}
}

func TestOnlyVerifiedWithholds(t *testing.T) {
	w := newWorld(t)
	w.alice.m.SetRoomOnlyVerified(ctx, w.room, true)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	res := w.bob.sync()
	if len(res.RoomKeys) != 0 {
		t.Fatal("unverified device got the key")
	}
	_, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev)
	var we *machine.WithheldError
	if !errors.As(err, &we) || we.Code != machine.WithheldUnverified || !errors.Is(err, machine.ErrWithheld) {
		t.Errorf("decrypt: %v, want withheld m.unverified", err)
	}
	// Alice verifies Bob's device: the next share gives him the key.
	ds, _ := w.alice.m.Devices(ctx, w.bob.user)
	if err := w.alice.m.SetDeviceVerified(ctx, w.bob.user, w.bob.dev, ds[0].Ed25519, true); err != nil {
		t.Fatal(err)
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev = roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	w.bob.sync()
	w.bob.decrypt(w.room, ev)
}

func TestBlacklisted(t *testing.T) {
	w := newWorld(t)
	w.alice.m.UpdateTrackedUsers(ctx, []string{w.bob.user})
	w.alice.flush()
	if err := w.alice.m.SetDeviceBlacklisted(ctx, w.bob.user, w.bob.dev, true); err != nil {
		t.Fatal(err)
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	w.bob.sync()
	_, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev)
	var we *machine.WithheldError
	if !errors.As(err, &we) || we.Code != machine.WithheldBlacklisted {
		t.Errorf("decrypt: %v, want withheld m.blacklisted", err)
	}
}

func TestNoOlm(t *testing.T) {
	w := newWorld(t)
	w.hs.DrainKeys(w.bob.user, w.bob.dev)
	var noOlm int
	w.hs.Tamper = func(to, dev string, ev json.RawMessage) []json.RawMessage {
		if strings.Contains(string(ev), "m.no_olm") {
			noOlm++
		}
		return []json.RawMessage{ev}
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	if noOlm != 1 {
		t.Errorf("%d m.no_olm sent, want 1", noOlm)
	}
	w.alice.encrypt(w.room, `{}`)
	// Sharing again sends no second m.no_olm.
	w.alice.share(w.room, w.alice.user, w.bob.user)
	if noOlm != 1 {
		t.Errorf("%d m.no_olm sent after a second share, want 1", noOlm)
	}
}

func TestStableTransactionIDs(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	var first []machine.Request
	for i := 0; i < 5; i++ {
		reqs, err := a.m.ShareRoomKey(ctx, w.room, []string{a.user, w.bob.user})
		if err != nil {
			t.Fatal(err)
		}
		if reqs[0].Kind == machine.KindToDevice {
			first = reqs
			break
		}
		for _, r := range reqs {
			a.send(r)
		}
	}
	if first == nil {
		t.Fatal("no to-device requests")
	}
	if _, err := a.m.EncryptRoomEvent(ctx, w.room, "m.room.message", json.RawMessage(`{}`)); !errors.Is(err, machine.ErrShareRequired) {
		t.Errorf("encrypt before the share was sent: %v", err)
	}
	a.restart()
	again, err := a.m.ShareRoomKey(ctx, w.room, []string{a.user, w.bob.user})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := a.m.OutgoingRequests(ctx)
	if len(again) != len(first) || again[0].ID != first[0].ID || string(again[0].Body) != string(first[0].Body) {
		t.Fatalf("after restart: %v, want the same requests %v", again, first)
	}
	if len(out) == 0 || out[len(out)-1].ID != first[0].ID {
		t.Errorf("OutgoingRequests does not offer the pending share")
	}
	// Sending twice (a retry) is harmless: the server deduplicates.
	w.hs.Do(a.user, a.dev, again[0])
	a.send(again[0])
	if err := a.m.MarkRequestSent(ctx, again[0].ID, []byte(`{}`)); !errors.Is(err, machine.ErrUnknownRequest) {
		t.Errorf("marking twice: %v", err)
	}
	ev := roomEvent(w.room, a.user, a.encrypt(w.room, `{}`))
	w.bob.sync()
	w.bob.decrypt(w.room, ev)
}

func TestKeyTopUp(t *testing.T) {
	w := newWorld(t)
	if n := w.hs.OneTimeKeyCount(w.bob.user, w.bob.dev); n != olm.MaxNumberOfOneTimeKeys {
		t.Fatalf("initial upload: %d one-time keys", n)
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	if n := w.hs.OneTimeKeyCount(w.bob.user, w.bob.dev); n != olm.MaxNumberOfOneTimeKeys-1 {
		t.Fatalf("after a claim: %d", n)
	}
	w.bob.sync()
	if n := w.hs.OneTimeKeyCount(w.bob.user, w.bob.dev); n != olm.MaxNumberOfOneTimeKeys {
		t.Errorf("after top-up: %d one-time keys", n)
	}
	// Fallback key: made when the server says none is unused, not again
	// while it is unused, a new one once it was used.
	var uploads []string
	w.hs.Tamper = nil
	count := func() int {
		reqs, _ := w.bob.m.OutgoingRequests(ctx)
		n := 0
		for _, r := range reqs {
			if r.Kind == machine.KindKeysUpload && strings.Contains(string(r.Body), "fallback_keys") {
				n++
				uploads = append(uploads, string(r.Body))
			}
			w.bob.send(r)
		}
		return n
	}
	sc := w.hs.Sync(w.bob.user, w.bob.dev)
	sc.UnusedFallbackKeyTypes = []string{"signed_curve25519"}
	w.bob.m.ReceiveSync(ctx, sc)
	if n := count(); n != 0 {
		t.Errorf("fallback key uploaded while the server holds an unused one")
	}
	sc = w.hs.Sync(w.bob.user, w.bob.dev)
	sc.UnusedFallbackKeyTypes = nil // no fallback support
	w.bob.m.ReceiveSync(ctx, sc)
	if n := count(); n != 0 {
		t.Errorf("fallback key uploaded to a server without fallback support")
	}
	sc = w.hs.Sync(w.bob.user, w.bob.dev)
	sc.UnusedFallbackKeyTypes = []string{}
	w.bob.m.ReceiveSync(ctx, sc)
	if n := count(); n != 1 {
		t.Errorf("%d fallback key uploads after the server said it was used, want 1", n)
	}
}

func TestDeviceKeysUploadedOnce(t *testing.T) {
	w := newWorld(t)
	n := 0
	for i := 0; i < 3; i++ {
		w.hs.DrainOneTimeKeys(w.bob.user, w.bob.dev)
		w.bob.m.ReceiveSync(ctx, w.hs.Sync(w.bob.user, w.bob.dev))
		reqs, _ := w.bob.m.OutgoingRequests(ctx)
		for _, r := range reqs {
			if strings.Contains(string(r.Body), "device_keys") && r.Kind == machine.KindKeysUpload {
				n++
			}
			w.bob.send(r)
		}
	}
	if n != 0 {
		t.Errorf("device keys uploaded %d more times", n)
	}
}

func TestOutOfOrderAndRetry(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	var evs []json.RawMessage
	for i := 0; i < 5; i++ {
		evs = append(evs, roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, fmt.Sprintf(`{"n":%d}`, i))))
	}
	// Before the key arrives: no session, reported for retry later.
	if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, evs[4]); !errors.Is(err, machine.ErrNoSession) {
		t.Fatalf("before the key: %v", err)
	}
	res := w.bob.sync()
	if len(res.Retry) != 1 || !strings.Contains(string(evs[4]), res.Retry[0].EventID) {
		t.Errorf("retry: %+v", res.Retry)
	}
	for i := 4; i >= 0; i-- {
		d := w.bob.decrypt(w.room, evs[i])
		if d.Index != uint32(i) || !strings.Contains(string(d.Content), fmt.Sprint(i)) {
			t.Errorf("event %d: index %d content %s", i, d.Index, d.Content)
		}
	}
}

func TestConcurrentEncryptDecrypt(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.bob.sync()
	const workers, per = 4, 25
	var mu sync.Mutex
	var evs []json.RawMessage
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Go(func() {
			for j := 0; j < per; j++ {
				ct, err := w.alice.m.EncryptRoomEvent(ctx, w.room, "m.room.message", json.RawMessage(`{}`))
				if err != nil {
					t.Error(err)
					return
				}
				ev := roomEvent(w.room, w.alice.user, ct)
				if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev); err != nil {
					t.Error(err)
				}
				mu.Lock()
				evs = append(evs, ev)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, ev := range evs {
		d, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev)
		if err != nil {
			t.Fatal(err)
		}
		if seen[d.Index] {
			t.Fatalf("message index %d used twice", d.Index)
		}
		seen[d.Index] = true
	}
	if len(seen) != workers*per {
		t.Errorf("%d distinct indices, want %d", len(seen), workers*per)
	}
}

func TestOpenChecks(t *testing.T) {
	w := newWorld(t)
	opts := w.bob.opts
	opts.PickleKey = pickleKey(99)
	if _, err := machine.New(ctx, opts); !errors.Is(err, machine.ErrBadPickleKey) {
		t.Errorf("wrong pickle key: %v", err)
	}
	opts = w.bob.opts
	opts.DeviceID = "OTHER"
	if _, err := machine.New(ctx, opts); !errors.Is(err, machine.ErrWrongAccount) {
		t.Errorf("other device: %v", err)
	}
	opts = w.bob.opts
	opts.PickleKey = opts.PickleKey[:16]
	if _, err := machine.New(ctx, opts); !errors.Is(err, machine.ErrBadOptions) {
		t.Errorf("short key: %v", err)
	}
}

func TestRefreshQueriesAgain(t *testing.T) {
	w := newWorld(t)
	w.bob.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	w.bob.flush()
	if _, err := w.bob.m.ReceiveSync(ctx, machine.SyncChanges{}); err != nil {
		t.Fatal(err)
	}
	if reqs, _ := w.bob.m.OutgoingRequests(ctx); len(reqs) != 0 {
		t.Fatalf("requests without a change: %v", kinds(reqs))
	}
	if _, err := w.bob.m.ReceiveSync(ctx, machine.SyncChanges{Refresh: true}); err != nil {
		t.Fatal(err)
	}
	reqs, _ := w.bob.m.OutgoingRequests(ctx)
	if len(reqs) != 1 || reqs[0].Kind != machine.KindKeysQuery || !strings.Contains(string(reqs[0].Body), w.alice.user) {
		t.Errorf("after a refresh: %v", kinds(reqs))
	}
}

func TestClaimedKeySignatureChecked(t *testing.T) {
	w := newWorld(t)
	evil, _ := olm.NewAccount()
	evil.GenerateOneTimeKeys(1)
	var evilKey string
	for _, k := range evil.OneTimeKeys() {
		evilKey = k.String()
	}
	w.hs.TamperClaim = func(user, dev string, key json.RawMessage) json.RawMessage {
		var obj map[string]any
		json.Unmarshal(key, &obj)
		obj["key"] = evilKey // the server's own key under Bob's signature
		b, _ := json.Marshal(obj)
		return b
	}
	var noOlm int
	w.hs.Tamper = func(to, dev string, ev json.RawMessage) []json.RawMessage {
		if strings.Contains(string(ev), "m.no_olm") {
			noOlm++
		}
		if strings.Contains(string(ev), `"m.room.encrypted"`) && to == w.bob.user {
			t.Errorf("an Olm message went to Bob over a key the server swapped")
		}
		return []json.RawMessage{ev}
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	if noOlm != 1 {
		t.Errorf("%d m.no_olm, want 1", noOlm)
	}
	found := false
	for _, n := range w.alice.m.Notices() {
		if errors.Is(n.Err, olm.ErrUnsignedKey) {
			found = true
		}
	}
	if !found {
		t.Error("the bad signature was not reported")
	}
}

func TestDecryptRoomEventsBatch(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	var evs []json.RawMessage
	for i := 0; i < 3; i++ {
		evs = append(evs, roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, fmt.Sprintf(`{"n":%d}`, i))))
	}
	var e map[string]any
	json.Unmarshal(evs[1], &e)
	e["event_id"] = "$forged"
	forged, _ := json.Marshal(e)
	batch := []json.RawMessage{evs[0], evs[1], []byte(`{"garbage":`), forged, evs[2], evs[0]}
	w.bob.sync()
	out, errs, err := w.bob.m.DecryptRoomEvents(ctx, w.room, batch)
	if err != nil {
		t.Fatal(err)
	}
	want := []error{nil, nil, machine.ErrMalformedEvent, machine.ErrReplay, nil, nil}
	for i := range batch {
		if (want[i] == nil) != (errs[i] == nil) || (want[i] != nil && !errors.Is(errs[i], want[i])) {
			t.Errorf("event %d: %v, want %v", i, errs[i], want[i])
		}
		if (errs[i] == nil) != (out[i] != nil) {
			t.Errorf("event %d: result %v with error %v", i, out[i], errs[i])
		}
	}
}

// SECURITY 21: a room key sent over Megolm (in a room event) is never
// imported.
func TestRoomKeyOverMegolmIgnored(t *testing.T) {
	w := newWorld(t)
	r := newRogue(t, w.hs, "@mallory:x", "MAL")
	g := r.sendRoomKey(w.bob, w.room)
	w.bob.sync()
	inner, _ := megolm.NewGroupSession()
	ev := r.megolmEvent(g, w.room, r.user, map[string]any{"type": "m.room_key", "room_id": w.room, "content": map[string]any{
		"algorithm": olm.AlgorithmMegolm, "room_id": w.room, "session_id": inner.SessionID(), "session_key": inner.SessionKey().Encode()}})
	w.bob.decrypt(w.room, ev) // an ordinary (odd) room event
	ev2 := r.megolmEvent(inner, w.room, r.user, map[string]any{"type": "m.room.message", "room_id": w.room, "content": map[string]any{}})
	if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev2); !errors.Is(err, machine.ErrNoSession) {
		t.Errorf("session from a Megolm-borne room key: %v, want ErrNoSession", err)
	}
}

// A restart alone does not require sharing again, also after devices went
// away earlier.
func TestEncryptAfterRestartWithoutShare(t *testing.T) {
	w := newWorld(t)
	b2 := newClient(t, w.hs, w.bob.user, "BOB2", w.clock)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.hs.DeleteDevice(b2.user, b2.dev)
	w.alice.sync()
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.alice.encrypt(w.room, `{}`)
	w.alice.restart()
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{"after":"restart"}`))
	w.bob.sync()
	w.bob.decrypt(w.room, ev)
}

// Turning on OnlyVerified after a share stops EncryptRoomEvent from using
// the key an unverified device already holds (review F1).
func TestEncryptRefusesAfterOnlyVerifiedTurnedOn(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.alice.encrypt(w.room, `{}`)
	w.bob.sync()
	if err := w.alice.m.SetRoomOnlyVerified(ctx, w.room, true); err != nil {
		t.Fatal(err)
	}
	ct, err := w.alice.m.EncryptRoomEvent(ctx, w.room, "m.room.message", json.RawMessage(`{"body":"secret"}`))
	if err == nil {
		if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, roomEvent(w.room, w.alice.user, ct)); err == nil {
			t.Fatal("after SetRoomOnlyVerified(true), EncryptRoomEvent still encrypts with the key an unverified device holds")
		}
	} else if !errors.Is(err, machine.ErrShareRequired) {
		t.Fatalf("refused with %v, want ErrShareRequired", err)
	}
	// The next share rotates: Bob gets a withheld notice, not the key.
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{"body":"secret"}`))
	w.bob.sync()
	if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev); err == nil {
		t.Fatal("the unverified device reads the message after the share that follows")
	}
}

// Withdrawing a device's verification under OnlyVerified stops
// EncryptRoomEvent from using the key that device holds (review F1).
func TestEncryptRefusesAfterDeviceUnverified(t *testing.T) {
	w := newWorld(t)
	w.alice.m.SetRoomOnlyVerified(ctx, w.room, true)
	w.alice.m.UpdateTrackedUsers(ctx, []string{w.bob.user})
	w.alice.flush()
	ds, _ := w.alice.m.Devices(ctx, w.bob.user)
	w.alice.m.SetDeviceVerified(ctx, w.bob.user, w.bob.dev, ds[0].Ed25519, true)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.bob.sync()
	w.alice.m.SetDeviceVerified(ctx, w.bob.user, w.bob.dev, ds[0].Ed25519, false)
	ct, err := w.alice.m.EncryptRoomEvent(ctx, w.room, "m.room.message", json.RawMessage(`{"body":"secret"}`))
	if err == nil {
		if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, roomEvent(w.room, w.alice.user, ct)); err == nil {
			t.Fatal("after un-verifying Bob's device with OnlyVerified, EncryptRoomEvent still encrypts to him")
		}
	} else if !errors.Is(err, machine.ErrShareRequired) {
		t.Fatalf("refused with %v, want ErrShareRequired", err)
	}
}

// A plaintext m.room_key.withheld from anyone does not stop the event from
// being retried when the real key arrives (review F2).
func TestForgedWithheldDoesNotSuppressRetry(t *testing.T) {
	w := newWorld(t)
	hs := w.hs
	// Alice makes a session but Bob's copy is delayed.
	var held []json.RawMessage
	hs.Tamper = func(to, dev string, ev json.RawMessage) []json.RawMessage {
		if to == w.bob.user {
			held = append(held, ev)
			return nil
		}
		return []json.RawMessage{ev}
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	hs.Tamper = nil
	// Mallory (not even in the room) sends a plaintext withheld for Alice's session.
	var c struct {
		SessionID string `json:"session_id"`
	}
	var env struct {
		Content json.RawMessage `json:"content"`
	}
	json.Unmarshal(ev, &env)
	json.Unmarshal(env.Content, &c)
	wh, _ := json.Marshal(map[string]any{"type": "m.room_key.withheld", "sender": "@mallory:evil",
		"content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "room_id": w.room, "session_id": c.SessionID, "code": "m.unverified", "sender_key": "x"}})
	hs.Inject(w.bob.user, w.bob.dev, wh)
	w.bob.sync()
	_, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev)
	t.Logf("decrypt before key: %v", err)
	for _, e := range held {
		hs.Inject(w.bob.user, w.bob.dev, e)
	}
	res := w.bob.sync()
	if len(res.RoomKeys) != 1 {
		t.Fatalf("key not received: %+v", res.RoomKeys)
	}
	if len(res.Retry) == 0 {
		t.Fatal("a plaintext withheld from an unrelated user suppressed the Retry of the event")
	}
}

// A replayed Olm normal message is refused with ErrReplay, not taken for a
// wedged session (no /keys/claim, no new session, no m.dummy) (review F9).
func TestOlmNormalReplayRefused(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.bob.sync()
	w.bob.share(w.room, w.alice.user, w.bob.user) // Bob answers over the same session
	w.alice.sync()
	var captured json.RawMessage
	w.hs.Tamper = func(to, dev string, ev json.RawMessage) []json.RawMessage {
		if to == w.bob.user && strings.Contains(string(ev), `"type":1`) {
			captured = ev
		}
		return []json.RawMessage{ev}
	}
	w.alice.m.DiscardRoomKey(ctx, w.room)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.hs.Tamper = nil
	if captured == nil {
		t.Fatal("no normal message captured")
	}
	w.bob.sync()
	w.hs.Inject(w.bob.user, w.bob.dev, captured) // the server replays it
	res, err := w.bob.m.ReceiveSync(ctx, w.hs.Sync(w.bob.user, w.bob.dev))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay refused with: %v", res.ToDevice[0].Err)
	reqs, _ := w.bob.m.OutgoingRequests(ctx)
	for _, r := range reqs {
		if r.Kind == machine.KindKeysClaim {
			t.Fatalf("a replayed Olm message made Bob claim a new one-time key of Alice (unwedge); err=%v", res.ToDevice[0].Err)
		}
	}
	if !errors.Is(res.ToDevice[0].Err, machine.ErrReplay) {
		t.Errorf("replay reported as %v", res.ToDevice[0].Err)
	}
}

// Two events at the same Megolm index in one DecryptRoomEvents batch: the
// second is refused as a replay.
func TestReplayInOneBatchRefused(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	ct := w.alice.encrypt(w.room, `{}`)
	w.bob.sync()
	e1, e2 := roomEvent(w.room, w.alice.user, ct), roomEvent(w.room, w.alice.user, ct)
	_, errs, err := w.bob.m.DecryptRoomEvents(ctx, w.room, []json.RawMessage{e1, e2})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[1] == nil {
		t.Fatalf("batch replay not caught: %v", errs)
	}
}

// TestUnsignedDeviceOfCrossSignedUserWithheld: Bob published a
// cross-signing identity; a device his identity never signed (what a
// homeserver injecting its own device looks like) gets no room key by
// default, but m.room_key.withheld with m.unverified (SECURITY 32). With
// ShareWithUnsignedDevices it gets the key, as before.
func TestUnsignedDeviceOfCrossSignedUserWithheld(t *testing.T) {
	for _, share := range []bool{false, true} {
		t.Run(fmt.Sprintf("ShareWithUnsignedDevices=%v", share), func(t *testing.T) {
			w := newWorld(t)
			crossSign(t, w, w.bob)
			evil := newClient(t, w.hs, w.bob.user, "EVIL", w.clock) // not signed by Bob's identity
			evil.setEncrypted(w.room)
			w.alice.opts.ShareWithUnsignedDevices = share
			w.alice.restart()
			w.alice.share(w.room, w.alice.user, w.bob.user)
			ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{"body":"secret"}`))
			evil.sync()
			_, err := evil.m.DecryptRoomEvent(ctx, w.room, ev)
			if share && err != nil {
				t.Fatalf("with ShareWithUnsignedDevices the unsigned device cannot decrypt: %v", err)
			}
			if !share {
				var we *machine.WithheldError
				if !errors.As(err, &we) || we.Code != machine.WithheldUnverified {
					t.Fatalf("the unsigned device of a cross-signed user: %v, want withheld %s", err, machine.WithheldUnverified)
				}
			}
			// Bob's signed device decrypts either way.
			w.bob.sync()
			if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev); err != nil {
				t.Fatalf("Bob's cross-signed device: %v", err)
			}
		})
	}
}

// TestClaimBackoff: a device whose keys ran out is claimed again after 15 s,
// then after a wait that doubles with each failure in a row, at most 15
// minutes; once it has keys again it gets the room key.
func TestClaimBackoff(t *testing.T) {
	w := newWorld(t)
	w.hs.DrainKeys(w.bob.user, w.bob.dev)
	a := w.alice
	claims := func() int {
		t.Helper()
		n := 0
		for i := 0; ; i++ {
			reqs, err := a.m.ShareRoomKey(ctx, w.room, []string{a.user, w.bob.user})
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) == 0 {
				return n
			}
			if i > 20 {
				t.Fatalf("sharing never ends: %v", kinds(reqs))
			}
			for _, r := range reqs {
				if r.Kind == machine.KindKeysClaim {
					n++
				}
				a.send(r)
			}
		}
	}
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{0, 1},                // first failure
		{14 * time.Second, 0}, // within 15 s
		{2 * time.Second, 1},  // 16 s: second failure, next wait 30 s
		{29 * time.Second, 0},
		{2 * time.Second, 1}, // third failure, next wait 60 s
		{59 * time.Second, 0},
		{2 * time.Second, 1}, // 120 s
		{2 * time.Minute, 1}, // 240 s
		{4 * time.Minute, 1}, // 480 s
		{8 * time.Minute, 1}, // the wait is now capped at 15 min
		{14 * time.Minute, 0},
		{time.Minute, 1},
		{15 * time.Minute, 1},
	}
	for i, s := range steps {
		w.clock.advance(s.advance)
		if got := claims(); got != s.want {
			t.Fatalf("step %d (+%v): %d claims, want %d", i, s.advance, got, s.want)
		}
	}
	// Bob uploads keys again: the next claim after the wait succeeds and
	// he gets the room key.
	w.bob.sync()
	if w.hs.OneTimeKeyCount(w.bob.user, w.bob.dev) == 0 {
		t.Fatal("bob uploaded no one-time keys")
	}
	w.clock.advance(15 * time.Minute)
	if got := claims(); got != 1 {
		t.Fatalf("%d claims after the keys came back, want 1", got)
	}
	ev := roomEvent(w.room, a.user, a.encrypt(w.room, `{"body":"hi"}`))
	w.bob.sync()
	w.bob.decrypt(w.room, ev)
}

// TestNormalHashesBounded: the hashes of Olm normal messages kept to tell a
// replay from a wedged session are bounded; past the bound the oldest
// quarter goes, and the count survives a restart.
func TestNormalHashesBounded(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	put := func(i int) {
		t.Helper()
		w.clock.advance(time.Millisecond)
		if err := machine.PutNormalHash(a.m, fmt.Sprintf("h%05d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < machine.MaxNormalHashes; i++ {
		put(i)
	}
	hashes := func() map[string]bool {
		t.Helper()
		out := map[string]bool{}
		tx, err := a.store.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		kvs, err := tx.List(machine.NSOlmHashes)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			if strings.HasPrefix(kv.Key, "normal\x00") {
				out[strings.TrimPrefix(kv.Key, "normal\x00")] = true
			}
		}
		return out
	}
	if got := len(hashes()); got != machine.MaxNormalHashes {
		t.Fatalf("%d hashes kept, want %d", got, machine.MaxNormalHashes)
	}
	put(machine.MaxNormalHashes)
	h := hashes()
	want := machine.MaxNormalHashes - machine.MaxNormalHashes/4 + 1
	if len(h) != want {
		t.Fatalf("%d hashes after the bound, want %d", len(h), want)
	}
	if h["h00000"] || h[fmt.Sprintf("h%05d", machine.MaxNormalHashes/4-1)] || !h[fmt.Sprintf("h%05d", machine.MaxNormalHashes/4)] || !h[fmt.Sprintf("h%05d", machine.MaxNormalHashes)] {
		t.Fatal("the oldest quarter was not the one dropped")
	}
	// After a restart the count is read again from the store.
	a.restart()
	for i := machine.MaxNormalHashes + 1; len(hashes()) < machine.MaxNormalHashes; i++ {
		put(i)
	}
	put(2 * machine.MaxNormalHashes)
	if got := len(hashes()); got != want {
		t.Fatalf("%d hashes after the bound across a restart, want %d", got, want)
	}
}
