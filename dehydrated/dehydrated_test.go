package dehydrated_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

func TestUploadRequest(t *testing.T) {
	key := dehydrated.GenerateKey()
	d, req, _ := newUploaded(t, key, dehydrated.AlgorithmV2)
	if req.DeviceID != d.DeviceID() || req.DeviceID != d.Account().Curve25519Key().String() {
		t.Fatalf("device ID %q", req.DeviceID)
	}
	if req.DeviceData.Algorithm != dehydrated.AlgorithmV2 || req.DeviceData.Nonce == "" {
		t.Fatalf("device data %+v", req.DeviceData)
	}
	if len(req.OneTimeKeys) != olm.MaxNumberOfOneTimeKeys || len(req.FallbackKeys) != 1 {
		t.Fatalf("%d one-time keys, %d fallback keys", len(req.OneTimeKeys), len(req.FallbackKeys))
	}
	var dk map[string]any
	if err := json.Unmarshal(req.DeviceKeys, &dk); err != nil {
		t.Fatal(err)
	}
	if dk["dehydrated"] != true || dk["user_id"] != owner || dk["device_id"] != req.DeviceID {
		t.Fatalf("device keys %s", req.DeviceKeys)
	}
	ed := d.Account().Ed25519Key()
	if err := signedjson.Verify(req.DeviceKeys, owner, signedjson.KeyID(req.DeviceID), ed25519.PublicKey(ed[:])); err != nil {
		t.Fatalf("device keys self-signature: %v", err)
	}
	// A self-signing key's signature can be added.
	ssk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	sskID := signedjson.KeyID(b64.Encode(ssk.Public().(ed25519.PublicKey)))
	if err := req.SignDeviceKeys(owner, sskID, ssk); err != nil {
		t.Fatal(err)
	}
	if err := signedjson.Verify(req.DeviceKeys, owner, sskID, ssk.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("cross-signature: %v", err)
	}
	if err := signedjson.Verify(req.DeviceKeys, owner, signedjson.KeyID(req.DeviceID), ed25519.PublicKey(ed[:])); err != nil {
		t.Fatalf("self-signature lost: %v", err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	json.Unmarshal(body, &top)
	for _, f := range []string{"device_id", "initial_device_display_name", "device_data", "device_keys", "one_time_keys", "fallback_keys"} {
		if _, ok := top[f]; !ok {
			t.Errorf("upload body has no %s", f)
		}
	}
}

// TestRehydrateRoomKeys sends room keys to a dehydrated device in both
// formats, from two senders, and checks that rehydrating hands them over
// with their sender keys, ready to decrypt.
func TestRehydrateRoomKeys(t *testing.T) {
	for _, alg := range []string{dehydrated.AlgorithmV2, dehydrated.AlgorithmV1} {
		t.Run(alg, func(t *testing.T) {
			key := dehydrated.GenerateKey()
			_, req, data := newUploaded(t, key, alg)
			bob, carol := newSender(t, senderUser), newSender(t, "@carol:example.org")
			// Each claims its own one-time key, as /keys/claim hands them out.
			var ids []string
			for id := range req.OneTimeKeys {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			bob.otk, carol.otk = ids[0], ids[1]
			var events []json.RawMessage
			var groups []*megolm.GroupSession
			for i := range 3 {
				s := bob
				if i == 1 {
					s = carol
				}
				ev, g := s.roomKey(req, fmt.Sprintf("!room%d:example.org", i))
				events = append(events, ev)
				groups = append(groups, g)
			}
			r, err := dehydrated.Rehydrate(key, owner, req.DeviceID, data)
			if err != nil {
				t.Fatal(err)
			}
			got := r.ReceiveEvents(events)
			if len(got.Failed) != 0 || len(got.RoomKeys) != 3 || got.Ignored != 0 {
				t.Fatalf("received %+v", got)
			}
			for i, rk := range got.RoomKeys {
				s := bob
				if i == 1 {
					s = carol
				}
				if rk.Sender != s.user || rk.SenderKey != s.account.Curve25519Key() || rk.SenderEd25519 != s.account.Ed25519Key() {
					t.Errorf("room key %d: sender %s %s %s", i, rk.Sender, rk.SenderKey, rk.SenderEd25519)
				}
				if rk.Index != i || rk.SharedHistory {
					t.Errorf("room key %d: index %d, shared history %v", i, rk.Index, rk.SharedHistory)
				}
				if rk.RoomID != fmt.Sprintf("!room%d:example.org", i) || rk.SessionID != groups[i].SessionID() || rk.Algorithm != olm.AlgorithmMegolm {
					t.Errorf("room key %d: %s %s", i, rk.RoomID, rk.SessionID)
				}
				msg, _ := groups[i].Encrypt([]byte("history"))
				plain, _, err := rk.Session.Decrypt(msg)
				if err != nil || string(plain) != "history" {
					t.Errorf("room key %d decrypts %q, %v", i, plain, err)
				}
			}
		})
	}
}

func TestReceiveEventsFailures(t *testing.T) {
	key := dehydrated.GenerateKey()
	d, req, data := newUploaded(t, key, dehydrated.AlgorithmV2)
	bob := newSender(t, senderUser)
	good, _ := bob.roomKey(req, "!r:example.org")
	g, _ := megolm.NewGroupSession()
	other, _ := megolm.NewGroupSession()
	badID := roomKeyContent(g, "!r:example.org")
	badID["session_id"] = other.SessionID()
	noRoom := roomKeyContent(g, "")

	// A normal message from a sender with no session.
	eve := newSender(t, "@eve:example.org")
	eveSess, _ := eve.account.NewOutboundSession(d.Account().Curve25519Key(), d.Account().Curve25519Key())
	eveSess.Encrypt([]byte("first"))
	normal := func() json.RawMessage {
		// The message inside a pre-key message is a normal message.
		m, _ := eveSess.Encrypt([]byte("x"))
		inner := m.(*olm.PreKeyMessage).Message()
		typ := 1
		ev, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": eve.user, "content": map[string]any{
			"algorithm": olm.AlgorithmOlm, "sender_key": eve.account.Curve25519Key().String(),
			"ciphertext": map[string]any{d.Account().Curve25519Key().String(): map[string]any{"type": typ, "body": b64.Encode(inner.Bytes())}},
		}})
		return ev
	}

	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name  string
		event json.RawMessage
		want  error
	}{
		{"not JSON", raw(`{`), dehydrated.ErrBadEvent},
		{"no sender", raw(`{"type":"m.room.encrypted","content":{}}`), dehydrated.ErrBadEvent},
		{"megolm algorithm", raw(`{"type":"m.room.encrypted","sender":"@a:b","content":{"algorithm":"m.megolm.v1.aes-sha2"}}`), dehydrated.ErrBadEvent},
		{"bad sender key", raw(`{"type":"m.room.encrypted","sender":"@a:b","content":{"algorithm":"m.olm.v1.curve25519-aes-sha2","sender_key":"xx","ciphertext":{}}}`), dehydrated.ErrBadEvent},
		{"not for this device", raw(`{"type":"m.room.encrypted","sender":"@a:b","content":{"algorithm":"m.olm.v1.curve25519-aes-sha2","sender_key":"` + bob.account.Curve25519Key().String() + `","ciphertext":{"AAAA":{"type":0,"body":"AAAA"}}}}`), dehydrated.ErrNotForDevice},
		{"bad message", raw(`{"type":"m.room.encrypted","sender":"@a:b","content":{"algorithm":"m.olm.v1.curve25519-aes-sha2","sender_key":"` + bob.account.Curve25519Key().String() + `","ciphertext":{"` + req.DeviceID + `":{"type":0,"body":"AAAA"}}}}`), olm.ErrBadMessageVersion},
		{"no session", normal(), dehydrated.ErrNoSession},
		{"session_id mismatch", bob.eventWith(req, "m.room_key", badID, nil), dehydrated.ErrSessionIDMismatch},
		{"no room", bob.eventWith(req, "m.room_key", noRoom, nil), dehydrated.ErrBadEvent},
		{"wrong recipient", bob.eventWith(req, "m.room_key", roomKeyContent(g, "!r:x"), func(p map[string]any) { p["recipient"] = "@mallory:x" }), olm.ErrPayloadMismatch},
		{"wrong recipient key", bob.eventWith(req, "m.room_key", roomKeyContent(g, "!r:x"), func(p map[string]any) {
			p["recipient_keys"] = map[string]any{"ed25519": bob.account.Ed25519Key().String()}
		}), olm.ErrPayloadMismatch},
		{"spoofed sender", bob.eventWith(req, "m.room_key", roomKeyContent(g, "!r:x"), func(p map[string]any) { p["sender"] = "@carol:x" }), olm.ErrPayloadMismatch},
		{"oversized", raw(`{"type":"m.room.encrypted","pad":"` + string(bytes.Repeat([]byte("a"), dehydrated.MaxEventSize)) + `"}`), dehydrated.ErrBadEvent},
	}
	r, err := dehydrated.Rehydrate(key, owner, req.DeviceID, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.ReceiveEvents([]json.RawMessage{tc.event})
			if len(got.Failed) != 1 || !errors.Is(got.Failed[0].Err, tc.want) || len(got.RoomKeys) != 0 {
				t.Fatalf("got %+v, want one failure wrapping %v", got, tc.want)
			}
		})
	}
	// After all that, the good event still gives its key, and an
	// unencrypted event is ignored.
	got := r.ReceiveEvents([]json.RawMessage{raw(`{"type":"m.room_key.withheld","sender":"@a:b","content":{}}`), good})
	if len(got.RoomKeys) != 1 || got.Ignored != 1 || len(got.Failed) != 0 {
		t.Fatalf("got %+v", got)
	}
}

