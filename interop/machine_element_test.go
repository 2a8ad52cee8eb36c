package interop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// The machine against Element's crypto stack (matrix-rust-sdk's OlmMachine
// through roomkeys.mjs), both over the same fake homeserver: each side runs
// its own engine, and only the homeserver's JSON passes between them.

type meWorld struct {
	t                 *testing.T
	node              *elementNode
	hs                *fakehs.Server
	m                 *machine.Machine
	opts              machine.Options
	goUser, goDev     string
	elemUser, elemDev string
	room              string
	eventN            int
}

var meCtx = context.Background()

func newMEWorld(t *testing.T, node *elementNode, name string) *meWorld {
	w := &meWorld{t: t, node: node, hs: fakehs.New(),
		goUser: "@souverain-" + name + ":localhost", goDev: "GODEV",
		elemUser: "@element-" + name + ":localhost", elemDev: "ELEMENTDEV", room: "!room-" + name + ":localhost"}
	node.call(nil, "init", map[string]any{"user": w.elemUser, "device": w.elemDev})
	w.opts = machine.Options{UserID: w.goUser, DeviceID: w.goDev, Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)}
	m, err := machine.New(meCtx, w.opts)
	if err != nil {
		t.Fatal(err)
	}
	w.m = m
	w.goFlush()
	w.elemSettle()
	w.elemSync()
	w.goSync()
	if err := m.SetRoomEncryption(meCtx, w.room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)); err != nil {
		t.Fatal(err)
	}
	node.call(nil, "track", map[string]any{"users": []string{w.goUser, w.elemUser}})
	if err := m.UpdateTrackedUsers(meCtx, []string{w.elemUser}); err != nil {
		t.Fatal(err)
	}
	w.elemSettle()
	w.goFlush()
	return w
}

// goRestart reopens the machine from its store, as after a restart.
func (w *meWorld) goRestart() {
	w.t.Helper()
	w.m.Close()
	m, err := machine.New(meCtx, w.opts)
	if err != nil {
		w.t.Fatal(err)
	}
	w.m = m
}

func (w *meWorld) goFlush() {
	w.t.Helper()
	for i := 0; i < 20; i++ {
		reqs, err := w.m.OutgoingRequests(meCtx)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(reqs) == 0 {
			return
		}
		w.goSend(reqs)
	}
	w.t.Fatal("the machine's requests never end")
}

func (w *meWorld) goSend(reqs []machine.Request) {
	w.t.Helper()
	for _, r := range reqs {
		body, err := w.hs.Do(w.goUser, w.goDev, r)
		if err != nil {
			w.t.Fatalf("server refused the machine's %s: %v", r.Kind, err)
		}
		if err := w.m.MarkRequestSent(meCtx, r.ID, body); err != nil {
			w.t.Fatalf("MarkRequestSent(%s): %v", r.Kind, err)
		}
	}
}

func (w *meWorld) goSync() *machine.SyncResult {
	w.t.Helper()
	res, err := w.m.ReceiveSync(meCtx, w.hs.Sync(w.goUser, w.goDev))
	if err != nil {
		w.t.Fatal(err)
	}
	for _, ev := range res.ToDevice {
		if ev.Err != nil {
			w.t.Errorf("machine refused %s from %s: %v", ev.Type, ev.Sender, ev.Err)
		}
	}
	w.goFlush()
	return res
}

// elemSend plays the homeserver for Element's requests.
func (w *meWorld) elemSend(reqs []rkRequest) {
	w.t.Helper()
	for _, r := range reqs {
		var mr machine.Request
		switch r.Type {
		case "keys_upload":
			mr = machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/upload"}
		case "keys_query":
			mr = machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/query"}
		case "keys_claim":
			mr = machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/claim"}
		case "to_device":
			mr = machine.Request{Method: "PUT", Path: "/_matrix/client/v3/sendToDevice/" + r.EventType + "/" + r.ID}
		default:
			w.node.call(nil, "mark_sent", map[string]any{"request_id": r.ID, "type": r.Type, "response": map[string]any{}})
			continue
		}
		mr.Body = r.Body
		resp, err := w.hs.Do(w.elemUser, w.elemDev, mr)
		if err != nil {
			w.t.Fatalf("server refused Element's %s: %v", r.Type, err)
		}
		w.node.call(nil, "mark_sent", map[string]any{"request_id": r.ID, "type": r.Type, "response": json.RawMessage(resp)})
	}
}

func (w *meWorld) elemSettle() {
	w.t.Helper()
	for i := 0; i < 20; i++ {
		var out struct {
			Requests []rkRequest `json:"requests"`
		}
		w.node.call(&out, "outgoing", nil)
		if len(out.Requests) == 0 {
			return
		}
		w.elemSend(out.Requests)
	}
	w.t.Fatal("Element's requests never end")
}

func (w *meWorld) elemSync() []rkProcessed {
	w.t.Helper()
	sc := w.hs.Sync(w.elemUser, w.elemDev)
	var out struct {
		Processed []rkProcessed `json:"processed"`
	}
	w.node.call(&out, "sync", map[string]any{"events": sc.ToDevice, "changed": sc.Changed, "one_time_key_counts": sc.OneTimeKeyCounts})
	w.elemSettle()
	return out.Processed
}

func (w *meWorld) event(sender string, content json.RawMessage) json.RawMessage {
	w.eventN++
	b, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": sender, "room_id": w.room,
		"event_id": fmt.Sprintf("$me%d", w.eventN), "origin_server_ts": 1700000000000 + w.eventN, "content": content})
	return b
}

