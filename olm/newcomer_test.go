package olm_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/olm"
)

// TestFallbackKeyState: the current fallback key is reported whether or not
// it is published, with whether a session used it; UnpublishedFallbackKey
// (FallbackKey's new name) reports only an unpublished one.
func TestFallbackKeyState(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	if _, ok := bob.CurrentFallbackKey(); ok {
		t.Fatal("fallback key before generation")
	}
	bob.GenerateFallbackKey()
	info, ok := bob.CurrentFallbackKey()
	if !ok || info.Published || info.Used {
		t.Fatalf("new fallback key: %+v %v", info, ok)
	}
	bob.MarkKeysAsPublished()
	if _, _, ok := bob.UnpublishedFallbackKey(); ok {
		t.Fatal("published key reported as unpublished")
	}
	info2, ok := bob.CurrentFallbackKey()
	if !ok || !info2.Published || info2.Used || info2.Key != info.Key || info2.ID != info.ID {
		t.Fatalf("published fallback key: %+v %v", info2, ok)
	}
	s, _ := alice.NewOutboundSession(bob.Curve25519Key(), info2.Key)
	m, _ := s.Encrypt([]byte("x"))
	if _, _, err := bob.NewInboundSession(alice.Curve25519Key(), m.(*olm.PreKeyMessage)); err != nil {
		t.Fatal(err)
	}
	if info, _ := bob.CurrentFallbackKey(); !info.Used {
		t.Fatal("used fallback key not reported as used")
	}
	text, _ := bob.Pickle(testKey)
	restored, _ := olm.UnpickleAccount(text, testKey)
	if info, _ := restored.CurrentFallbackKey(); !info.Used || !info.Published {
		t.Fatalf("after own pickle: %+v", info)
	}
	bob.GenerateFallbackKey()
	if info, _ := bob.CurrentFallbackKey(); info.Used || info.Published {
		t.Fatalf("new key after rotation: %+v", info)
	}
}

