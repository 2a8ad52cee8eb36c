package interop_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// This file proves that souverain's olm and megolm packages interoperate
// with Element's crypto stack (matrix-rust-sdk's OlmMachine with vodozemac,
// as @matrix-org/matrix-sdk-crypto-wasm) for what Matrix uses them for:
// Olm-encrypted m.room_key and m.forwarded_room_key to-device events, and
// Megolm-encrypted room events, both ways. The node harness is
// element/roomkeys.mjs; the test plays the homeserver, answering the
// OlmMachine's keys/upload, keys/query, keys/claim and sendToDevice
// requests itself and relaying to-device events in through its sync.

const (
	rkOlmAlgorithm    = "m.olm.v1.curve25519-aes-sha2"
	rkMegolmAlgorithm = "m.megolm.v1.aes-sha2"

	// Processed to-device event types of matrix-sdk-crypto-wasm.
	rkProcessedDecrypted       = 0
	rkProcessedUnableToDecrypt = 1

	// DecryptionErrorCode values of matrix-sdk-crypto-wasm.
	rkMissingRoomKey      = 0
	rkUnknownMessageIndex = 1
)

func startRoomKeysElement(t *testing.T) *elementNode { return startNodeHarness(t, "roomkeys.mjs") }

// rkRequest is an outgoing request of the OlmMachine.
type rkRequest struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Body      json.RawMessage `json:"body"`
	EventType string          `json:"event_type"`
}

// rkToDevice is a to-device event Element sent to the souverain device.
type rkToDevice struct {
	Type    string
	Content json.RawMessage
}

// rkProcessed is a to-device event as Element's sync processed it.
type rkProcessed struct {
	Type                int             `json:"type"`
	Raw                 json.RawMessage `json:"raw"`
	SenderCurve25519Key string          `json:"sender_curve25519_key"`
	SenderDevice        string          `json:"sender_device"`
	UTDReason           *int            `json:"utd_reason"`
}

// rkDecrypted is Element's answer to decrypting a room event.
type rkDecrypted struct {
	Decrypted   bool   `json:"decrypted"`
	Code        int    `json:"code"`
	Description string `json:"description"`
	Event       struct {
		Type    string          `json:"type"`
		RoomID  string          `json:"room_id"`
		Content json.RawMessage `json:"content"`
	} `json:"event"`
	Sender                  string `json:"sender"`
	SenderDevice            string `json:"sender_device"`
	SenderCurve25519Key     string `json:"sender_curve25519_key"`
	SenderClaimedEd25519Key string `json:"sender_claimed_ed25519_key"`
}

// rkWorld is the homeserver between one OlmMachine and one souverain
// device, with the souverain device's Olm session with Element.
type rkWorld struct {
	t    *testing.T
	node *elementNode

	elemUser, elemDev string
	elemCurve         olm.Curve25519PublicKey
	elemEd            olm.Ed25519PublicKey
	elemDeviceKeys    json.RawMessage
	elemOTKs          map[string]json.RawMessage // uploaded, not yet claimed
	elemFallback      map[string]json.RawMessage // the uploaded fallback key

	goUser, goDev string
	account       *olm.Account
	goCurve       olm.Curve25519PublicKey
	goEd          olm.Ed25519PublicKey
	goDeviceKeys  json.RawMessage
	goOTKs        map[string]json.RawMessage // published, not yet claimed
	goFallback    map[string]json.RawMessage // our published fallback key, if any
	claimed       []olm.Curve25519PublicKey  // our one-time keys Element claimed

	// session is our one Olm session with Element, whoever opened it.
	session *olm.Session
	inbox   []rkToDevice
	eventN  int

	loggedPayload, loggedContent bool
}

// newRKWorld starts a fresh OlmMachine and a souverain device that
// publishes three one-time keys or, with fallbackOnly, only a fallback key.
func newRKWorld(t *testing.T, node *elementNode, name string, fallbackOnly bool) *rkWorld {
	t.Helper()
	w := &rkWorld{t: t, node: node,
		elemUser: "@element-" + name + ":localhost", elemDev: "ELEMENTDEV",
		goUser: "@souverain-" + name + ":localhost", goDev: "GODEV",
		elemOTKs: map[string]json.RawMessage{}, goOTKs: map[string]json.RawMessage{}}
	var init struct {
		Ed25519    string `json:"ed25519"`
		Curve25519 string `json:"curve25519"`
		Versions   struct {
			Crypto    string `json:"matrix_sdk_crypto"`
			Vodozemac string `json:"vodozemac"`
		} `json:"versions"`
	}
	node.call(&init, "init", map[string]any{"user": w.elemUser, "device": w.elemDev})
	t.Logf("Element side: matrix-sdk-crypto %s, vodozemac %s", init.Versions.Crypto, init.Versions.Vodozemac)
	var err error
	if w.elemEd, err = olm.ParseEd25519PublicKey(init.Ed25519); err != nil {
		t.Fatal(err)
	}
	if w.elemCurve, err = olm.ParseCurve25519PublicKey(init.Curve25519); err != nil {
		t.Fatal(err)
	}
	if w.account, err = olm.NewAccount(); err != nil {
		t.Fatal(err)
	}
	w.goCurve, w.goEd = w.account.IdentityKeys()
	if w.goDeviceKeys, err = w.account.DeviceKeys(w.goUser, w.goDev); err != nil {
		t.Fatal(err)
	}
	if fallbackOnly {
		if err := w.account.GenerateFallbackKey(); err != nil {
			t.Fatal(err)
		}
		if w.goFallback, err = w.account.SignedFallbackKeys(w.goUser, w.goDev); err != nil || len(w.goFallback) != 1 {
			t.Fatalf("SignedFallbackKeys: %v, %v", w.goFallback, err)
		}
	} else {
		if err := w.account.GenerateOneTimeKeys(3); err != nil {
			t.Fatal(err)
		}
		if w.goOTKs, err = w.account.SignedOneTimeKeys(w.goUser, w.goDev); err != nil || len(w.goOTKs) != 3 {
			t.Fatalf("SignedOneTimeKeys: %v, %v", w.goOTKs, err)
		}
	}
	w.account.MarkKeysAsPublished()
	node.call(nil, "track", map[string]any{"users": []string{w.goUser}})
	w.settle()
	if w.elemDeviceKeys == nil {
		t.Fatal("Element uploaded no device keys")
	}
	// A first sync tells Element that the server takes fallback keys
	// (device_unused_fallback_key_types: []): it uploads one.
	node.call(nil, "sync", map[string]any{"one_time_key_counts": map[string]int{"signed_curve25519": len(w.elemOTKs)}})
	w.settle()
	return w
}

