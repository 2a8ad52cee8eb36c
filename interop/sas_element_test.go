package interop_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// This file drives Element's crypto stack (matrix-rust-sdk's OlmMachine
// with vodozemac, as @matrix-org/matrix-sdk-crypto-wasm) through the node
// harness element/sas.mjs, against souverain's flow engine. The test plays
// the homeserver: it answers the OlmMachine's keys/upload, keys/query and
// keys/claim requests with responses it builds, and relays to-device
// events both ways.

func startElement(t *testing.T) *elementNode { return startNodeHarness(t, "sas.mjs") }

// outgoingRequest is an OlmMachine request as the harness describes it.
type outgoingRequest struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Body      json.RawMessage `json:"body"`
	EventType string          `json:"event_type"`
	RoomID    string          `json:"room_id,omitempty"`
}

type elementSASInfo struct {
	Exists         bool   `json:"exists"`
	Kind           string `json:"kind"`
	CanBePresented bool   `json:"can_be_presented"`
	EmojiIndex     []int  `json:"emoji_index"`
	RawEmoji       []struct {
		Symbol      string `json:"symbol"`
		Description string `json:"description"`
	} `json:"emoji"`
	Decimals   []int `json:"decimals"`
	Done       bool  `json:"done"`
	Cancelled  bool  `json:"cancelled"`
	CancelInfo *struct {
		Code   string `json:"code"`
		Reason string `json:"reason"`
		ByUs   bool   `json:"by_us"`
	} `json:"cancel_info"`
}

// elementWorld is the homeserver between one OlmMachine and one
// souverain device.
type elementWorld struct {
	t    *testing.T
	node *elementNode

	elemUser, elemDev string
	elemDeviceKeys    json.RawMessage
	elemEd            olm.Ed25519PublicKey

	goUser, goDev string
	account       *olm.Account
	goDeviceKeys  json.RawMessage
	machine       *sas.Machine

	// Cross-signing keys, when the test sets them up: Element's as its
	// bootstrap uploaded them, ours made here.
	elemCrossSigning map[string]json.RawMessage // master_key, self_signing_key, user_signing_key
	elemMaster       olm.Ed25519PublicKey
	goCrossSigning   map[string]json.RawMessage // master_key, self_signing_key
	goMaster         olm.Ed25519PublicKey

	toElement []sas.Event
	changed   []string // users whose keys changed since the last sync
	roomID    string   // the DM room, for in-room verification
	eventSeq  int
	log       []string
}

// sameKeys reports whether a signed key object has the same "keys" as raw.
func sameKeys(obj map[string]any, raw json.RawMessage) bool {
	var other map[string]any
	json.Unmarshal(raw, &other)
	a, _ := json.Marshal(obj["keys"])
	b, _ := json.Marshal(other["keys"])
	return string(a) == string(b)
}