// TestPayloadKeysTyped: Keys.Ed25519 is an Ed25519PublicKey, and the JSON is
// unchanged: unpadded base64 strings.
func TestPayloadKeysTyped(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	plaintext, err := olm.NewPayload(alice, "@alice:x", "@bob:x", bob.Ed25519Key(), "m.dummy", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"m.dummy","content":{},"sender":"@alice:x","recipient":"@bob:x","recipient_keys":{"ed25519":"` + bob.Ed25519Key().String() + `"},"keys":{"ed25519":"` + alice.Ed25519Key().String() + `"}}`
	if string(plaintext) != want {
		t.Fatalf("payload JSON\n got %s\nwant %s", plaintext, want)
	}
	p, err := olm.ParsePayload(plaintext, olm.PayloadCheck{Sender: "@alice:x", SenderKey: alice.Curve25519Key(), Recipient: "@bob:x", RecipientEd25519: bob.Ed25519Key()})
	if err != nil {
		t.Fatal(err)
	}
	var claimed olm.Ed25519PublicKey = p.Keys.Ed25519
	if claimed != alice.Ed25519Key() || p.RecipientKeys.Ed25519 != bob.Ed25519Key() {
		t.Fatal("typed keys differ")
	}
	again, _ := json.Marshal(p)
	if string(again) != want {
		t.Fatalf("re-marshalled payload\n got %s\nwant %s", again, want)
	}
}

// TestMessageBody: the base64 body form of m.room.encrypted events, and a
// hint when base64 is given to the bytes parser.
func TestMessageBody(t *testing.T) {
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	m, _ := alice.Encrypt([]byte("hi"))
	body := m.Body()
	if body != base64.RawStdEncoding.EncodeToString(m.Bytes()) {
		t.Fatal("Body is not the unpadded base64 of Bytes")
	}
	parsed, err := olm.ParseMessageBody(m.Type(), body)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := bob.Decrypt(parsed); err != nil || string(pt) != "hi" {
		t.Fatalf("%q %v", pt, err)
	}
	if _, err := olm.ParseMessageBody(m.Type(), "not base64!"); !errors.Is(err, olm.ErrBadMessageFormat) {
		t.Fatalf("bad base64: %v", err)
	}
	for _, typ := range []olm.MessageType{olm.MessageTypePreKey, olm.MessageTypeNormal} {
		_, err := olm.ParseMessage(typ, []byte(body))
		if err == nil || !strings.Contains(err.Error(), "ParseMessageBody") {
			t.Fatalf("base64 given to ParseMessage: %v, want a hint at ParseMessageBody", err)
		}
	}
}

// TestPickleFormatHint: opening one pickle format with the other's function
// says which format the text looks like.
func TestPickleFormatHint(t *testing.T) {
	alice, bob, acct, _ := pair(t, olm.SessionConfigV1())
	_ = bob
	own, _ := acct.Pickle(testKey)
	lib, _ := acct.PickleLibolm(testKey)
	ownS, _ := alice.Pickle(testKey)
	libS, _ := alice.PickleLibolm(testKey)
	for _, c := range []struct {
		name string
		err  error
		hint string
	}{
		{"own account as libolm", second(olm.UnpickleLibolmAccount(own, testKey)), "UnpickleAccount"},
		{"libolm account as own", second(olm.UnpickleAccount(lib, testKey)), "UnpickleLibolmAccount"},
		{"own session as libolm", second(olm.UnpickleLibolmSession(ownS, testKey)), "UnpickleSession"},
		{"libolm session as own", second(olm.UnpickleSession(libS, testKey)), "UnpickleLibolmSession"},
		{"session as account", second(olm.UnpickleAccount(ownS, testKey)), "UnpickleSession"},
		{"account as session", second(olm.UnpickleSession(own, testKey)), "UnpickleAccount"},
		{"libolm session as libolm account", second(olm.UnpickleLibolmAccount(libS, testKey)), "UnpickleLibolmSession"},
		{"libolm account as libolm session", second(olm.UnpickleLibolmSession(lib, testKey)), "UnpickleLibolmAccount"},
		{"own account as libolm, wrong key", second(olm.UnpickleLibolmAccount(own, []byte("wrong"))), "souverain's own format"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.hint) {
			t.Errorf("%s: %v, want a hint at %s", c.name, c.err, c.hint)
		}
		t.Logf("%s: %v", c.name, c.err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestErrorTextsDoNotRepeatPrefix: no error says "olm:" twice.
func TestErrorTextsDoNotRepeatPrefix(t *testing.T) {
	alice, bob, aliceAcct, bobAcct := pair(t, olm.SessionConfigV1())
	m, _ := alice.Encrypt([]byte("x"))
	raw := append([]byte(nil), m.Bytes()...)
	raw[len(raw)-1] ^= 1
	forged, _ := olm.ParsePreKeyMessage(raw)
	badInner := append([]byte(nil), m.Bytes()...)
	badInner[1+3*34+2] = 9 // the inner message's version byte
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	add(second(olm.ParsePreKeyMessage(badInner)))
	add(second(olm.ParseMessage(olm.MessageTypeNormal, []byte("Aw"))))
	add(second(bob.Decrypt(forged)))
	_, _, err := bobAcct.NewInboundSession(aliceAcct.Curve25519Key(), forged)
	add(err)
	_, _, err = newAccount(t).NewInboundSession(aliceAcct.Curve25519Key(), forged)
	add(err)
	add(second(olm.UnpickleLibolmAccount("AAAA", testKey)))
	add(second(olm.UnpickleAccount("AAAA", testKey)))
	add(second(olm.UnpickleAccount("AAAA", nil)))
	add(second(olm.UnpickleLibolmSession("AAAA", testKey)))
	add(second(olm.ParseCurve25519PublicKey("!")))
	add(second(olm.ParseKeyID("!")))
	_, _, err = olm.VerifySignedKey([]byte(`{}`), "@a:x", "A", olm.Ed25519PublicKey{})
	add(err)
	add(second(olm.ParsePayload([]byte(`{`), olm.PayloadCheck{})))
	add(second(olm.NewPayload(nil, "", "", olm.Ed25519PublicKey{}, "", nil)))
	for _, err := range errs {
		if err == nil {
			t.Fatal("an expected error is nil")
		}
		if n := strings.Count(err.Error(), "olm:"); n != 1 {
			t.Errorf("%q says olm: %d times", err, n)
		}
	}
}

// TestVerifyBadPublicKey: a small-order or non-canonical public key gives
// ErrBadPublicKey, as documented, not ErrBadSignature.
func TestVerifyBadPublicKey(t *testing.T) {
	a := newAccount(t)
	sig := a.Sign([]byte("m"))
	for _, k := range []olm.Ed25519PublicKey{{}, {1}, {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}} {
		if err := k.Verify([]byte("m"), sig); !errors.Is(err, olm.ErrBadPublicKey) {
			t.Errorf("key %x: %v, want ErrBadPublicKey", k[:2], err)
		}
	}
}