// settle answers the OlmMachine's requests until it has none.
func (w *rkWorld) settle() {
	w.t.Helper()
	for round := 0; ; round++ {
		if round > 20 {
			w.t.Fatal("the exchange with Element does not settle")
		}
		var out struct {
			Requests []rkRequest `json:"requests"`
		}
		w.node.call(&out, "outgoing", nil)
		if len(out.Requests) == 0 {
			return
		}
		for _, r := range out.Requests {
			w.answer(r)
		}
	}
}

// answer plays the homeserver for one request of the OlmMachine.
func (w *rkWorld) answer(r rkRequest) {
	w.t.Helper()
	var resp any = map[string]any{}
	switch r.Type {
	case "keys_upload":
		var body struct {
			DeviceKeys   json.RawMessage            `json:"device_keys"`
			OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
			FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			w.t.Fatal(err)
		}
		if body.DeviceKeys != nil {
			w.checkElementDeviceKeys(body.DeviceKeys)
			w.elemDeviceKeys = body.DeviceKeys
		}
		for id, k := range body.OneTimeKeys {
			w.elemOTKs[id] = k
		}
		if len(body.FallbackKeys) > 0 {
			w.elemFallback = body.FallbackKeys
		}
		resp = map[string]any{"one_time_key_counts": map[string]int{"signed_curve25519": len(w.elemOTKs)}}
	case "keys_query":
		var body struct {
			DeviceKeys map[string]json.RawMessage `json:"device_keys"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			w.t.Fatal(err)
		}
		devices := map[string]map[string]json.RawMessage{}
		for u := range body.DeviceKeys {
			switch u {
			case w.goUser:
				devices[u] = map[string]json.RawMessage{w.goDev: w.goDeviceKeys}
			case w.elemUser:
				devices[u] = map[string]json.RawMessage{w.elemDev: w.elemDeviceKeys}
			default:
				devices[u] = map[string]json.RawMessage{}
			}
		}
		resp = map[string]any{"device_keys": devices, "failures": map[string]any{}}
	case "keys_claim":
		var body struct {
			OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			w.t.Fatal(err)
		}
		claimedKeys := map[string]map[string]map[string]json.RawMessage{}
		for u, devs := range body.OneTimeKeys {
			for d, alg := range devs {
				if u != w.goUser || d != w.goDev || alg != "signed_curve25519" {
					w.t.Fatalf("Element claims a %s key of %s %s", alg, u, d)
				}
				// A one-time key if any is left, else the fallback key, as
				// a homeserver does.
				var id string
				var k json.RawMessage
				for id, k = range w.goOTKs {
					delete(w.goOTKs, id)
					break
				}
				if k == nil {
					for id, k = range w.goFallback {
					}
				}
				if k == nil {
					w.t.Fatal("Element claims a key of ours and none is left")
				}
				claimedKeys[u] = map[string]map[string]json.RawMessage{d: {id: k}}
				var key struct {
					Key string `json:"key"`
				}
				json.Unmarshal(k, &key)
				w.claimed = append(w.claimed, rkCurve(w.t, key.Key))
			}
		}
		resp = map[string]any{"one_time_keys": claimedKeys, "failures": map[string]any{}}
	case "to_device":
		var body struct {
			Messages map[string]map[string]json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			w.t.Fatal(err)
		}
		for user, devs := range body.Messages {
			for dev, content := range devs {
				if user != w.goUser || dev != w.goDev {
					w.t.Fatalf("Element sent %s to %s %s, who is not here", r.EventType, user, dev)
				}
				w.inbox = append(w.inbox, rkToDevice{Type: r.EventType, Content: content})
			}
		}
	default:
		w.t.Logf("Element request %s left unanswered beyond an empty response", r.Type)
	}
	w.node.call(nil, "mark_sent", map[string]any{"request_id": r.ID, "type": r.Type, "response": resp})
}

func rkCurve(t *testing.T, s string) olm.Curve25519PublicKey {
	t.Helper()
	k, err := olm.ParseCurve25519PublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// checkElementDeviceKeys checks Element's device keys: its identity keys,
// signed by its Ed25519 key, as we check any device.
func (w *rkWorld) checkElementDeviceKeys(raw json.RawMessage) {
	w.t.Helper()
	var dk struct {
		UserID     string            `json:"user_id"`
		DeviceID   string            `json:"device_id"`
		Algorithms []string          `json:"algorithms"`
		Keys       map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &dk); err != nil {
		w.t.Fatal(err)
	}
	if dk.UserID != w.elemUser || dk.DeviceID != w.elemDev ||
		dk.Keys["curve25519:"+w.elemDev] != w.elemCurve.String() || dk.Keys["ed25519:"+w.elemDev] != w.elemEd.String() {
		w.t.Fatalf("Element's device keys %s", raw)
	}
	if err := signedjson.Verify(raw, w.elemUser, "ed25519:"+w.elemDev, ed25519.PublicKey(w.elemEd.Bytes())); err != nil {
		w.t.Fatalf("Element's device keys: %v", err)
	}
}

// claimElementKey takes one of Element's uploaded one-time keys, or with
// fallback its fallback key, as /keys/claim would, and checks its
// signature.
func (w *rkWorld) claimElementKey(fallback bool) olm.Curve25519PublicKey {
	w.t.Helper()
	keys := w.elemOTKs
	if fallback {
		keys = w.elemFallback
	}
	for id, raw := range keys {
		if !fallback {
			delete(w.elemOTKs, id)
		}
		var k struct {
			Key      string `json:"key"`
			Fallback bool   `json:"fallback"`
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			w.t.Fatal(err)
		}
		if k.Fallback != fallback {
			w.t.Fatalf("Element's key %s: %s", id, raw)
		}
		if err := signedjson.Verify(raw, w.elemUser, "ed25519:"+w.elemDev, ed25519.PublicKey(w.elemEd.Bytes())); err != nil {
			w.t.Fatalf("Element's key %s: %v", id, err)
		}
		return rkCurve(w.t, k.Key)
	}
	w.t.Fatalf("Element uploaded no key to claim (fallback %v)", fallback)
	panic("unreachable")
}

// shareElementKey has Element share its current room key for room with
// the souverain user, after claiming a one-time key if it needs one, and
// delivers the to-device requests.
func (w *rkWorld) shareElementKey(room string, rotation int, wantClaim bool) {
	w.t.Helper()
	var missing struct {
		Request *rkRequest `json:"request"`
	}
	w.node.call(&missing, "missing_sessions", map[string]any{"users": []string{w.goUser}})
	if (missing.Request != nil) != wantClaim {
		w.t.Fatalf("Element's keys/claim request: %+v, want one: %v", missing.Request, wantClaim)
	}
	if missing.Request != nil {
		w.answer(*missing.Request)
	}
	var share struct {
		Requests []rkRequest `json:"requests"`
	}
	w.node.call(&share, "share_room_key", map[string]any{"room": room, "users": []string{w.goUser}, "rotation_messages": rotation})
	for _, r := range share.Requests {
		w.answer(r)
	}
	w.settle()
}

// rkPayload is the plaintext of an Olm-encrypted to-device event.
type rkPayload struct {
	Type          string          `json:"type"`
	Content       json.RawMessage `json:"content"`
	Sender        string          `json:"sender"`
	SenderDevice  string          `json:"sender_device"`
	Recipient     string          `json:"recipient"`
	RecipientKeys struct {
		Ed25519 string `json:"ed25519"`
	} `json:"recipient_keys"`
	Keys struct {
		Ed25519 string `json:"ed25519"`
	} `json:"keys"`
	SenderDeviceKeys json.RawMessage `json:"sender_device_keys"`
}

// rkOlmContent is the content of an Olm m.room.encrypted to-device event.
type rkOlmContent struct {
	Algorithm  string `json:"algorithm"`
	SenderKey  string `json:"sender_key"`
	Ciphertext map[string]struct {
		Type int    `json:"type"`
		Body string `json:"body"`
	} `json:"ciphertext"`
}

// receive takes the one to-device event Element sent, decrypts it with
// our Olm session (opening it from a pre-key message if there is none),
// checks the payload's routing fields against both devices, and returns
// the payload and the Olm message type.
func (w *rkWorld) receive(wantType string) (rkPayload, olm.MessageType) {
	w.t.Helper()
	if len(w.inbox) != 1 {
		w.t.Fatalf("Element sent %d to-device events, want 1: %+v", len(w.inbox), w.inbox)
	}
	ev := w.inbox[0]
	w.inbox = nil
	return w.open(ev, wantType)
}

// open decrypts and checks one to-device event of Element's.
func (w *rkWorld) open(ev rkToDevice, wantType string) (rkPayload, olm.MessageType) {
	w.t.Helper()
	if ev.Type != "m.room.encrypted" {
		w.t.Fatalf("Element sent %s in the clear: %s", ev.Type, ev.Content)
	}
	var c rkOlmContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		w.t.Fatal(err)
	}
	if c.Algorithm != rkOlmAlgorithm || c.SenderKey != w.elemCurve.String() {
		w.t.Fatalf("Olm content %s", ev.Content)
	}
	ct, ok := c.Ciphertext[w.goCurve.String()]
	if !ok || len(c.Ciphertext) != 1 {
		w.t.Fatalf("Olm content not for our identity key %s: %s", w.goCurve, ev.Content)
	}
	body, err := base64.RawStdEncoding.DecodeString(ct.Body)
	if err != nil {
		w.t.Fatalf("Olm body: %v", err)
	}
	m, err := olm.ParseMessage(olm.MessageType(ct.Type), body)
	if err != nil {
		w.t.Fatalf("Element's Olm message (type %d): %v", ct.Type, err)
	}
	var pt []byte
	if pkm, ok := m.(*olm.PreKeyMessage); ok && (w.session == nil || !w.session.Matches(pkm)) {
		if w.session != nil {
			w.t.Fatalf("Element opened a second Olm session %s; ours is %s", pkm.SessionID(), w.session.SessionID())
		}
		if pkm.IdentityKey() != w.elemCurve {
			w.t.Fatalf("pre-key message from identity key %s, Element's is %s", pkm.IdentityKey(), w.elemCurve)
		}
		if len(w.claimed) == 0 || pkm.OneTimeKey() != w.claimed[len(w.claimed)-1] {
			w.t.Fatalf("pre-key message for one-time key %s, Element claimed %v", pkm.OneTimeKey(), w.claimed)
		}
		s, p, err := w.account.NewInboundSession(w.elemCurve, pkm)
		if err != nil {
			w.t.Fatalf("NewInboundSession on Element's pre-key message: %v", err)
		}
		if s.SessionID() != pkm.SessionID() {
			w.t.Fatalf("session ID %s, pre-key message says %s", s.SessionID(), pkm.SessionID())
		}
		// A one-time key is gone: the same message cannot open a second
		// session. A fallback key stays, but the account remembers the
		// pre-key message and refuses it again (SECURITY 18).
		_, _, err = w.account.NewInboundSession(w.elemCurve, pkm)
		if w.goFallback == nil && !errors.Is(err, olm.ErrUnknownOneTimeKey) {
			w.t.Fatalf("a second NewInboundSession with a used one-time key: %v", err)
		}
		if w.goFallback != nil && !errors.Is(err, olm.ErrPreKeyReplay) {
			w.t.Fatalf("a second NewInboundSession with the fallback key: %v, want ErrPreKeyReplay", err)
		}
		w.session, pt = s, p
	} else {
		if w.session == nil {
			w.t.Fatalf("a normal Olm message without a session")
		}
		if pt, err = w.session.Decrypt(m); err != nil {
			w.t.Fatalf("Decrypt Element's Olm message (type %d): %v", ct.Type, err)
		}
	}
	var p rkPayload
	if err := json.Unmarshal(pt, &p); err != nil {
		w.t.Fatalf("Olm payload %q: %v", pt, err)
	}
	if p.Type != wantType || p.Sender != w.elemUser || p.Recipient != w.goUser ||
		p.RecipientKeys.Ed25519 != w.goEd.String() || p.Keys.Ed25519 != w.elemEd.String() {
		w.t.Fatalf("Olm payload %s", pt)
	}
	if p.SenderDevice != "" && p.SenderDevice != w.elemDev {
		w.t.Fatalf("Olm payload from device %q: %s", p.SenderDevice, pt)
	}
	if !w.loggedPayload {
		w.loggedPayload = true
		w.t.Logf("Element's Olm payload has sender_device %v, sender_device_keys %v", p.SenderDevice != "", p.SenderDeviceKeys != nil)
	}
	if p.SenderDeviceKeys != nil {
		// MSC4147: the sender's device keys, signed, must be Element's.
		w.checkElementDeviceKeys(p.SenderDeviceKeys)
	}
	return p, m.Type()
}

// rkRoomKey is the content of m.room_key and m.forwarded_room_key.
type rkRoomKey struct {
	Algorithm                    string   `json:"algorithm"`
	RoomID                       string   `json:"room_id"`
	SessionID                    string   `json:"session_id"`
	SessionKey                   string   `json:"session_key"`
	SenderKey                    string   `json:"sender_key,omitempty"`
	SenderClaimedEd25519Key      string   `json:"sender_claimed_ed25519_key,omitempty"`
	ForwardingCurve25519KeyChain []string `json:"forwarding_curve25519_key_chain,omitempty"`
}

// receiveRoomKey takes Element's m.room_key and returns its session.
func (w *rkWorld) receiveRoomKey(room string) (*megolm.InboundGroupSession, olm.MessageType) {
	w.t.Helper()
	p, typ := w.receive("m.room_key")
	var rk rkRoomKey
	if err := json.Unmarshal(p.Content, &rk); err != nil {
		w.t.Fatal(err)
	}
	if rk.Algorithm != rkMegolmAlgorithm || rk.RoomID != room {
		w.t.Fatalf("m.room_key %s", p.Content)
	}
	k, err := megolm.ParseSessionKey(rk.SessionKey)
	if err != nil {
		w.t.Fatalf("Element's session key: %v", err)
	}
	if k.SessionID() != rk.SessionID || k.Encode() != rk.SessionKey {
		w.t.Fatalf("session key for %s (re-encoded %s), m.room_key says %s (%s)", k.SessionID(), k.Encode(), rk.SessionID, rk.SessionKey)
	}
	s, err := megolm.NewInboundGroupSession(k)
	if err != nil {
		w.t.Fatal(err)
	}
	if s.SessionID() != rk.SessionID || !s.IsVerified() {
		w.t.Fatalf("inbound session %v from %s", s, rk.SessionID)
	}
	return s, typ
}

// rkMegolmContent is the content of a Megolm m.room.encrypted event.
type rkMegolmContent struct {
	Algorithm  string `json:"algorithm"`
	SenderKey  string `json:"sender_key,omitempty"`
	DeviceID   string `json:"device_id,omitempty"`
	SessionID  string `json:"session_id"`
	Ciphertext string `json:"ciphertext"`
}

// rkEvent is a room event as the homeserver delivers it.
type rkEvent struct {
	Type           string          `json:"type"`
	EventID        string          `json:"event_id"`
	Sender         string          `json:"sender"`
	RoomID         string          `json:"room_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	Content        json.RawMessage `json:"content"`
	Unsigned       map[string]any  `json:"unsigned"`
}

func (w *rkWorld) event(sender, room string, content json.RawMessage) rkEvent {
	w.eventN++
	return rkEvent{Type: "m.room.encrypted", EventID: fmt.Sprintf("$rk%d:localhost", w.eventN), Sender: sender, RoomID: room,
		OriginServerTS: time.Now().UnixMilli(), Content: content, Unsigned: map[string]any{}}
}

// elementEncrypts has Element encrypt a text message to room.
func (w *rkWorld) elementEncrypts(room, body string) rkEvent {
	w.t.Helper()
	var res struct {
		Content json.RawMessage `json:"content"`
	}
	w.node.call(&res, "encrypt", map[string]any{"room": room, "type": "m.room.message",
		"content": map[string]any{"msgtype": "m.text", "body": body}})
	return w.event(w.elemUser, room, res.Content)
}

// decryptElementEvent decrypts one of Element's room events with s,
// checks the event's envelope, and returns the body and index.
func (w *rkWorld) decryptElementEvent(s *megolm.InboundGroupSession, ev rkEvent) (string, uint32, error) {
	w.t.Helper()
	var c rkMegolmContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		w.t.Fatal(err)
	}
	if c.Algorithm != rkMegolmAlgorithm || (c.SenderKey != "" && c.SenderKey != w.elemCurve.String()) ||
		(c.DeviceID != "" && c.DeviceID != w.elemDev) {
		w.t.Fatalf("Megolm content %s", ev.Content)
	}
	if !w.loggedContent {
		w.loggedContent = true
		w.t.Logf("Element's Megolm content has sender_key %v, device_id %v", c.SenderKey != "", c.DeviceID != "")
	}
	if c.SessionID != s.SessionID() {
		return "", 0, fmt.Errorf("event of session %s, not %s", c.SessionID, s.SessionID())
	}
	ct, err := base64.RawStdEncoding.DecodeString(c.Ciphertext)
	if err != nil {
		w.t.Fatalf("Megolm ciphertext: %v", err)
	}
	pt, idx, err := s.Decrypt(ct)
	if err != nil {
		return "", 0, err
	}
	var p struct {
		Type    string `json:"type"`
		RoomID  string `json:"room_id"`
		Content struct {
			MsgType string `json:"msgtype"`
			Body    string `json:"body"`
		} `json:"content"`
	}
	if err := json.Unmarshal(pt, &p); err != nil {
		w.t.Fatalf("Megolm plaintext %q: %v", pt, err)
	}
	if p.Type != "m.room.message" || p.RoomID != ev.RoomID || p.Content.MsgType != "m.text" {
		w.t.Fatalf("Megolm plaintext %s", pt)
	}
	return p.Content.Body, idx, nil
}

// mustDecryptAll decrypts Element's events with s, last first, and checks
// bodies and indices (from first on).
func (w *rkWorld) mustDecryptAll(s *megolm.InboundGroupSession, evs []rkEvent, bodies []string, first uint32) {
	w.t.Helper()
	for i := len(evs) - 1; i >= 0; i-- {
		body, idx, err := w.decryptElementEvent(s, evs[i])
		if err != nil {
			w.t.Fatalf("Element's event %d: %v", i, err)
		}
		if body != bodies[i] || idx != first+uint32(i) {
			w.t.Fatalf("Element's event %d: %q at index %d, want %q at %d", i, body, idx, bodies[i], first+uint32(i))
		}
	}
}

// sendOlm Olm-encrypts a to-device event for Element on our session,
// delivers it through Element's sync and returns what Element made of it.
// extra fields go into the Olm payload as they are (they override).
func (w *rkWorld) sendOlm(typ string, content any, extra map[string]any) (rkProcessed, olm.MessageType) {
	w.t.Helper()
	payload := map[string]any{
		"type": typ, "content": content,
		"sender": w.goUser, "sender_device": w.goDev, "keys": map[string]string{"ed25519": w.goEd.String()},
		"recipient": w.elemUser, "recipient_keys": map[string]string{"ed25519": w.elemEd.String()},
	}
	for k, v := range extra {
		payload[k] = v
	}
	pt, err := json.Marshal(payload)
	if err != nil {
		w.t.Fatal(err)
	}
	m, err := w.session.Encrypt(pt)
	if err != nil {
		w.t.Fatal(err)
	}
	ev := map[string]any{"type": "m.room.encrypted", "sender": w.goUser, "content": map[string]any{
		"algorithm":  rkOlmAlgorithm,
		"sender_key": w.goCurve.String(),
		"ciphertext": map[string]any{w.elemCurve.String(): map[string]any{
			"type": int(m.Type()), "body": base64.RawStdEncoding.EncodeToString(m.Bytes())}},
	}}
	return w.syncToElement(ev), m.Type()
}

// syncToElement delivers one to-device event to Element.
func (w *rkWorld) syncToElement(ev map[string]any) rkProcessed {
	w.t.Helper()
	var res struct {
		Processed []rkProcessed `json:"processed"`
	}
	w.node.call(&res, "sync", map[string]any{"events": []any{ev},
		"one_time_key_counts": map[string]int{"signed_curve25519": len(w.elemOTKs)}})
	if len(res.Processed) != 1 {
		w.t.Fatalf("Element processed %d to-device events, want 1", len(res.Processed))
	}
	w.settle()
	return res.Processed[0]
}

// sendRoomKey shares our Megolm session with Element in an Olm-encrypted
// m.room_key and checks that Element decrypted it.
func (w *rkWorld) sendRoomKey(room string, g *megolm.GroupSession, extra map[string]any) olm.MessageType {
	w.t.Helper()
	p, typ := w.sendOlm("m.room_key", rkRoomKey{Algorithm: rkMegolmAlgorithm, RoomID: room, SessionID: g.SessionID(),
		SessionKey: g.SessionKey().Encode()}, extra)
	w.checkDecryptedByElement(p, "m.room_key")
	return typ
}

func (w *rkWorld) checkDecryptedByElement(p rkProcessed, typ string) {
	w.t.Helper()
	var raw struct {
		Type   string `json:"type"`
		Sender string `json:"sender"`
	}
	json.Unmarshal(p.Raw, &raw)
	if p.Type != rkProcessedDecrypted || raw.Type != typ || raw.Sender != w.goUser ||
		p.SenderCurve25519Key != w.goCurve.String() {
		w.t.Fatalf("Element did not take our %s: type %d, sender key %s (raw %s)", typ, p.Type, p.SenderCurve25519Key, p.Raw)
	}
}

// goEncrypts Megolm-encrypts a text message with g as a client does and
// returns the event.
func (w *rkWorld) goEncrypts(room string, g *megolm.GroupSession, body string) rkEvent {
	w.t.Helper()
	pt, err := json.Marshal(map[string]any{"type": "m.room.message", "room_id": room,
		"content": map[string]string{"msgtype": "m.text", "body": body}})
	if err != nil {
		w.t.Fatal(err)
	}
	sid := g.SessionID()
	ct, err := g.Encrypt(pt)
	if err != nil {
		w.t.Fatal(err)
	}
	c, _ := json.Marshal(rkMegolmContent{Algorithm: rkMegolmAlgorithm, SenderKey: w.goCurve.String(), DeviceID: w.goDev,
		SessionID: sid, Ciphertext: base64.RawStdEncoding.EncodeToString(ct)})
	return w.event(w.goUser, room, c)
}

// elementDecrypts has Element decrypt one room event.
func (w *rkWorld) elementDecrypts(room string, ev rkEvent) rkDecrypted {
	w.t.Helper()
	var d rkDecrypted
	w.node.call(&d, "decrypt", map[string]any{"room": room, "event": ev})
	return d
}

// elementMustDecrypt checks that Element decrypts our event to body and
// attributes it to our device.
func (w *rkWorld) elementMustDecrypt(room string, ev rkEvent, body string) {
	w.t.Helper()
	d := w.elementDecrypts(room, ev)
	var c struct {
		MsgType string `json:"msgtype"`
		Body    string `json:"body"`
	}
	json.Unmarshal(d.Event.Content, &c)
	if !d.Decrypted || d.Event.Type != "m.room.message" || d.Event.RoomID != room || c.Body != body || c.MsgType != "m.text" {
		w.t.Fatalf("Element on our event %s: %+v (content %s)", ev.EventID, d, d.Event.Content)
	}
	if d.Sender != w.goUser || d.SenderDevice != w.goDev || d.SenderCurve25519Key != w.goCurve.String() ||
		d.SenderClaimedEd25519Key != w.goEd.String() {
		w.t.Fatalf("Element attributes our event to %+v", d)
	}
}

// rkKeyKinds names the two kinds of keys an Olm session can start from.
var rkKeyKinds = []struct {
	name     string
	fallback bool
}{{"one-time-key", false}, {"fallback-key", true}}

// rkSubtest runs f in a subtest with the node reporting to it.
func rkSubtest(t *testing.T, node *elementNode, name string, f func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		parent := node.t
		node.t = t
		defer func() { node.t = parent }()
		f(t)
	})
}

