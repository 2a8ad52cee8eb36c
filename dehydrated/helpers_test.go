package dehydrated_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

const (
	owner      = "@alice:example.org"
	senderUser = "@bob:example.org"
)

// sender is another device that sends room keys to a dehydrated device, as
// a homeserver would relay them.
type sender struct {
	t        testing.TB
	user     string
	account  *olm.Account
	sessions map[string]*olm.Session // by recipient device ID
	otk      string                  // the key ID of the one-time key to claim; any if empty
}

func newSender(t testing.TB, user string) *sender {
	t.Helper()
	a, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	return &sender{t: t, user: user, account: a, sessions: map[string]*olm.Session{}}
}

// session returns the sender's Olm session with the uploaded device,
// opening one with a one-time key from the upload body (checking its
// signature) the first time.
func (s *sender) session(req *dehydrated.UploadRequest) (*olm.Session, olm.Curve25519PublicKey, olm.Ed25519PublicKey) {
	s.t.Helper()
	var dk struct {
		Keys map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(req.DeviceKeys, &dk); err != nil {
		s.t.Fatal(err)
	}
	curve, err := olm.ParseCurve25519PublicKey(dk.Keys["curve25519:"+req.DeviceID])
	if err != nil {
		s.t.Fatal(err)
	}
	ed, err := olm.ParseEd25519PublicKey(dk.Keys["ed25519:"+req.DeviceID])
	if err != nil {
		s.t.Fatal(err)
	}
	if sess, ok := s.sessions[req.DeviceID]; ok {
		return sess, curve, ed
	}
	var otk olm.Curve25519PublicKey
	keys := req.OneTimeKeys
	if s.otk != "" {
		keys = map[string]json.RawMessage{s.otk: req.OneTimeKeys[s.otk]}
		if keys[s.otk] == nil {
			keys = req.FallbackKeys
		}
	}
	for _, signed := range keys {
		otk, _, err = olm.VerifySignedKey(signed, owner, req.DeviceID, ed)
		if err != nil {
			s.t.Fatal(err)
		}
		break
	}
	sess, err := s.account.NewOutboundSession(curve, otk)
	if err != nil {
		s.t.Fatal(err)
	}
	s.sessions[req.DeviceID] = sess
	return sess, curve, ed
}

// event returns the to-device event carrying content of eventType to the
// device, Olm-encrypted, with the payload built by payload (NewPayload's
// output by default).
func (s *sender) eventWith(req *dehydrated.UploadRequest, eventType string, content any, edit func(p map[string]any)) json.RawMessage {
	s.t.Helper()
	sess, curve, ed := s.session(req)
	c, err := json.Marshal(content)
	if err != nil {
		s.t.Fatal(err)
	}
	plain, err := olm.NewPayload(s.account, s.user, owner, ed, eventType, c)
	if err != nil {
		s.t.Fatal(err)
	}
	if edit != nil {
		var p map[string]any
		json.Unmarshal(plain, &p)
		edit(p)
		plain, _ = json.Marshal(p)
	}
	m, err := sess.Encrypt(plain)
	if err != nil {
		s.t.Fatal(err)
	}
	ev, err := json.Marshal(map[string]any{
		"type":   "m.room.encrypted",
		"sender": s.user,
		"content": map[string]any{
			"algorithm":  olm.AlgorithmOlm,
			"sender_key": s.account.Curve25519Key().String(),
			"ciphertext": map[string]any{
				curve.String(): map[string]any{"type": int(m.Type()), "body": b64.Encode(m.Bytes())},
			},
		},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return ev
}

// roomKey sends a new Megolm session's key for room and returns the
// outbound session.
func (s *sender) roomKey(req *dehydrated.UploadRequest, room string) (json.RawMessage, *megolm.GroupSession) {
	s.t.Helper()
	g, err := megolm.NewGroupSession()
	if err != nil {
		s.t.Fatal(err)
	}
	return s.eventWith(req, "m.room_key", roomKeyContent(g, room), nil), g
}

func roomKeyContent(g *megolm.GroupSession, room string) map[string]any {
	return map[string]any{
		"algorithm":   olm.AlgorithmMegolm,
		"room_id":     room,
		"session_id":  g.SessionID(),
		"session_key": g.SessionKey().Encode(),
	}
}

// newUploaded creates a device and its upload body.
func newUploaded(t testing.TB, key *dehydrated.Key, algorithm string) (*dehydrated.Device, *dehydrated.UploadRequest, json.RawMessage) {
	t.Helper()
	d, err := dehydrated.NewDevice(owner)
	if err != nil {
		t.Fatal(err)
	}
	req, err := d.UploadRequestWithAlgorithm(key, dehydrated.DefaultDisplayName, algorithm)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(req.DeviceData)
	if err != nil {
		t.Fatal(err)
	}
	return d, req, data
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(fmt.Errorf("unexpected: %w", err))
		}
		return v
	}
}
