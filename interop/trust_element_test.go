package interop_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	"github.com/souverain/e2ee/sas"
)

// The machine's trust and key management (issue 15: cross-signing
// bootstrap, SAS driven by SyncResult.Verifications, server-side key
// backup) against Element's crypto stack (matrix-rust-sdk's OlmMachine
// through element/trust.mjs). Both sides talk to the same fake homeserver
// (internal/fakehs): only the homeserver's JSON passes between them. Each
// test counts its checks in tw.checks and logs the count.

func startTrustElement(t *testing.T) *elementNode { return startNodeHarness(t, "trust.mjs") }

// trustRequest is an OlmMachine request as trust.mjs describes it.
type trustRequest struct {
	ID        *string         `json:"id"`
	Type      string          `json:"type"`
	Body      json.RawMessage `json:"body"`
	EventType string          `json:"event_type"`
	Version   string          `json:"version"`
	RoomID    string          `json:"room_id"`
}

// trustWorld is the fake homeserver between one machine and one Element
// OlmMachine, of the same user or of two users.
type trustWorld struct {
	t                 *testing.T
	node              *elementNode
	hs                *fakehs.Server
	m                 *machine.Machine
	goUser, goDev     string
	elemUser, elemDev string
	room              string
	eventN            int
	checks            int
	// dm is the unencrypted room of in-room verifications, and drv the
	// machine's verification driver that gets its events.
	dm  string
	drv *sasDriver
}

// check counts a check and reports it when it fails.
func (w *trustWorld) check(ok bool, format string, args ...any) {
	w.t.Helper()
	w.checks++
	if !ok {
		w.t.Errorf(format, args...)
	}
}