// TestElementRoomKeysToSouverain: Element's OlmMachine claims a one-time
// key (or the fallback key) of a souverain device and shares its room key;
// we open the Olm session from its pre-key message with
// Account.NewInboundSession, check the m.room_key payload (sender,
// recipient, both Ed25519 keys, MSC4147 sender_device_keys when present)
// and decrypt Element's Megolm room events, out of order, across two
// session rotations. After we reply on the Olm session, Element's next
// room key comes as a normal message on the same session.
func TestElementRoomKeysToSouverain(t *testing.T) {
	node := startRoomKeysElement(t)
	for _, kind := range rkKeyKinds {
		rkSubtest(t, node, kind.name, func(t *testing.T) {
			runRoomKeysToSouverain(t, newRKWorld(t, node, "to-"+kind.name, kind.fallback))
		})
	}
}

func runRoomKeysToSouverain(t *testing.T, w *rkWorld) {
	const room = "!rooma:localhost"
	const rotation = 100

	// First session: Olm pre-key message on a fresh session.
	w.shareElementKey(room, rotation, true)
	s1, typ := w.receiveRoomKey(room)
	if typ != olm.MessageTypePreKey || s1.FirstKnownIndex() != 0 {
		t.Fatalf("first room key: Olm type %d, first index %d", typ, s1.FirstKnownIndex())
	}
	var evs []rkEvent
	var bodies []string
	for i := range rotation {
		bodies = append(bodies, fmt.Sprintf("message %d of Element's first session ✓", i))
		evs = append(evs, w.elementEncrypts(room, bodies[i]))
	}
	w.mustDecryptAll(s1, evs, bodies, 0)

	// Rotation after rotation messages: a new session, shared on the same
	// Olm session, still as a pre-key message since we have not replied.
	w.shareElementKey(room, rotation, false)
	s2, typ := w.receiveRoomKey(room)
	if typ != olm.MessageTypePreKey || s2.SessionID() == s1.SessionID() || s2.FirstKnownIndex() != 0 {
		t.Fatalf("second room key: Olm type %d, session %v after %v", typ, s2, s1)
	}
	evs, bodies = nil, nil
	for i := range 7 {
		bodies = append(bodies, fmt.Sprintf("second session, message %d", i))
		evs = append(evs, w.elementEncrypts(room, bodies[i]))
	}
	w.mustDecryptAll(s2, evs, bodies, 0)
	if _, _, err := w.decryptElementEvent(s1, evs[0]); err == nil {
		t.Fatal("the first session decrypts an event of the second")
	}

	// We answer on the Olm session: Element decrypts it, and from then on
	// its messages on the session are normal messages.
	p, typ := w.sendOlm("org.souverain.ping", map[string]any{"n": 1}, nil)
	if typ != olm.MessageTypeNormal {
		t.Fatalf("our reply is Olm type %d", typ)
	}
	w.checkDecryptedByElement(p, "org.souverain.ping")
	var invalidated struct {
		Invalidated bool `json:"invalidated"`
	}
	w.node.call(&invalidated, "invalidate", map[string]any{"room": room})
	if !invalidated.Invalidated {
		t.Fatal("Element had no session to invalidate")
	}
	w.shareElementKey(room, rotation, false)
	s3, typ := w.receiveRoomKey(room)
	if typ != olm.MessageTypeNormal || s3.SessionID() == s2.SessionID() {
		t.Fatalf("third room key: Olm type %d, session %v after %v", typ, s3, s2)
	}
	evs, bodies = nil, nil
	for i := range 5 {
		bodies = append(bodies, fmt.Sprintf("third session, message %d", i))
		evs = append(evs, w.elementEncrypts(room, bodies[i]))
	}
	w.mustDecryptAll(s3, evs, bodies, 0)
}

