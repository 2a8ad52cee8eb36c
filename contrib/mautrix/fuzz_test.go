package mautrix_test

import (
	"testing"

	"maunium.net/go/mautrix/id"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

// The driver's entry points never panic on input; a failure changes
// nothing (checked by the session still working afterwards).

func FuzzSessionDecrypt(f *testing.F) {
	alice, bob := newAccount(f), newAccount(f)
	aliceOut, bobIn := newSessionPair(f, alice, bob)
	_, preKey, _ := aliceOut.Encrypt([]byte("pre-key"))
	exchange(f, bobIn, aliceOut, "reply")
	_, normal, _ := aliceOut.Encrypt([]byte("normal"))
	f.Add(string(preKey), 0)
	f.Add(string(normal), 1)
	f.Add("", 1)
	f.Add("AwoA", 0)
	f.Fuzz(func(t *testing.T, msg string, typ int) {
		_, _ = bobIn.Decrypt(msg, id.OlmMsgType(typ))
		_, _ = bobIn.MatchesInboundSession(msg)
		_, _ = bob.NewInboundSession(msg)
		exchange(t, aliceOut, bobIn, "still works")
	})
}

func FuzzGroupDecrypt(f *testing.F) {
	out := newOutbound(f)
	in, err := souverain.NewInboundGroupSession([]byte(out.Key()))
	if err != nil {
		f.Fatal(err)
	}
	ct, _ := out.Encrypt([]byte("hello"))
	f.Add(ct)
	f.Add([]byte(out.Key()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, _, _ = in.Decrypt(msg)
		_, _ = souverain.NewInboundGroupSession(msg)
		_, _ = souverain.InboundGroupSessionImport(msg)
		ct, err := out.Encrypt([]byte("still works"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, _, err := in.Decrypt(ct); err != nil || string(pt) != "still works" {
			t.Fatalf("after fuzz input: %q, %v", pt, err)
		}
	})
}

func FuzzUnpickle(f *testing.F) {
	key := []byte("k")
	acc := newAccount(f)
	ap, _ := acc.Pickle(key)
	s, _ := newSessionPair(f, newAccount(f), newAccount(f))
	sp, _ := s.Pickle(key)
	out := newOutbound(f)
	op, _ := out.Pickle(key)
	in, _ := souverain.NewInboundGroupSession([]byte(out.Key()))
	ip, _ := in.Pickle(key)
	for _, p := range [][]byte{ap, sp, op, ip, nil} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		_, _ = souverain.AccountFromPickled(p, key)
		_, _ = souverain.SessionFromPickled(p, key)
		_, _ = souverain.InboundGroupSessionFromPickled(p, key)
		_, _ = souverain.OutboundGroupSessionFromPickled(p, key)
	})
}