// mergeSignatures adds sigs to the signatures of the key object raw.
func mergeSignatures(t *testing.T, raw json.RawMessage, sigs map[string]any) json.RawMessage {
	var obj map[string]any
	json.Unmarshal(raw, &obj)
	all, _ := obj["signatures"].(map[string]any)
	if all == nil {
		all = map[string]any{}
	}
	for user, s := range sigs {
		us, _ := all[user].(map[string]any)
		if us == nil {
			us = map[string]any{}
		}
		for k, v := range s.(map[string]any) {
			us[k] = v
		}
		all[user] = us
	}
	obj["signatures"] = all
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newElementWorld starts a fresh OlmMachine and a souverain device. With
// crossSigning, both users get cross-signing keys: Element bootstraps
// its own, and the souverain user gets a master and a self-signing key
// that signs its device.
func newElementWorld(t *testing.T, node *elementNode, elemUser, elemDev, goUser, goDev string, crossSigning bool, methods ...string) *elementWorld {
	w := &elementWorld{t: t, node: node, elemUser: elemUser, elemDev: elemDev, goUser: goUser, goDev: goDev}
	var init struct {
		Ed25519  string `json:"ed25519"`
		Versions struct {
			Crypto    string `json:"matrix_sdk_crypto"`
			Vodozemac string `json:"vodozemac"`
		} `json:"versions"`
	}
	node.call(&init, "init", map[string]any{"user": elemUser, "device": elemDev})
	t.Logf("Element side: matrix-sdk-crypto %s, vodozemac %s", init.Versions.Crypto, init.Versions.Vodozemac)
	ed, err := olm.ParseEd25519PublicKey(init.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	w.elemEd = ed
	w.account, err = olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	w.goDeviceKeys, err = w.account.DeviceKeys(goUser, goDev)
	if err != nil {
		t.Fatal(err)
	}
	if crossSigning {
		w.setUpCrossSigning()
	}
	w.machine, err = sas.NewMachine(sas.Config{
		UserID: goUser, DeviceID: goDev, DeviceKey: w.account.Ed25519Key(),
		MasterKey: w.goMaster, MasterKeyTrusted: crossSigning, Methods: methods,
		Keys: func(u string) (sas.UserKeys, bool) {
			if u != w.elemUser || w.elemDeviceKeys == nil {
				return sas.UserKeys{}, false
			}
			k := sas.UserKeys{Devices: map[string]olm.Ed25519PublicKey{w.elemDev: w.elemEd}}
			if w.elemCrossSigning != nil {
				k.MasterKey = crossSigningKey(t, w.elemCrossSigning["master_key"])
				k.SelfSigningKey = crossSigningKey(t, w.elemCrossSigning["self_signing_key"])
				k.UserSigningKey = crossSigningKey(t, w.elemCrossSigning["user_signing_key"])
			}
			return k, true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Element learns about the souverain user's devices.
	node.call(nil, "track", map[string]any{"users": []string{goUser}})
	w.settle()
	return w
}

// setUpCrossSigning bootstraps Element's cross-signing and makes ours.
func (w *elementWorld) setUpCrossSigning() {
	t := w.t
	w.settle() // the device keys upload comes first
	var boot struct {
		UploadSigningKeys map[string]json.RawMessage `json:"upload_signing_keys"`
		UploadKeys        *outgoingRequest           `json:"upload_keys"`
	}
	w.node.call(&boot, "bootstrap_cross_signing", nil)
	if boot.UploadKeys != nil {
		w.answer(*boot.UploadKeys)
	}
	w.elemCrossSigning = boot.UploadSigningKeys
	w.elemMaster = crossSigningKey(t, w.elemCrossSigning["master_key"])

	_, masterPriv, _ := ed25519.GenerateKey(nil)
	_, sskPriv, _ := ed25519.GenerateKey(nil)
	masterPub := base64.RawStdEncoding.EncodeToString(masterPriv.Public().(ed25519.PublicKey))
	sskPub := base64.RawStdEncoding.EncodeToString(sskPriv.Public().(ed25519.PublicKey))
	w.goMaster, _ = olm.ParseEd25519PublicKey(masterPub)
	master := map[string]any{"user_id": w.goUser, "usage": []string{"master"}, "keys": map[string]string{"ed25519:" + masterPub: masterPub}}
	ssk := map[string]any{"user_id": w.goUser, "usage": []string{"self_signing"}, "keys": map[string]string{"ed25519:" + sskPub: sskPub}}
	var device map[string]any
	json.Unmarshal(w.goDeviceKeys, &device)
	w.goCrossSigning = map[string]json.RawMessage{
		"master_key":       signJSON(t, master, w.goUser, "ed25519:"+masterPub, masterPriv),
		"self_signing_key": signJSON(t, ssk, w.goUser, "ed25519:"+masterPub, masterPriv),
	}
	w.goDeviceKeys = signJSON(t, device, w.goUser, "ed25519:"+sskPub, sskPriv)
}

// signJSON adds a Matrix signature by key to obj: over the canonical JSON
// of obj without signatures and unsigned.
func signJSON(t *testing.T, obj map[string]any, user, keyID string, key ed25519.PrivateKey) json.RawMessage {
	t.Helper()
	sigs, _ := obj["signatures"].(map[string]any)
	unsigned, hasUnsigned := obj["unsigned"]
	delete(obj, "signatures")
	delete(obj, "unsigned")
	canon, err := canonicaljson.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if sigs == nil {
		sigs = map[string]any{}
	}
	userSigs, _ := sigs[user].(map[string]any)
	if userSigs == nil {
		userSigs = map[string]any{}
	}
	userSigs[keyID] = base64.RawStdEncoding.EncodeToString(ed25519.Sign(key, canon))
	sigs[user] = userSigs
	obj["signatures"] = sigs
	if hasUnsigned {
		obj["unsigned"] = unsigned
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crossSigningKey returns the Ed25519 key of a cross-signing key object.
func crossSigningKey(t *testing.T, raw json.RawMessage) olm.Ed25519PublicKey {
	t.Helper()
	var k struct {
		Keys map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &k); err != nil || len(k.Keys) != 1 {
		t.Fatalf("cross-signing key %s: %v", raw, err)
	}
	for _, v := range k.Keys {
		key, err := olm.ParseEd25519PublicKey(v)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	panic("unreachable")
}

// settle answers the OlmMachine's requests and relays events both ways
// until nothing moves.
func (w *elementWorld) settle() {
	w.t.Helper()
	for round := 0; ; round++ {
		if round > 50 {
			w.t.Fatal("the exchange with Element does not settle")
		}
		var out struct {
			Requests []outgoingRequest `json:"requests"`
		}
		w.node.call(&out, "outgoing", nil)
		moved := len(out.Requests) > 0 || len(w.toElement) > 0 || len(w.changed) > 0
		for _, r := range out.Requests {
			w.answer(r)
		}
		if len(w.toElement) > 0 || len(w.changed) > 0 {
			w.syncToElement()
		}
		if !moved {
			return
		}
	}
}

// answer plays the homeserver for one request of the OlmMachine.
func (w *elementWorld) answer(r outgoingRequest) {
	w.t.Helper()
	var resp any = map[string]any{}
	switch r.Type {
	case "keys_upload":
		var body struct {
			DeviceKeys  json.RawMessage            `json:"device_keys"`
			OneTimeKeys map[string]json.RawMessage `json:"one_time_keys"`
		}
		json.Unmarshal(r.Body, &body)
		if body.DeviceKeys != nil {
			w.elemDeviceKeys = body.DeviceKeys
		}
		resp = map[string]any{"one_time_key_counts": map[string]int{"signed_curve25519": len(body.OneTimeKeys)}}
	case "keys_query":
		var body struct {
			DeviceKeys map[string]json.RawMessage `json:"device_keys"`
		}
		json.Unmarshal(r.Body, &body)
		devices := map[string]map[string]json.RawMessage{}
		masters, ssks, usks := map[string]json.RawMessage{}, map[string]json.RawMessage{}, map[string]json.RawMessage{}
		for u := range body.DeviceKeys {
			switch u {
			case w.goUser:
				devices[u] = map[string]json.RawMessage{w.goDev: w.goDeviceKeys}
				if w.goCrossSigning != nil {
					masters[u], ssks[u] = w.goCrossSigning["master_key"], w.goCrossSigning["self_signing_key"]
				}
			case w.elemUser:
				devices[u] = map[string]json.RawMessage{w.elemDev: w.elemDeviceKeys}
				if w.elemCrossSigning != nil {
					masters[u], ssks[u] = w.elemCrossSigning["master_key"], w.elemCrossSigning["self_signing_key"]
					usks[u] = w.elemCrossSigning["user_signing_key"] // Element asks about itself
				}
			default:
				devices[u] = map[string]json.RawMessage{}
			}
		}
		resp = map[string]any{"device_keys": devices, "master_keys": masters, "self_signing_keys": ssks,
			"user_signing_keys": usks, "failures": map[string]any{}}
	case "to_device":
		var body struct {
			Messages map[string]map[string]json.RawMessage `json:"messages"`
		}
		json.Unmarshal(r.Body, &body)
		for user, devs := range body.Messages {
			for dev, content := range devs {
				if user != w.goUser || (dev != w.goDev && dev != "*") {
					w.t.Logf("Element sent %s to %s %s, who is not here", r.EventType, user, dev)
					continue
				}
				w.fromElement(r.EventType, content)
			}
		}
	case "room_message":
		var req struct {
			RoomID string `json:"room_id"`
		}
		raw, _ := json.Marshal(r)
		json.Unmarshal(raw, &req)
		id := w.roomEvent(w.elemUser, r.EventType, r.Body)
		w.log = append(w.log, "element (room)> "+strings.TrimPrefix(r.EventType, "m.key.verification."))
		_, out, err := w.machine.Receive(sas.Event{Type: r.EventType, Content: r.Body, Sender: w.elemUser, RoomID: w.roomID,
			EventID: id, OriginServerTS: time.Now().UnixMilli()})
		if err != nil {
			w.t.Errorf("engine refused Element's in-room %s: %v\n%s", r.EventType, err, r.Body)
		}
		w.toElement = append(w.toElement, out...)
		resp = map[string]any{"event_id": id}
	case "signature_upload":
		// Store the signatures on the keys, as a homeserver does, and
		// tell Element the user's keys changed so that it queries them
		// again.
		var body map[string]map[string]map[string]any
		json.Unmarshal(r.Body, &body)
		for user, objs := range body {
			for _, obj := range objs {
				sigs, _ := obj["signatures"].(map[string]any)
				if user == w.goUser && w.goCrossSigning != nil && sameKeys(obj, w.goCrossSigning["master_key"]) {
					w.goCrossSigning["master_key"] = mergeSignatures(w.t, w.goCrossSigning["master_key"], sigs)
					w.changed = append(w.changed, user)
				}
			}
		}
		w.log = append(w.log, "element> signature upload")
		resp = map[string]any{"failures": map[string]any{}}
	default:
		w.t.Logf("Element request %s left unanswered beyond an empty response", r.Type)
	}
	w.node.call(nil, "mark_sent", map[string]any{"request_id": r.ID, "type": r.Type, "response": resp})
}

// fromElement delivers one to-device event from Element to the engine.
func (w *elementWorld) fromElement(typ string, content json.RawMessage) {
	w.t.Helper()
	w.log = append(w.log, "element> "+strings.TrimPrefix(typ, "m.key.verification."))
	if typ == "m.room.encrypted" {
		w.t.Fatalf("Element sent an encrypted to-device event; this harness does not decrypt yet: %s", content)
	}
	_, out, err := w.machine.Receive(sas.Event{Type: typ, Content: content, Sender: w.elemUser, SenderDevice: w.elemDev})
	if err != nil {
		w.t.Errorf("engine refused Element's %s: %v\n%s", typ, err, content)
	}
	w.toElement = append(w.toElement, out...)
}

// toElementNow queues engine events for Element.
func (w *elementWorld) send(evs []sas.Event, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
	w.toElement = append(w.toElement, evs...)
}

// roomEvent "sends" an event to the DM room: it gets an event ID, and
// Element sees it in its timeline (its own events too, as a client does).
func (w *elementWorld) roomEvent(sender, typ string, content json.RawMessage) string {
	w.t.Helper()
	w.eventSeq++
	id := fmt.Sprintf("$event%d:localhost", w.eventSeq)
	w.node.call(nil, "room_event", map[string]any{"room": w.roomID, "event": map[string]any{
		"event_id": id, "sender": sender, "type": typ, "content": content, "room_id": w.roomID,
		"origin_server_ts": time.Now().UnixMilli(), "unsigned": map[string]any{},
	}})
	return id
}

func (w *elementWorld) syncToElement() {
	w.t.Helper()
	events := []map[string]any{}
	var toDevice []sas.Event
	for _, ev := range w.toElement {
		if ev.RoomID != "" {
			if ev.RoomID != w.roomID {
				w.t.Fatalf("engine sent %s to room %s", ev.Type, ev.RoomID)
			}
			w.log = append(w.log, "go (room)> "+strings.TrimPrefix(ev.Type, "m.key.verification."))
			w.roomEvent(w.goUser, ev.Type, ev.Content)
			continue
		}
		toDevice = append(toDevice, ev)
	}
	for _, ev := range toDevice {
		if ev.ToUser != w.elemUser || ev.ToDevice != w.elemDev {
			w.t.Fatalf("engine sent %s to %s %s", ev.Type, ev.ToUser, ev.ToDevice)
		}
		w.log = append(w.log, "go> "+strings.TrimPrefix(ev.Type, "m.key.verification."))
		events = append(events, map[string]any{"sender": w.goUser, "type": ev.Type, "content": ev.Content})
	}
	w.toElement = nil
	var res struct {
		Processed []struct {
			Type int             `json:"type"`
			Raw  json.RawMessage `json:"raw"`
		} `json:"processed"`
	}
	w.node.call(&res, "sync", map[string]any{"events": events, "changed": w.changed})
	w.changed = nil
	for _, p := range res.Processed {
		if p.Type != 2 { // ProcessedToDeviceEventType.PlainText
			w.t.Logf("Element processed a to-device event as type %d: %s", p.Type, p.Raw)
		}
	}
}

func (w *elementWorld) sasInfo(flow string) elementSASInfo {
	var info elementSASInfo
	w.node.call(&info, "sas_info", map[string]any{"user": w.goUser, "flow_id": flow})
	return info
}

// TestElementSAS verifies a souverain device and an Element device
// (matrix-rust-sdk crypto) against each other by emoji, to-device, with
// each side requesting and each side starting the SAS: both end verified
// and show the same emojis.
func TestElementSAS(t *testing.T) {
	node := startElement(t)
	n := 0
	for _, transport := range []string{"to-device", "in-room"} {
		for _, crossSigning := range []bool{false, true} {
			for _, elementRequests := range []bool{true, false} {
				for _, elementStarts := range []bool{true, false} {
					n++
					name := fmt.Sprintf("%s/cross-signing=%v/element-requests=%v/element-starts-sas=%v", transport, crossSigning, elementRequests, elementStarts)
					t.Run(name, func(t *testing.T) {
						parent := node.t
						node.t = t
						defer func() { node.t = parent }()
						if transport == "in-room" && elementRequests && !crossSigning {
							t.Skip("Element requests in-room verification only of users with a cross-signing identity")
						}
						w := newElementWorld(t, node, fmt.Sprintf("@element%d:localhost", n), "ELEMENTDEV", fmt.Sprintf("@go%d:localhost", n), "GODEV", crossSigning)
						if transport == "in-room" {
							w.roomID = fmt.Sprintf("!dm%d:localhost", n)
						}
						runElementSAS(t, w, elementRequests, elementStarts)
						t.Logf("events: %s", strings.Join(w.log, ", "))
					})
				}
			}
		}
	}
}

func runElementSAS(t *testing.T, w *elementWorld, elementRequests, elementStarts bool) {
	var flow string
	var v *sas.Verification
	if w.roomID != "" && elementRequests {
		var res struct {
			Content json.RawMessage `json:"content"`
		}
		w.node.call(&res, "room_request", map[string]any{"other": w.goUser})
		flow = w.roomEvent(w.elemUser, sas.EventRoomMessage, res.Content)
		w.node.call(nil, "room_request_sent", map[string]any{"other": w.goUser, "room": w.roomID, "event_id": flow})
		w.log = append(w.log, "element (room)> request")
		_, out, err := w.machine.Receive(sas.Event{Type: sas.EventRoomMessage, Content: res.Content, Sender: w.elemUser,
			RoomID: w.roomID, EventID: flow, OriginServerTS: time.Now().UnixMilli()})
		if err != nil || len(out) != 0 {
			t.Fatalf("engine on the in-room request: %v %v", out, err)
		}
		v = w.machine.Verification(w.roomID, flow)
		if v == nil {
			t.Fatal("the engine has no verification for Element's in-room request")
		}
		w.send(v.Accept())
		w.settle()
	} else if w.roomID != "" {
		var ev sas.Event
		var err error
		v, ev, err = w.machine.RequestInRoom(w.roomID, w.elemUser)
		if err != nil {
			t.Fatal(err)
		}
		flow = w.roomEvent(w.goUser, ev.Type, ev.Content)
		w.log = append(w.log, "go (room)> request")
		if err := v.RequestSent(flow); err != nil {
			t.Fatal(err)
		}
		w.settle()
		var res struct {
			Request *outgoingRequest `json:"request"`
		}
		w.node.call(&res, "accept_request", map[string]any{"user": w.goUser, "flow_id": flow})
		if res.Request == nil {
			t.Fatal("Element did not accept the in-room request")
		}
		w.answer(*res.Request)
		w.settle()
	} else if elementRequests {
		var res struct {
			FlowID  string          `json:"flow_id"`
			Request outgoingRequest `json:"request"`
		}
		w.node.call(&res, "request", map[string]any{"user": w.goUser, "device": w.goDev})
		flow = res.FlowID
		w.answer(res.Request)
		v = w.machine.Verification("", flow)
		if v == nil {
			t.Fatal("the engine has no verification for Element's request")
		}
		w.send(v.Accept())
		w.settle()
	} else {
		var out []sas.Event
		var err error
		v, out, err = w.machine.RequestToDevice(w.elemUser, w.elemDev)
		w.send(out, err)
		w.settle()
		flow = v.FlowID()
		var req outgoingRequest
		var res struct {
			Request *outgoingRequest `json:"request"`
		}
		w.node.call(&res, "accept_request", map[string]any{"user": w.goUser, "flow_id": flow})
		if res.Request == nil {
			t.Fatal("Element did not accept the request")
		}
		req = *res.Request
		w.answer(req)
		w.settle()
	}
	if v.State() != sas.StateReady {
		t.Fatalf("engine state %s after the request; %+v; events %q", v.State(), v.Cancellation(), w.log)
	}
	if elementStarts {
		var res struct {
			Request outgoingRequest `json:"request"`
		}
		w.node.call(&res, "start_sas", map[string]any{"user": w.goUser, "flow_id": flow})
		w.answer(res.Request)
		w.settle()
	} else {
		w.send(v.StartSAS())
		w.settle()
		var res struct {
			Request *outgoingRequest `json:"request"`
		}
		w.node.call(&res, "sas_accept", map[string]any{"user": w.goUser, "flow_id": flow})
		if res.Request != nil {
			w.answer(*res.Request)
		}
		w.settle()
	}
	info := w.sasInfo(flow)
	ours, methods, ok := v.ShortAuthString()
	if !ok || !info.CanBePresented {
		t.Fatalf("no SAS: engine %s %+v, Element %+v; events %q", v.State(), v.Cancellation(), info, w.log)
	}
	idx := ours.EmojiIndices()
	if !slices.Equal(idx[:], info.EmojiIndex) {
		t.Fatalf("emoji indices: souverain %v, Element %v", idx, info.EmojiIndex)
	}
	for i, e := range ours.Emojis() {
		if e.Symbol != info.RawEmoji[i].Symbol || e.Description != info.RawEmoji[i].Description {
			t.Errorf("emoji %d: souverain %v, Element %s %s", i, e, info.RawEmoji[i].Symbol, info.RawEmoji[i].Description)
		}
	}
	dec := ours.Decimals()
	if !slices.Equal(dec[:], info.Decimals) {
		t.Fatalf("decimals: souverain %v, Element %v", dec, info.Decimals)
	}
	t.Logf("both show %v %v (methods %q)", ours.Emojis(), dec, methods)

	// Both users say the emojis match.
	var conf struct {
		Requests []outgoingRequest `json:"requests"`
	}
	w.node.call(&conf, "sas_confirm", map[string]any{"user": w.goUser, "flow_id": flow})
	for _, r := range conf.Requests {
		w.answer(r)
	}
	w.settle()
	w.send(v.Confirm())
	w.settle()

	// Element's side of the flow is done: its SAS says so, or, once it
	// has forgotten the finished SAS, its request does.
	info = w.sasInfo(flow)
	var req struct {
		Exists bool `json:"exists"`
		Done   bool `json:"done"`
		Phase  int  `json:"phase"`
	}
	w.node.call(&req, "request_info", map[string]any{"user": w.goUser, "flow_id": flow})
	if v.State() != sas.StateDone || !(info.Done || req.Done) {
		t.Fatalf("not done: engine %s %+v, Element SAS %+v, request %+v; events %q", v.State(), v.Cancellation(), info, req, w.log)
	}
	r, _ := v.Result()
	if r.DeviceKey == nil || *r.DeviceKey != w.elemEd || r.UserID != w.elemUser || r.DeviceID != w.elemDev {
		t.Fatalf("engine result %+v", r)
	}
	if w.elemCrossSigning != nil {
		if r.MasterKey == nil || *r.MasterKey != w.elemMaster {
			t.Fatalf("the engine did not verify Element's master key: %+v", r)
		}
		var id struct {
			Exists   bool `json:"exists"`
			Verified bool `json:"verified"`
		}
		w.node.call(&id, "identity_info", map[string]any{"user": w.goUser})
		if !id.Exists || !id.Verified {
			t.Fatalf("Element does not consider the souverain identity verified: %+v", id)
		}
	} else if r.MasterKey != nil {
		t.Fatalf("a master key verified without cross-signing: %+v", r)
	}
	var dev struct {
		Verified       bool `json:"verified"`
		LocallyTrusted bool `json:"locally_trusted"`
	}
	w.node.call(&dev, "device_info", map[string]any{"user": w.goUser, "device": w.goDev})
	if !dev.Verified {
		t.Fatalf("Element does not consider the souverain device verified: %+v", dev)
	}
}

// TestElementQR verifies by QR code between a souverain device and an
// Element device of another user (mode 0x00, both cross-signed): once with
// Element showing the code and souverain scanning it, once the other way.
// It proves the MATRIX payload and m.reciprocate.v1 are understood both
// ways and that both sides end with the other's master key verified.
func TestElementQR(t *testing.T) {
	node := startElement(t)
	all := []string{sas.MethodSAS, sas.MethodQRShow, sas.MethodQRScan, sas.MethodReciprocate}
	for i, elementShows := range []bool{true, false} {
		t.Run(fmt.Sprintf("element-shows=%v", elementShows), func(t *testing.T) {
			parent := node.t
			node.t = t
			defer func() { node.t = parent }()
			w := newElementWorld(t, node, fmt.Sprintf("@qrelement%d:localhost", i), "ELEMENTDEV",
				fmt.Sprintf("@qrgo%d:localhost", i), "GODEV", true, sas.MethodSAS, sas.MethodQRShow, sas.MethodQRScan)
			v, out, err := w.machine.RequestToDevice(w.elemUser, w.elemDev)
			w.send(out, err)
			w.settle()
			flow := v.FlowID()
			var res struct {
				Request *outgoingRequest `json:"request"`
			}
			w.node.call(&res, "accept_request", map[string]any{"user": w.goUser, "flow_id": flow, "methods": all})
			w.answer(*res.Request)
			w.settle()
			if v.State() != sas.StateReady {
				t.Fatalf("engine %s %+v; events %q", v.State(), v.Cancellation(), w.log)
			}
			type qrInfo struct {
				Scanned, Reciprocated, Done, Cancelled bool
				CancelInfo                             any `json:"cancel_info"`
			}
			var info qrInfo
			if elementShows {
				var gen struct {
					Payload []byte `json:"payload"`
				}
				w.node.call(&gen, "qr_generate", map[string]any{"user": w.goUser, "flow_id": flow})
				q, err := sas.ParseQRCode(gen.Payload)
				if err != nil {
					t.Fatalf("Element's QR code: %v", err)
				}
				if q.Mode != sas.QRModeCrossSigning || q.FlowID != flow || q.FirstKey != w.elemMaster || q.SecondKey != w.goMaster {
					t.Fatalf("Element's QR code: %v", q)
				}
				w.send(v.ScanQRCode(gen.Payload))
				w.settle()
				w.node.call(&info, "qr_info", map[string]any{"user": w.goUser, "flow_id": flow})
				if !info.Scanned {
					t.Fatalf("Element did not see the scan: %+v; events %q", info, w.log)
				}
				var conf struct {
					Request *outgoingRequest `json:"request"`
				}
				w.node.call(&conf, "qr_confirm", map[string]any{"user": w.goUser, "flow_id": flow})
				if conf.Request != nil {
					w.answer(*conf.Request)
				}
				w.settle()
			} else {
				payload, err := v.QRCode()
				if err != nil {
					t.Fatal(err)
				}
				var scan struct {
					Request *outgoingRequest `json:"request"`
				}
				w.node.call(&scan, "qr_scan", map[string]any{"user": w.goUser, "flow_id": flow, "payload": payload})
				if scan.Request == nil {
					t.Fatal("Element sent no reciprocate")
				}
				w.answer(*scan.Request)
				w.settle()
				if v.State() != sas.StateReciprocated {
					t.Fatalf("engine %s %+v; events %q", v.State(), v.Cancellation(), w.log)
				}
				w.send(v.Confirm()) // the user saw Element's success screen
				w.settle()
			}
			w.node.call(&info, "qr_info", map[string]any{"user": w.goUser, "flow_id": flow})
			if v.State() != sas.StateDone || !info.Done {
				t.Fatalf("not done: engine %s %+v, Element %+v; events %q", v.State(), v.Cancellation(), info, w.log)
			}
			r, _ := v.Result()
			if r.MasterKey == nil || *r.MasterKey != w.elemMaster || r.DeviceKey != nil {
				t.Fatalf("engine result %+v", r)
			}
			var id struct {
				Verified bool `json:"verified"`
			}
			w.node.call(&id, "identity_info", map[string]any{"user": w.goUser})
			if !id.Verified {
				t.Fatal("Element does not consider the souverain identity verified")
			}
			t.Logf("events: %s", strings.Join(w.log, ", "))
		})
	}
}

// TestElementSASCancel: a mismatch reported on the souverain side reaches
// Element as m.mismatched_sas, and Element's own cancel ends the engine's
// verification with its code.
func TestElementSASCancel(t *testing.T) {
	node := startElement(t)
	for i, souverainCancels := range []bool{true, false} {
		t.Run(fmt.Sprintf("souverain-cancels=%v", souverainCancels), func(t *testing.T) {
			parent := node.t
			node.t = t
			defer func() { node.t = parent }()
			w := newElementWorld(t, node, fmt.Sprintf("@cancelelement%d:localhost", i), "ELEMENTDEV",
				fmt.Sprintf("@cancelgo%d:localhost", i), "GODEV", false)
			v, out, err := w.machine.RequestToDevice(w.elemUser, w.elemDev)
			w.send(out, err)
			w.settle()
			flow := v.FlowID()
			var res struct {
				Request *outgoingRequest `json:"request"`
			}
			w.node.call(&res, "accept_request", map[string]any{"user": w.goUser, "flow_id": flow})
			w.answer(*res.Request)
			w.settle()
			w.send(v.StartSAS())
			w.settle()
			w.node.call(&res, "sas_accept", map[string]any{"user": w.goUser, "flow_id": flow})
			if res.Request != nil {
				w.answer(*res.Request)
			}
			w.settle()
			if _, _, ok := v.ShortAuthString(); !ok {
				t.Fatalf("no SAS: %s; events %q", v.State(), w.log)
			}
			if souverainCancels {
				w.send(v.Mismatch())
				w.settle()
				info := w.sasInfo(flow)
				if !info.Cancelled || info.CancelInfo == nil || info.CancelInfo.Code != string(sas.CancelMismatchedSAS) || info.CancelInfo.ByUs {
					t.Fatalf("Element: %+v", info)
				}
			} else {
				w.node.call(&res, "sas_cancel", map[string]any{"user": w.goUser, "flow_id": flow, "code": "m.mismatched_sas"})
				w.answer(*res.Request)
				w.settle()
				c := v.Cancellation()
				if c == nil || c.Code != sas.CancelMismatchedSAS || c.ByUs {
					t.Fatalf("engine: %s %+v", v.State(), c)
				}
			}
			t.Logf("events: %s", strings.Join(w.log, ", "))
		})
	}
}