// TestElementRoomKeysFromSouverain: a souverain device claims one of
// Element's signed one-time keys (or its fallback key), opens an Olm
// session with Account.NewOutboundSession and shares a megolm.GroupSession
// in an m.room_key; Element's decryptRoomEvent decrypts our
// m.room.encrypted events, last first, and attributes them to our device.
// Element then sends on the session (an encrypted custom event and its own
// room key) as normal Olm messages that we decrypt; a six-turn
// conversation ratchets both ways, with Element's messages of a turn
// decrypted out of order. We share a second session, keyed at index 3 and
// carrying MSC4147 sender_device_keys, as a normal message: Element
// decrypts its events from index 3 on and not before. A room key whose
// payload names the wrong recipient key is refused by Element, and the
// Olm session survives it.
func TestElementRoomKeysFromSouverain(t *testing.T) {
	node := startRoomKeysElement(t)
	for _, kind := range rkKeyKinds {
		rkSubtest(t, node, kind.name, func(t *testing.T) {
			runRoomKeysFromSouverain(t, newRKWorld(t, node, "from-"+kind.name, false), kind.fallback)
		})
	}
}

func runRoomKeysFromSouverain(t *testing.T, w *rkWorld, fallback bool) {
	const room = "!roomb:localhost"

	otk := w.claimElementKey(fallback)
	var err error
	if w.session, err = w.account.NewOutboundSession(w.elemCurve, otk); err != nil {
		t.Fatal(err)
	}
	g1, err := megolm.NewGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	if typ := w.sendRoomKey(room, g1, nil); typ != olm.MessageTypePreKey {
		t.Fatalf("our first room key is Olm type %d", typ)
	}
	var ours []rkEvent
	for i := range 25 {
		ours = append(ours, w.goEncrypts(room, g1, fmt.Sprintf("souverain message %d — ünïcødé", i)))
	}
	for i := len(ours) - 1; i >= 0; i-- {
		w.elementMustDecrypt(room, ours[i], fmt.Sprintf("souverain message %d — ünïcødé", i))
	}

	// Element answers on the session we opened: a custom event, then its
	// own room key, both normal Olm messages.
	var enc struct {
		Content json.RawMessage `json:"content"`
	}
	w.node.call(&enc, "encrypt_to_device", map[string]any{"user": w.goUser, "device": w.goDev,
		"type": "org.souverain.pong", "content": map[string]any{"n": 2}})
	w.inbox = append(w.inbox, rkToDevice{Type: "m.room.encrypted", Content: enc.Content})
	p, typ := w.receive("org.souverain.pong")
	if typ != olm.MessageTypeNormal || string(p.Content) != `{"n":2}` {
		t.Fatalf("Element's custom event: Olm type %d, content %s", typ, p.Content)
	}
	w.shareElementKey(room, 0, false)
	se, typ := w.receiveRoomKey(room)
	if typ != olm.MessageTypeNormal {
		t.Fatalf("Element's room key is Olm type %d", typ)
	}
	var evs []rkEvent
	var bodies []string
	for i := range 10 {
		bodies = append(bodies, fmt.Sprintf("Element's reply %d", i))
		evs = append(evs, w.elementEncrypts(room, bodies[i]))
	}
	w.mustDecryptAll(se, evs, bodies, 0)

	// A conversation on the Olm session: each side sends one to three
	// messages a turn, so both ratchet forward many times; we decrypt
	// Element's messages of each turn last first (skipped message keys).
	for turn := range 6 {
		k := turn%3 + 1
		var evs []rkToDevice
		for i := range k {
			var enc struct {
				Content json.RawMessage `json:"content"`
			}
			w.node.call(&enc, "encrypt_to_device", map[string]any{"user": w.goUser, "device": w.goDev,
				"type": "org.souverain.turn", "content": map[string]any{"turn": turn, "i": i}})
			evs = append(evs, rkToDevice{Type: "m.room.encrypted", Content: enc.Content})
		}
		for i := k - 1; i >= 0; i-- {
			p, typ := w.open(evs[i], "org.souverain.turn")
			if want := fmt.Sprintf(`{"i":%d,"turn":%d}`, i, turn); typ != olm.MessageTypeNormal || string(p.Content) != want {
				t.Fatalf("Element's turn %d message %d: Olm type %d, content %s", turn, i, typ, p.Content)
			}
		}
		for i := range k {
			p, typ := w.sendOlm("org.souverain.turn", map[string]any{"turn": turn, "i": i}, nil)
			if typ != olm.MessageTypeNormal {
				t.Fatalf("our turn %d message %d is Olm type %d", turn, i, typ)
			}
			w.checkDecryptedByElement(p, "org.souverain.turn")
		}
	}

	// Our second session, shared from index 3 on a now normal Olm session,
	// with our signed device keys in the payload (MSC4147).
	g2, err := megolm.NewGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	var early []rkEvent
	for i := range 3 {
		early = append(early, w.goEncrypts(room, g2, fmt.Sprintf("before the share %d", i)))
	}
	if typ := w.sendRoomKey(room, g2, map[string]any{"sender_device_keys": w.goDeviceKeys}); typ != olm.MessageTypeNormal {
		t.Fatalf("our second room key is Olm type %d", typ)
	}
	for i := range 10 {
		body := fmt.Sprintf("second session %d", i)
		w.elementMustDecrypt(room, w.goEncrypts(room, g2, body), body)
	}
	for i, ev := range early {
		if d := w.elementDecrypts(room, ev); d.Decrypted || d.Code != rkUnknownMessageIndex {
			t.Fatalf("Element on index %d, before the shared index 3: %+v", i, d)
		}
	}
	// The first session still decrypts.
	w.elementMustDecrypt(room, ours[0], "souverain message 0 — ünïcødé")

	// A room key that names another recipient Ed25519 key is refused,
	// and so are the events of its session: Element checks what we write.
	g3, err := megolm.NewGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	other, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	p3, _ := w.sendOlm("m.room_key", rkRoomKey{Algorithm: rkMegolmAlgorithm, RoomID: room, SessionID: g3.SessionID(),
		SessionKey: g3.SessionKey().Encode()}, map[string]any{"recipient_keys": map[string]string{"ed25519": other.Ed25519Key().String()}})
	if p3.Type != rkProcessedUnableToDecrypt {
		t.Fatalf("Element took a room key addressed to another Ed25519 key: %+v", p3)
	}
	if d := w.elementDecrypts(room, w.goEncrypts(room, g3, "misaddressed")); d.Decrypted || d.Code != rkMissingRoomKey {
		t.Fatalf("Element on an event of a misaddressed room key: %+v", d)
	}
	// The session survives the refusal: a good room key still goes through.
	g4, err := megolm.NewGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	w.sendRoomKey(room, g4, nil)
	w.elementMustDecrypt(room, w.goEncrypts(room, g4, "after the refusal"), "after the refusal")
}

