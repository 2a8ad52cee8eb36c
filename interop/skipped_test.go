package interop_test

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/olm"
)

// TestSkippedKeysIntoLibolm: souverain keeps 40 skipped message keys per
// receiver chain, libolm 40 per session. A souverain session holding 80
// (two chains) written with PickleLibolm opens in libolm, which then holds
// the newest 40: it decrypts the messages of the newer chain and refuses
// those of the older one, as documented on olm.MaxSkippedMessageKeys.
func TestSkippedKeysIntoLibolm(t *testing.T) {
	aliceAcc, _ := olm.NewAccount()
	bobAcc, _ := olm.NewAccount()
	bobAcc.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range bobAcc.OneTimeKeys() {
		otk = k
	}
	alice, _ := aliceAcc.NewOutboundSession(bobAcc.Curve25519Key(), otk)
	m, _ := alice.Encrypt([]byte("hello"))
	bob, _, err := bobAcc.NewInboundSession(aliceAcc.Curve25519Key(), m.(*olm.PreKeyMessage))
	if err != nil {
		t.Fatal(err)
	}
	chain := func(tag string) []olm.Message {
		r, _ := bob.Encrypt([]byte("turn"))
		if _, err := alice.Decrypt(r); err != nil {
			t.Fatal(err)
		}
		var msgs []olm.Message
		for i := 0; i <= olm.MaxSkippedMessageKeys; i++ {
			m, _ := alice.Encrypt([]byte(fmt.Sprint(tag, i)))
			msgs = append(msgs, m)
		}
		if _, err := bob.Decrypt(msgs[olm.MaxSkippedMessageKeys]); err != nil {
			t.Fatal(err)
		}
		return msgs[:olm.MaxSkippedMessageKeys]
	}
	older, newer := chain("a"), chain("b")
	key := []byte("pickle key")
	text, err := bob.PickleLibolm(key)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := libolm.UnpickleSession(text, key)
	if err != nil {
		t.Fatalf("libolm refuses the pickle: %v", err)
	}
	defer lib.Free()
	body := func(m olm.Message) string { return base64.RawStdEncoding.EncodeToString(m.Bytes()) }
	if _, err := lib.Decrypt(libolm.MessageTypeNormal, body(older[0])); err == nil {
		t.Error("libolm decrypted a message whose key the libolm pickle cannot hold")
	}
	for i, m := range newer {
		if pt, err := lib.Decrypt(libolm.MessageTypeNormal, body(m)); err != nil || string(pt) != fmt.Sprint("b", i) {
			t.Fatalf("libolm, newer chain, message %d: %q %v", i, pt, err)
		}
	}
}