func TestMachineToElement(t *testing.T) {
	node := startRoomKeysElement(t)
	w := newMEWorld(t, node, "m2e")
	// The machine shares its room key: query, claim, m.room_key over Olm.
	for i := 0; ; i++ {
		reqs, err := w.m.ShareRoomKey(meCtx, w.room, []string{w.goUser, w.elemUser})
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs) == 0 {
			break
		}
		if i > 10 {
			t.Fatal("sharing never ends")
		}
		w.goSend(reqs)
	}
	var events []json.RawMessage
	bodies := []string{"one", "two", "three"}
	for _, b := range bodies {
		c, err := w.m.EncryptRoomEvent(meCtx, w.room, "m.room.message", json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, b)))
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, w.event(w.goUser, c))
	}
	edit, err := w.m.EncryptRoomEvent(meCtx, w.room, "m.room.message", json.RawMessage(`{"msgtype":"m.text","body":"* edit","m.relates_to":{"rel_type":"m.replace","event_id":"$me1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	events = append(events, w.event(w.goUser, edit))
	// A restart between messages: the session and its index come back
	// from the store.
	w.goRestart()
	after, err := w.m.EncryptRoomEvent(meCtx, w.room, "m.room.message", json.RawMessage(`{"msgtype":"m.text","body":"after restart"}`))
	if err != nil {
		t.Fatal(err)
	}
	processed := w.elemSync()
	var keys int
	for _, p := range processed {
		if p.Raw != nil && strings.Contains(string(p.Raw), "m.room_key") {
			keys++
		}
	}
	if keys == 0 {
		t.Fatalf("Element decrypted no m.room_key: %+v", processed)
	}
	// Element decrypts in reverse order.
	for i := len(events) - 1; i >= 0; i-- {
		var d rkDecrypted
		node.call(&d, "decrypt", map[string]any{"room": w.room, "event": events[i]})
		if !d.Decrypted {
			t.Fatalf("Element could not decrypt event %d: %d %s", i, d.Code, d.Description)
		}
		if d.SenderDevice != w.goDev {
			t.Errorf("Element attributes event %d to device %q", i, d.SenderDevice)
		}
		got := string(d.Event.Content)
		if i < len(bodies) && !strings.Contains(got, bodies[i]) {
			t.Errorf("event %d: %s", i, got)
		}
		if i == len(bodies) && !strings.Contains(got, "m.replace") {
			t.Errorf("edit lost its relation: %s", got)
		}
	}
	var d rkDecrypted
	node.call(&d, "decrypt", map[string]any{"room": w.room, "event": w.event(w.goUser, after)})
	if !d.Decrypted || !strings.Contains(string(d.Event.Content), "after restart") {
		t.Errorf("message after the restart: %d %s %s", d.Code, d.Description, d.Event.Content)
	}
}

func TestElementToMachine(t *testing.T) {
	node := startRoomKeysElement(t)
	w := newMEWorld(t, node, "e2m")
	users := []string{w.goUser, w.elemUser}
	var claim struct {
		Request *rkRequest `json:"request"`
	}
	node.call(&claim, "missing_sessions", map[string]any{"users": users})
	if claim.Request != nil {
		w.elemSend([]rkRequest{*claim.Request})
	}
	var share struct {
		Requests []rkRequest `json:"requests"`
	}
	node.call(&share, "share_room_key", map[string]any{"room": w.room, "users": users})
	w.elemSend(share.Requests)
	var events []json.RawMessage
	bodies := []string{"uno", "dos", "tres"}
	for _, b := range bodies {
		var enc struct {
			Content json.RawMessage `json:"content"`
		}
		node.call(&enc, "encrypt", map[string]any{"room": w.room, "type": "m.room.message", "content": map[string]any{"msgtype": "m.text", "body": b}})
		events = append(events, w.event(w.elemUser, enc.Content))
	}
	var enc struct {
		Content json.RawMessage `json:"content"`
	}
	node.call(&enc, "encrypt", map[string]any{"room": w.room, "type": "m.room.message", "content": map[string]any{
		"msgtype": "m.text", "body": "reply", "m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": "$root"}}})
	events = append(events, w.event(w.elemUser, enc.Content))

	res := w.goSync()
	if len(res.RoomKeys) != 1 || res.RoomKeys[0].Provenance != machine.ProvenanceDirect {
		t.Fatalf("room keys from Element: %+v", res.RoomKeys)
	}
	for i := len(events) - 1; i >= 0; i-- {
		d, err := w.m.DecryptRoomEvent(meCtx, w.room, events[i])
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if d.SenderDevice == nil || d.SenderDevice.DeviceID != w.elemDev || d.Verification != machine.VerificationUnsigned {
			t.Errorf("event %d: device %+v verification %s", i, d.SenderDevice, d.Verification)
		}
		if i < len(bodies) && !strings.Contains(string(d.Content), bodies[i]) {
			t.Errorf("event %d: %s", i, d.Content)
		}
		if i == len(bodies) && !strings.Contains(string(d.Content), "m.thread") {
			t.Errorf("thread reply lost its relation: %s", d.Content)
		}
	}
	// After a restart: the same events decrypt again, and the same
	// ciphertext under another event ID is a replay.
	w.goRestart()
	if _, err := w.m.DecryptRoomEvent(meCtx, w.room, events[0]); err != nil {
		t.Errorf("after restart: %v", err)
	}
	var ev map[string]any
	json.Unmarshal(events[0], &ev)
	ev["event_id"] = "$forged"
	forged, _ := json.Marshal(ev)
	if _, err := w.m.DecryptRoomEvent(meCtx, w.room, forged); !errors.Is(err, machine.ErrReplay) {
		t.Errorf("replayed Element ciphertext: %v, want ErrReplay", err)
	}
}