// rkExported is one room key of Element's key export.
type rkExported struct {
	Algorithm                    string            `json:"algorithm"`
	RoomID                       string            `json:"room_id"`
	SenderKey                    string            `json:"sender_key"`
	SessionID                    string            `json:"session_id"`
	SessionKey                   string            `json:"session_key"`
	SenderClaimedKeys            map[string]string `json:"sender_claimed_keys"`
	ForwardingCurve25519KeyChain []string          `json:"forwarding_curve25519_key_chain"`
}

// TestElementRoomKeysExported: room keys that leave Element in the unsigned
// export format decrypt with megolm.ImportInboundGroupSession. Element's
// key export (exportRoomKeys) of its own session and of a session we shared
// from index 2 are byte for byte our InboundGroupSession.ExportAt of the
// same sessions, and the imported sessions decrypt the same events (the
// session we shared from index 2 no earlier ones). An m.forwarded_room_key
// that Element sends in answer to our m.room_key_request decrypts them
// too.
func TestElementRoomKeysExported(t *testing.T) {
	node := startRoomKeysElement(t)
	w := newRKWorld(t, node, "export", false)
	const room = "!roomc:localhost"

	// Element's session, shared with us by m.room_key.
	w.shareElementKey(room, 0, true)
	fromKey, _ := w.receiveRoomKey(room)
	var evs []rkEvent
	var bodies []string
	for i := range 12 {
		bodies = append(bodies, fmt.Sprintf("exported message %d", i))
		evs = append(evs, w.elementEncrypts(room, bodies[i]))
	}
	w.mustDecryptAll(fromKey, evs, bodies, 0)

	// Our session, shared with Element from index 2 on the Olm session
	// Element opened.
	g, err := megolm.NewGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	var ours []rkEvent
	for i := range 6 {
		if i == 2 {
			w.sendRoomKey(room, g, nil)
		}
		ours = append(ours, w.goEncrypts(room, g, fmt.Sprintf("ours %d", i)))
	}
	for i := 2; i < len(ours); i++ {
		w.elementMustDecrypt(room, ours[i], fmt.Sprintf("ours %d", i))
	}

	var exp struct {
		Keys []rkExported `json:"keys"`
	}
	node.call(&exp, "export", map[string]any{"room": room})
	if len(exp.Keys) != 2 {
		t.Fatalf("Element exported %d room keys, want 2", len(exp.Keys))
	}
	for _, k := range exp.Keys {
		if k.Algorithm != rkMegolmAlgorithm || k.RoomID != room {
			t.Fatalf("exported key %+v", k)
		}
		ek, err := megolm.ParseExportedSessionKey(k.SessionKey)
		if err != nil {
			t.Fatalf("Element's exported key: %v", err)
		}
		s, err := megolm.ImportInboundGroupSession(ek)
		if err != nil {
			t.Fatal(err)
		}
		if s.SessionID() != k.SessionID || s.IsVerified() {
			t.Fatalf("imported %v (verified %v) from %s", s, s.IsVerified(), k.SessionID)
		}
		switch k.SessionID {
		case fromKey.SessionID():
			if k.SenderKey != w.elemCurve.String() || k.SenderClaimedKeys["ed25519"] != w.elemEd.String() || ek.Index() != 0 {
				t.Fatalf("export of Element's session %+v at %d", k, ek.Index())
			}
			ours0, err := fromKey.ExportAt(0)
			if err != nil {
				t.Fatal(err)
			}
			if ours0.Encode() != k.SessionKey {
				t.Fatalf("Element exports its session as\n%s\nwe export it at index 0 as\n%s", k.SessionKey, ours0.Encode())
			}
			if c := s.Compare(fromKey); c != megolm.Equal {
				t.Fatalf("imported session is %v than the m.room_key one", c)
			}
			w.mustDecryptAll(s, evs, bodies, 0)
			if !s.IsVerified() {
				t.Fatal("the imported session is not verified after decrypting")
			}
		case g.SessionID():
			if k.SenderKey != w.goCurve.String() || k.SenderClaimedKeys["ed25519"] != w.goEd.String() || ek.Index() != 2 {
				t.Fatalf("export of our session %+v at %d", k, ek.Index())
			}
			ref, err := megolm.NewInboundGroupSession(g.SessionKey())
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := ref.Decrypt(mustMegolmCiphertext(t, ours[2])); err == nil {
				t.Fatal("a session keyed at index 6 decrypts index 2")
			}
			for i := 2; i < len(ours); i++ {
				pt, idx, err := s.Decrypt(mustMegolmCiphertext(t, ours[i]))
				if err != nil || idx != uint32(i) {
					t.Fatalf("our event %d with Element's export: index %d, %v", i, idx, err)
				}
				var p struct {
					Content struct{ Body string } `json:"content"`
				}
				json.Unmarshal(pt, &p)
				if p.Content.Body != fmt.Sprintf("ours %d", i) {
					t.Fatalf("our event %d with Element's export: %s", i, pt)
				}
			}
			for i := range 2 {
				if _, _, err := s.Decrypt(mustMegolmCiphertext(t, ours[i])); !errors.Is(err, megolm.ErrUnknownMessageIndex) {
					t.Fatalf("our event %d, before the export's index 2: %v", i, err)
				}
			}
			at2, err := s.ExportAt(2)
			if err != nil {
				t.Fatal(err)
			}
			if at2.Encode() != k.SessionKey {
				t.Fatalf("Element exports our session as\n%s\nwe re-export it as\n%s", k.SessionKey, at2.Encode())
			}
		default:
			t.Fatalf("Element exported an unknown session %s", k.SessionID)
		}
	}

	// m.forwarded_room_key: we ask Element for its session's key, as a
	// device that missed it would; Element forwards it to a device it
	// shared the session with, Olm-encrypted.
	p := w.syncToElement(map[string]any{"type": "m.room_key_request", "sender": w.goUser, "content": map[string]any{
		"action": "request", "request_id": "rkreq1", "requesting_device_id": w.goDev,
		"body": map[string]any{"algorithm": rkMegolmAlgorithm, "room_id": room, "sender_key": w.elemCurve.String(),
			"session_id": fromKey.SessionID()},
	}})
	if p.Type == rkProcessedUnableToDecrypt {
		t.Fatalf("Element on our key request: %+v", p)
	}
	payload, _ := w.receive("m.forwarded_room_key")
	var fk rkRoomKey
	if err := json.Unmarshal(payload.Content, &fk); err != nil {
		t.Fatal(err)
	}
	if fk.Algorithm != rkMegolmAlgorithm || fk.RoomID != room || fk.SessionID != fromKey.SessionID() ||
		fk.SenderKey != w.elemCurve.String() || fk.SenderClaimedEd25519Key != w.elemEd.String() {
		t.Fatalf("m.forwarded_room_key %s", payload.Content)
	}
	ek, err := megolm.ParseExportedSessionKey(fk.SessionKey)
	if err != nil {
		t.Fatalf("forwarded key: %v", err)
	}
	fwd, err := megolm.ImportInboundGroupSession(ek)
	if err != nil {
		t.Fatal(err)
	}
	if fwd.SessionID() != fk.SessionID || fwd.FirstKnownIndex() != 0 {
		t.Fatalf("forwarded session %v", fwd)
	}
	w.mustDecryptAll(fwd, evs, bodies, 0)
}

func mustMegolmCiphertext(t *testing.T, ev rkEvent) []byte {
	t.Helper()
	var c rkMegolmContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		t.Fatal(err)
	}
	ct, err := base64.RawStdEncoding.DecodeString(c.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}