func TestRehydrateRefuses(t *testing.T) {
	key := dehydrated.GenerateKey()
	_, req, data := newUploaded(t, key, dehydrated.AlgorithmV2)
	_, reqV1, dataV1 := newUploaded(t, key, dehydrated.AlgorithmV1)
	wrong := dehydrated.GenerateKey()
	tests := []struct {
		name     string
		key      *dehydrated.Key
		deviceID string
		data     string
		want     error
	}{
		{"wrong key", wrong, req.DeviceID, string(data), dehydrated.ErrWrongKey},
		{"wrong key v1", wrong, reqV1.DeviceID, string(dataV1), dehydrated.ErrWrongKey},
		{"v1 under another device ID", key, req.DeviceID, string(dataV1), dehydrated.ErrWrongKey},
		{"unknown algorithm", key, req.DeviceID, `{"algorithm":"org.matrix.msc3814.v3","device_pickle":"AAAA"}`, dehydrated.ErrUnknownAlgorithm},
		{"no nonce", key, req.DeviceID, `{"algorithm":"org.matrix.msc3814.v2","device_pickle":"AAAA"}`, dehydrated.ErrBadDeviceData},
		{"no pickle", key, req.DeviceID, `{"algorithm":"org.matrix.msc3814.v1.olm"}`, dehydrated.ErrBadDeviceData},
		{"not JSON", key, req.DeviceID, `[`, dehydrated.ErrBadDeviceData},
		{"bad nonce", key, req.DeviceID, `{"algorithm":"org.matrix.msc3814.v2","device_pickle":"AAAA","nonce":"AAAA"}`, olm.ErrCorruptedPickle},
		{"empty device ID", key, "", string(data), dehydrated.ErrBadDeviceData},
		{"nil key", nil, req.DeviceID, string(data), dehydrated.ErrKeySize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dehydrated.Rehydrate(tc.key, owner, tc.deviceID, []byte(tc.data)); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeyFromSecret(t *testing.T) {
	k := dehydrated.GenerateKey()
	for _, s := range []string{k.Secret(), k.Secret() + "="} {
		got, err := dehydrated.KeyFromSecret(s)
		if err != nil || !bytes.Equal(got.Bytes(), k.Bytes()) {
			t.Fatalf("KeyFromSecret(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "AAAA", b64.Encode(make([]byte, 31)), b64.Encode(make([]byte, 33)), "not base64!"} {
		if _, err := dehydrated.KeyFromSecret(s); !errors.Is(err, dehydrated.ErrKeySize) {
			t.Errorf("KeyFromSecret(%q): %v, want ErrKeySize", s, err)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v %s %x", *k, *k, *k, *k, *k); bytes.Contains([]byte(s), []byte(k.Secret())) || !bytes.Contains([]byte(s), []byte("dehydrated.Key{…}")) {
		t.Fatalf("formatting prints %q", s)
	}
}

func TestNotDehydratable(t *testing.T) {
	a, _ := olm.NewAccount()
	p, _ := a.PickleLibolm([]byte("k"))
	fromLibolm, _ := olm.UnpickleLibolmAccount(p, []byte("k"))
	if _, _, err := fromLibolm.Dehydrate(&[32]byte{}); !errors.Is(err, dehydrated.ErrNotDehydratable) {
		t.Fatalf("got %v", err)
	}
}

// TestFormatHidesSecrets prints the secret-bearing values with every verb
// and looks for their private keys in the output.
func TestFormatHidesSecrets(t *testing.T) {
	key := dehydrated.GenerateKey()
	d, req, data := newUploaded(t, key, dehydrated.AlgorithmV2)
	r, err := dehydrated.Rehydrate(key, owner, req.DeviceID, data)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := newSender(t, senderUser).roomKey(req, "!r:x")
	got := r.ReceiveEvents([]json.RawMessage{ev})
	secrets := []string{key.Secret(), fmt.Sprintf("%x", key.Bytes())}
	for _, v := range []any{d, *d, r, *r, got.RoomKeys[0], *key} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "json", "slog-json", "slog-text"} {
			var out string
			switch verb {
			case "json":
				b, _ := json.Marshal(v)
				out = string(b)
			case "slog-json", "slog-text":
				var buf bytes.Buffer
				h := slog.Handler(slog.NewJSONHandler(&buf, nil))
				if verb == "slog-text" {
					h = slog.NewTextHandler(&buf, nil)
				}
				slog.New(h).Info("m", "v", v)
				out = buf.String()
			default:
				out = fmt.Sprintf(verb, v)
			}
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Fatalf("%s of %T prints a secret: %s", verb, v, out)
				}
			}
		}
	}
	// The accounts inside print through their own Format, which shows only
	// public keys; these values print through theirs.
	if s := fmt.Sprintf("%#v", d); !strings.HasPrefix(s, "dehydrated.Device{"+owner+" "+req.DeviceID) {
		t.Errorf("Device prints %s", s)
	}
	if s := fmt.Sprintf("%+v", r); !strings.HasPrefix(s, "dehydrated.Rehydrated{"+owner+" "+req.DeviceID) {
		t.Errorf("Rehydrated prints %s", s)
	}
}

// TestReplayAndPlainRoomKey: an event delivered twice gives its key once;
// an m.room_key that is not Olm-encrypted is ignored (SECURITY.md 18, 21).
func TestReplayAndPlainRoomKey(t *testing.T) {
	key := dehydrated.GenerateKey()
	_, req, data := newUploaded(t, key, dehydrated.AlgorithmV2)
	ev, g := newSender(t, senderUser).roomKey(req, "!r:x")
	plain, _ := json.Marshal(map[string]any{"type": "m.room_key", "sender": senderUser, "content": roomKeyContent(g, "!r:x")})
	r, _ := dehydrated.Rehydrate(key, owner, req.DeviceID, data)
	got := r.ReceiveEvents([]json.RawMessage{plain, ev, ev})
	if len(got.RoomKeys) != 1 || got.RoomKeys[0].Index != 1 || len(got.Failed) != 1 || got.Failed[0].Index != 2 || got.Ignored != 1 {
		t.Fatalf("got %+v", got)
	}
	if !errors.Is(got.Failed[0], olm.ErrMessageKeyNotFound) {
		t.Fatalf("replay: %v", got.Failed[0])
	}
}

// TestRefusedEventKeepsKey: an event whose payload is refused spends no
// one-time key, so that the genuine message made with it still opens its
// session.
func TestRefusedEventKeepsKey(t *testing.T) {
	key := dehydrated.GenerateKey()
	_, req, data := newUploaded(t, key, dehydrated.AlgorithmV2)
	var ids []string
	for id := range req.OneTimeKeys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	r, _ := dehydrated.Rehydrate(key, owner, req.DeviceID, data)
	g, _ := megolm.NewGroupSession()
	// Two senders claim the same key (a homeserver could hand it out
	// twice): the first sends a payload that names another recipient.
	mallory := newSender(t, "@mallory:example.org")
	mallory.otk = ids[0]
	bad := mallory.eventWith(req, "m.room_key", roomKeyContent(g, "!r:x"), func(p map[string]any) { p["recipient"] = "@someone:else" })
	bob := newSender(t, senderUser)
	bob.otk = ids[0]
	good, _ := bob.roomKey(req, "!r:x")
	got := r.ReceiveEvents([]json.RawMessage{bad, good})
	if len(got.Failed) != 1 || !errors.Is(got.Failed[0], olm.ErrPayloadMismatch) || len(got.RoomKeys) != 1 {
		t.Fatalf("got %+v", got)
	}
}

// TestRoomKeySharedHistory: the shared_history flag of MSC3061 comes with
// the room key.
func TestRoomKeySharedHistory(t *testing.T) {
	key := dehydrated.GenerateKey()
	_, req, data := newUploaded(t, key, dehydrated.AlgorithmV2)
	s := newSender(t, senderUser)
	g, _ := megolm.NewGroupSession()
	c := roomKeyContent(g, "!r:x")
	c["shared_history"] = true
	ev := s.eventWith(req, "m.room_key", c, nil)
	r, err := dehydrated.Rehydrate(key, owner, req.DeviceID, data)
	if err != nil {
		t.Fatal(err)
	}
	got := r.ReceiveEvents([]json.RawMessage{ev})
	if len(got.RoomKeys) != 1 || !got.RoomKeys[0].SharedHistory {
		t.Fatalf("got %+v", got)
	}
}

func TestKeyEqual(t *testing.T) {
	k := dehydrated.GenerateKey()
	same, err := dehydrated.KeyFromSecret(k.Secret())
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(same) || k.Equal(dehydrated.GenerateKey()) {
		t.Error("Equal is wrong")
	}
}

// A sender (the homeserver can make any) that opens a session per event on
// the fallback key, all under one identity key, gets at most
// MaxSessionsPerSender kept: otherwise every later normal message would be
// tried against each of them, n²/4 attempts for a page of n events. The
// newest sessions keep working.
func TestSessionsPerSenderBounded(t *testing.T) {
	key := dehydrated.GenerateKey()
	_, req, data := newUploaded(t, key, dehydrated.AlgorithmV2)
	mallory := newSender(t, senderUser)
	mallory.otk = "fallback"
	var events []json.RawMessage
	for range dehydrated.MaxSessionsPerSender + 3 {
		mallory.sessions = map[string]*olm.Session{} // a new session each time
		ev, _ := mallory.roomKey(req, "!room:example.org")
		events = append(events, ev)
	}
	// A second message on the newest session.
	ev, _ := mallory.roomKey(req, "!room:example.org")
	events = append(events, ev)
	r := must[*dehydrated.Rehydrated](t)(dehydrated.Rehydrate(key, owner, req.DeviceID, data))
	got := r.ReceiveEvents(events)
	if len(got.Failed) != 0 || len(got.RoomKeys) != len(events) {
		t.Fatalf("%d room keys, failures %v", len(got.RoomKeys), got.Failed)
	}
	if n := dehydrated.SessionsWith(r, mallory.account.Curve25519Key()); n != dehydrated.MaxSessionsPerSender {
		t.Fatalf("%d sessions kept with one sender key, want %d", n, dehydrated.MaxSessionsPerSender)
	}
}

// Close wipes the Olm sessions the events opened, not only the account:
// they would decrypt what their senders send the device next.
func TestCloseWipesSessions(t *testing.T) {
	key := dehydrated.GenerateKey()
	_, req, data := newUploaded(t, key, dehydrated.AlgorithmV2)
	bob := newSender(t, senderUser)
	ev, _ := bob.roomKey(req, "!room:example.org")
	r := must[*dehydrated.Rehydrated](t)(dehydrated.Rehydrate(key, owner, req.DeviceID, data))
	if got := r.ReceiveEvents([]json.RawMessage{ev}); len(got.RoomKeys) != 1 {
		t.Fatalf("received %+v", got)
	}
	ss := dehydrated.Sessions(r, bob.account.Curve25519Key())
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	s := ss[0]
	r.Close()
	r.Close()
	if _, err := s.Encrypt([]byte("x")); !errors.Is(err, olm.ErrClosed) {
		t.Errorf("session after Close: %v, want ErrClosed", err)
	}
	if _, err := r.Account().Pickle(make([]byte, 32)); !errors.Is(err, olm.ErrClosed) {
		t.Errorf("account after Close: %v, want ErrClosed", err)
	}
}
