package machine_test

import (
	"encoding/base64"
	"encoding/json"
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
