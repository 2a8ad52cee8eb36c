package machine_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// rogue is a device driven by hand with the primitives, to send what an
// honest machine never would.
type rogue struct {
	t         testing.TB
	hs        *fakehs.Server
	user, dev string
	a         *olm.Account
	sessions  map[string]*olm.Session // by their curve key
	groups    map[string]*megolm.GroupSession
}

func newRogue(t testing.TB, hs *fakehs.Server, user, dev string) *rogue {
	t.Helper()
	a, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	r := &rogue{t: t, hs: hs, user: user, dev: dev, a: a, sessions: map[string]*olm.Session{}, groups: map[string]*megolm.GroupSession{}}
	dk, err := a.DeviceKeys(user, dev)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"device_keys": json.RawMessage(dk)})
	if _, err := hs.Do(user, dev, machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/upload", Body: body}); err != nil {
		t.Fatal(err)
	}
	return r
}

// session returns an Olm session to a client's device, claiming a key.
func (r *rogue) session(c *client) (*olm.Session, olm.Curve25519PublicKey, olm.Ed25519PublicKey) {
	r.t.Helper()
	curve, ed, err := c.m.IdentityKeys(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	if s := r.sessions[curve.String()]; s != nil {
		return s, curve, ed
	}
	body, _ := json.Marshal(map[string]any{"one_time_keys": map[string]map[string]string{c.user: {c.dev: "signed_curve25519"}}})
	resp, err := r.hs.Do(r.user, r.dev, machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/claim", Body: body})
	if err != nil {
		r.t.Fatal(err)
	}
	var cr struct {
		OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
	}
	json.Unmarshal(resp, &cr)
	for _, k := range cr.OneTimeKeys[c.user][c.dev] {
		otk, _, err := olm.VerifySignedKey(k, c.user, c.dev, ed)
		if err != nil {
			r.t.Fatal(err)
		}
		s, err := r.a.NewOutboundSession(curve, otk)
		if err != nil {
			r.t.Fatal(err)
		}
		r.sessions[curve.String()] = s
		return s, curve, ed
	}
	r.t.Fatal("rogue: no key claimed")
	return nil, curve, ed
}

// olmEvent returns an Olm to-device event for c carrying plaintext as is.
func (r *rogue) olmEvent(c *client, plaintext []byte) json.RawMessage {
	r.t.Helper()
	s, curve, _ := r.session(c)
	msg, err := s.Encrypt(plaintext)
	if err != nil {
		r.t.Fatal(err)
	}
	content, _ := json.Marshal(map[string]any{
		"algorithm": olm.AlgorithmOlm, "sender_key": r.a.Curve25519Key().String(),
		"ciphertext": map[string]any{curve.String(): map[string]any{"type": int(msg.Type()), "body": base64.RawStdEncoding.EncodeToString(msg.Bytes())}},
	})
	ev, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": r.user, "content": json.RawMessage(content)})
	return ev
}

// payload returns a correct Olm payload from the rogue to c.
func (r *rogue) payload(c *client, typ string, content any) []byte {
	r.t.Helper()
	_, _, ed := r.session(c)
	b, _ := json.Marshal(content)
	p, err := olm.NewPayload(r.a, r.user, c.user, ed, typ, b)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// sendRoomKey sends c an m.room_key for room over Olm, returning the
// session.
func (r *rogue) sendRoomKey(c *client, room string) *megolm.GroupSession {
	r.t.Helper()
	g, err := megolm.NewGroupSession()
	if err != nil {
		r.t.Fatal(err)
	}
	r.groups[room] = g
	p := r.payload(c, "m.room_key", map[string]any{
		"algorithm": olm.AlgorithmMegolm, "room_id": room, "session_id": g.SessionID(), "session_key": g.SessionKey().Encode(),
	})
	r.hs.Inject(c.user, c.dev, r.olmEvent(c, p))
	return g
}

// megolmEvent encrypts an arbitrary payload with the rogue's session.
func (r *rogue) megolmEvent(g *megolm.GroupSession, room, sender string, payload any) json.RawMessage {
	r.t.Helper()
	b, _ := json.Marshal(payload)
	ct, err := g.Encrypt(b)
	if err != nil {
		r.t.Fatal(err)
	}
	content, _ := json.Marshal(map[string]any{
		"algorithm": olm.AlgorithmMegolm, "ciphertext": base64.RawStdEncoding.EncodeToString(ct), "session_id": g.SessionID(),
	})
	return roomEvent(room, sender, content)
}

// Undecryptable Olm messages naming arbitrary senders do not make the
// machine track (and /keys/query) those users (review F3).
func TestUndecryptableOlmFromUnknownSendersNotTracked(t *testing.T) {
	w := newWorld(t)
	curve, _, _ := w.bob.m.IdentityKeys(ctx)
	a, _ := olm.NewAccount()
	b, _ := olm.NewAccount()
	b.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range b.OneTimeKeys() {
		otk = k
	}
	sa, _ := a.NewOutboundSession(b.Curve25519Key(), otk)
	pm, _ := sa.Encrypt([]byte("x"))
	sb, _, err := b.NewInboundSession(a.Curve25519Key(), pm.(*olm.PreKeyMessage))
	if err != nil {
		t.Fatal(err)
	}
	nm, _ := sb.Encrypt([]byte("y"))
	if nm.Type() != olm.MessageTypeNormal {
		t.Fatal("want a normal message")
	}
	body := base64.RawStdEncoding.EncodeToString(nm.Bytes())
	for i := 0; i < 300; i++ {
		fake, _ := olm.NewAccount() // any Curve25519 key: Bob has no session with it
		content, _ := json.Marshal(map[string]any{"algorithm": olm.AlgorithmOlm, "sender_key": fake.Curve25519Key().String(),
			"ciphertext": map[string]any{curve.String(): map[string]any{"type": 1, "body": body}}})
		ev, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": fmt.Sprintf("@u%d:evil%d", i, i), "content": json.RawMessage(content)})
		w.hs.Inject(w.bob.user, w.bob.dev, ev)
	}
	res, err := w.bob.m.ReceiveSync(ctx, w.hs.Sync(w.bob.user, w.bob.dev))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first refusal: %v", res.ToDevice[0].Err)
	reqs, _ := w.bob.m.OutgoingRequests(ctx)
	reqs, _ = w.bob.m.OutgoingRequests(ctx)
	n := 0
	for _, r := range reqs {
		if r.Kind == machine.KindKeysQuery {
			n += strings.Count(string(r.Body), ":evil")
		}
	}
	if n > 0 {
		t.Fatalf("%d users named only by forged undecryptable to-device events are now tracked and queried", n)
	}
}

// Another user listing a device with Bob's Curve25519 key, sorted before
// Bob, does not take Bob's place in the share: Bob still gets the key.
func TestCurveKeyCollisionDoesNotStarveVictim(t *testing.T) {
	w := newWorld(t)
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.bob.sync()
	bobCurve, _, _ := w.bob.m.IdentityKeys(ctx)
	a, _ := olm.NewAccount()
	dk, _ := a.DeviceKeys("@aaa:x", "AAA")
	var m map[string]any
	json.Unmarshal(dk, &m)
	delete(m, "signatures")
	m["keys"].(map[string]any)["curve25519:AAA"] = bobCurve.String()
	canon, _ := json.Marshal(m)
	sig := a.Sign(canon)
	m["signatures"] = map[string]any{"@aaa:x": map[string]any{"ed25519:AAA": sig.String()}}
	body, _ := json.Marshal(map[string]any{"device_keys": m})
	if _, err := w.hs.Do("@aaa:x", "AAA", machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/upload", Body: body}); err != nil {
		t.Fatal(err)
	}
	w.alice.m.DiscardRoomKey(ctx, w.room)
	w.alice.share(w.room, w.alice.user, "@aaa:x", w.bob.user)
	ds, _ := w.alice.m.Devices(ctx, "@aaa:x")
	if len(ds) != 1 {
		t.Fatalf("rogue device not accepted: %v", ds)
	}
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{}`))
	w.bob.sync()
	if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev); err != nil {
		t.Fatalf("Bob cannot read Alice's message after @aaa listed a device with his Curve25519 key: %v", err)
	}
}

// Anyone can open an Olm session with our device per to-device event, on
// our fallback key once the one-time keys are claimed, all under one
// identity key: at most MaxOlmPerSender are kept (the least recently used
// is deleted), or every normal message from that key would be tried
// against each of them, and the store would grow for good. The newest
// session still works, and a replay of a deleted session's pre-key
// message is still refused.
func TestOlmSessionsPerSenderBounded(t *testing.T) {
	w := newWorld(t)
	b := w.bob
	mallory := newOlmSender(t, w.hs)
	var first json.RawMessage
	for i := range machine.MaxOlmPerSender + 3 {
		mallory.sessions = map[string]*olm.Session{} // a new session each time
		ev := mallory.send("@mallory:x", "@mallory:x", b.user, b.dev, "m.dummy", map[string]any{})
		if i == 0 {
			first = ev
		}
		w.hs.Inject(b.user, b.dev, ev)
		res := b.sync()
		if len(res.ToDevice) != 1 || res.ToDevice[0].Err != nil {
			t.Fatalf("event %d: %+v", i, res.ToDevice)
		}
	}
	sk := mallory.account.Curve25519Key().String()
	if n := machine.OlmSessionsStored(b.m, sk); n != machine.MaxOlmPerSender {
		t.Fatalf("%d Olm sessions stored with one identity key, want %d", n, machine.MaxOlmPerSender)
	}
	w.hs.Inject(b.user, b.dev, mallory.send("@mallory:x", "@mallory:x", b.user, b.dev, "m.dummy", map[string]any{}))
	if res := b.sync(); len(res.ToDevice) != 1 || res.ToDevice[0].Err != nil {
		t.Errorf("the newest session: %+v", res.ToDevice)
	}
	w.hs.Inject(b.user, b.dev, first)
	if res := b.sync(); len(res.ToDevice) != 1 || !errors.Is(res.ToDevice[0].Err, machine.ErrReplay) {
		t.Errorf("replay of a deleted session's first message: %+v", res.ToDevice)
	}
}