// newTrustWorld opens the machine (its keys uploaded and its own user
// queried); Element starts later, with startElement.
func newTrustWorld(t *testing.T, node *elementNode, goUser, elemUser string) *trustWorld {
	w := &trustWorld{t: t, node: node, hs: fakehs.New(), goUser: goUser, goDev: "GODEV", elemUser: elemUser, elemDev: "ELEMENTDEV",
		room: "!trust:localhost"}
	t.Cleanup(func() { t.Logf("%d checks", w.checks) })
	m, err := machine.New(meCtx, machine.Options{UserID: goUser, DeviceID: w.goDev, Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	w.m = m
	w.goFlush()
	if err := m.SetRoomEncryption(meCtx, w.room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)); err != nil {
		t.Fatal(err)
	}
	return w
}

// startElement starts Element's device and has it track both users.
func (w *trustWorld) startElement() {
	w.t.Helper()
	w.node.call(nil, "init", map[string]any{"user": w.elemUser, "device": w.elemDev})
	w.elemSettle()
	w.node.call(nil, "track", map[string]any{"users": []string{w.goUser, w.elemUser}})
	w.elemSettle()
}

func (w *trustWorld) do(user, device, method, path string, body []byte) []byte {
	w.t.Helper()
	resp, err := w.hs.Do(user, device, machine.Request{Method: method, Path: path, Body: body})
	if err != nil {
		w.t.Fatalf("server refused %s %s: %v", method, path, err)
	}
	return resp
}

func (w *trustWorld) goFlush() {
	w.t.Helper()
	for i := 0; i < 20; i++ {
		reqs, err := w.m.OutgoingRequests(meCtx)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(reqs) == 0 {
			return
		}
		for _, r := range reqs {
			body := w.do(w.goUser, w.goDev, r.Method, r.Path, r.Body)
			if err := w.m.MarkRequestSent(meCtx, r.ID, body); err != nil {
				w.t.Fatalf("MarkRequestSent(%s): %v", r.Kind, err)
			}
		}
	}
	w.t.Fatal("the machine's requests never end")
}

func (w *trustWorld) goSync() *machine.SyncResult {
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

// goBootstrap creates the machine's cross-signing identity and publishes
// it, as an application does (the fake server asks for no
// user-interactive authentication).
func (w *trustWorld) goBootstrap() *machine.CrossSigningBootstrap {
	w.t.Helper()
	b, err := w.m.BootstrapCrossSigning(meCtx, machine.BootstrapOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.do(w.goUser, w.goDev, "POST", "/_matrix/client/v3/keys/device_signing/upload", b.DeviceSigningUpload)
	if err := w.m.ConfirmCrossSigningUpload(meCtx); err != nil {
		w.t.Fatal(err)
	}
	w.goFlush()
	return b
}

// elemSend plays the homeserver for Element's requests.
func (w *trustWorld) elemSend(reqs []trustRequest) {
	w.t.Helper()
	for _, r := range reqs {
		var method, path string
		switch r.Type {
		case "keys_upload":
			method, path = "POST", "/_matrix/client/v3/keys/upload"
		case "keys_query":
			method, path = "POST", "/_matrix/client/v3/keys/query"
		case "keys_claim":
			method, path = "POST", "/_matrix/client/v3/keys/claim"
		case "signature_upload":
			method, path = "POST", "/_matrix/client/v3/keys/signatures/upload"
		case "keys_backup":
			method, path = "PUT", "/_matrix/client/v3/room_keys/keys?version="+url.QueryEscape(r.Version)
		case "to_device":
			method, path = "PUT", "/_matrix/client/v3/sendToDevice/"+r.EventType+"/"+*r.ID
		case "room_message":
			if r.RoomID != w.dm || w.drv == nil {
				w.t.Fatalf("Element sent %s to room %s", r.EventType, r.RoomID)
			}
			id := w.roomEvent(w.elemUser, r.EventType, r.Body)
			w.node.call(nil, "mark_sent", map[string]any{"request_id": *r.ID, "type": r.Type, "response": map[string]string{"event_id": id}})
			w.drv.receiveRoom(sas.Event{Type: r.EventType, Content: r.Body, Sender: w.elemUser, RoomID: w.dm, EventID: id,
				OriginServerTS: time.Now().UnixMilli()})
			continue
		default:
			w.t.Fatalf("Element sent a %s request", r.Type)
		}
		resp := w.do(w.elemUser, w.elemDev, method, path, r.Body)
		if r.ID != nil {
			w.node.call(nil, "mark_sent", map[string]any{"request_id": *r.ID, "type": r.Type, "response": json.RawMessage(resp)})
		}
	}
}

func (w *trustWorld) elemSettle() {
	w.t.Helper()
	for i := 0; i < 20; i++ {
		var out struct {
			Requests []trustRequest `json:"requests"`
		}
		w.node.call(&out, "outgoing", nil)
		if len(out.Requests) == 0 {
			return
		}
		w.elemSend(out.Requests)
	}
	w.t.Fatal("Element's requests never end")
}

func (w *trustWorld) elemSync() {
	w.t.Helper()
	sc := w.hs.Sync(w.elemUser, w.elemDev)
	w.node.call(nil, "sync", map[string]any{"events": sc.ToDevice, "changed": sc.Changed, "one_time_key_counts": sc.OneTimeKeyCounts})
	w.elemSettle()
}

func (w *trustWorld) event(sender string, content json.RawMessage) json.RawMessage {
	w.eventN++
	b, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": sender, "room_id": w.room,
		"event_id": fmt.Sprintf("$trust%d", w.eventN), "origin_server_ts": 1700000000000 + w.eventN, "content": content})
	return b
}

// roomEvent "sends" an event to the DM room: it gets an event ID, and
// Element sees it in its timeline (its own events too, as a client does).
func (w *trustWorld) roomEvent(sender, typ string, content json.RawMessage) string {
	w.t.Helper()
	w.eventN++
	id := fmt.Sprintf("$dm%d:localhost", w.eventN)
	w.node.call(nil, "room_event", map[string]any{"room": w.dm, "event": map[string]any{
		"event_id": id, "sender": sender, "type": typ, "content": content, "room_id": w.dm,
		"origin_server_ts": time.Now().UnixMilli(), "unsigned": map[string]any{},
	}})
	return id
}

// goSecrets returns the machine's cross-signing private keys in the form
// Element imports them (unpadded base64 seeds, as secret storage holds
// them).
func (w *trustWorld) goSecrets() map[string]any {
	w.t.Helper()
	out := map[string]any{}
	for k, name := range map[string]string{"master": "m.cross_signing.master", "self_signing": "m.cross_signing.self_signing", "user_signing": "m.cross_signing.user_signing"} {
		v, ok, err := w.m.Secret(meCtx, name)
		if err != nil || !ok {
			w.t.Fatalf("secret %s: %v %v", name, ok, err)
		}
		out[k] = v
	}
	return out
}

// tryCall is elementNode.call for a command expected to fail: it returns
// the harness's error ("" if the command succeeded).
func (e *elementNode) tryCall(cmd string, args map[string]any) string {
	e.t.Helper()
	e.seq++
	msg := map[string]any{"id": e.seq, "cmd": cmd}
	for k, v := range args {
		msg[k] = v
	}
	b, _ := json.Marshal(msg)
	if _, err := e.in.Write(append(b, '\n')); err != nil {
		e.t.Fatalf("write to node: %v", err)
	}
	if !e.out.Scan() {
		e.t.Fatalf("node exited: %v", e.out.Err())
	}
	var head struct {
		ID    int    `json:"id"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(e.out.Bytes(), &head); err != nil || head.ID != e.seq {
		e.t.Fatalf("bad answer %q: %v", e.out.Bytes(), err)
	}
	if head.OK {
		return ""
	}
	return head.Error
}

var _ = errors.Is
