package interop_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// dhSender is a souverain device that sends room keys to a dehydrated
// device through the homeserver.
type dhSender struct {
	t       testing.TB
	user    string
	account *olm.Account
}

func newDhSender(t testing.TB, user string) *dhSender {
	t.Helper()
	a, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	return &dhSender{t: t, user: user, account: a}
}

// roomKey opens an Olm session with the uploaded device (claiming one of
// its one-time keys, whose signature it checks) and returns the to-device
// event carrying a new Megolm session's key for room, and that session.
func (s *dhSender) roomKey(req *dehydrated.UploadRequest, owner, room string) (json.RawMessage, *megolm.GroupSession) {
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
	var otk olm.Curve25519PublicKey
	for _, signed := range req.OneTimeKeys {
		if otk, _, err = olm.VerifySignedKey(signed, owner, req.DeviceID, ed); err != nil {
			s.t.Fatal(err)
		}
		break
	}
	sess, err := s.account.NewOutboundSession(curve, otk)
	if err != nil {
		s.t.Fatal(err)
	}
	g, err := megolm.NewGroupSession()
	if err != nil {
		s.t.Fatal(err)
	}
	content, _ := json.Marshal(map[string]any{
		"algorithm":   olm.AlgorithmMegolm,
		"room_id":     room,
		"session_id":  g.SessionID(),
		"session_key": g.SessionKey().Encode(),
	})
	plain, err := olm.NewPayload(s.account, s.user, owner, ed, "m.room_key", content)
	if err != nil {
		s.t.Fatal(err)
	}
	m, err := sess.Encrypt(plain)
	if err != nil {
		s.t.Fatal(err)
	}
	ev, _ := json.Marshal(map[string]any{
		"type":   "m.room.encrypted",
		"sender": s.user,
		"content": map[string]any{
			"algorithm":  olm.AlgorithmOlm,
			"sender_key": s.account.Curve25519Key().String(),
			"ciphertext": map[string]any{
				curve.String(): map[string]any{"type": int(m.Type()), "body": base64.RawStdEncoding.EncodeToString(m.Bytes())},
			},
		},
	})
	return ev, g
}
