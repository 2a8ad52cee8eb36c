package olm_test

import (
	"errors"
	"fmt"

	"github.com/souverain/e2ee/olm"
)

// Alice opens a session to Bob with one of his one-time keys, and they
// exchange messages. In a Matrix client, the keys travel through
// /keys/upload and /keys/claim and the messages as m.room.encrypted
// to-device events, with Type and Body as "type" and "body" (see
// ExampleNewPayload for the checks a client makes around them).
func Example() {
	alice, _ := olm.NewAccount()
	bob, _ := olm.NewAccount()

	// Bob publishes one-time keys; Alice claims one.
	bob.GenerateOneTimeKeys(1)
	var bobOneTimeKey olm.Curve25519PublicKey
	for _, key := range bob.OneTimeKeys() {
		bobOneTimeKey = key
	}
	bob.MarkKeysAsPublished()

	// Alice opens a session and encrypts: the first message is a pre-key
	// message.
	aliceSession, _ := alice.NewOutboundSession(bob.Curve25519Key(), bobOneTimeKey)
	msg, _ := aliceSession.Encrypt([]byte("Hello, Bob"))
	fmt.Println("type:", msg.Type())

	// Bob receives the event's type and body, creates his session and
	// decrypts.
	received, _ := olm.ParseMessageBody(msg.Type(), msg.Body())
	bobSession, plaintext, err := bob.NewInboundSession(alice.Curve25519Key(), received.(*olm.PreKeyMessage))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(plaintext))
	fmt.Println("same session:", aliceSession.SessionID() == bobSession.SessionID())

	// Bob answers; from now on both send normal messages.
	reply, _ := bobSession.Encrypt([]byte("Hello, Alice"))
	plaintext, _ = aliceSession.Decrypt(reply)
	fmt.Println(string(plaintext), "type:", reply.Type())
	// Output:
	// type: 0
	// Hello, Bob
	// same session: true
	// Hello, Alice type: 1
}

func ExampleAccount_Pickle() {
	account, _ := olm.NewAccount()
	key := make([]byte, 32) // keep this key secret, e.g. in the OS keyring
	pickled, _ := account.Pickle(key)
	restored, err := olm.UnpickleAccount(pickled, key)
	fmt.Println(err == nil && restored.Ed25519Key() == account.Ed25519Key())
	// Output: true
}

func ExampleUnpickleLibolmAccount() {
	// A store written by libolm (or by a client built on it) opens as is;
	// here the pickle comes from this package for the example's sake.
	account, _ := olm.NewAccount()
	pickled, _ := account.PickleLibolm([]byte("libolm pickle key"))
	restored, err := olm.UnpickleLibolmAccount(pickled, []byte("libolm pickle key"))
	fmt.Println(err == nil && restored.Curve25519Key() == account.Curve25519Key())
	// Output: true
}

// A device sends an m.room_key to another device: it checks the claimed
// one-time key's signature (VerifySignedKey), binds the plaintext to both
// devices (NewPayload), and sends the message as the "type" and "body" of
// an m.room.encrypted event (Type, Body). The receiver parses the body
// (ParseMessageBody), decrypts, and checks the plaintext against what it
// knows from outside it (ParsePayload).
func ExampleNewPayload() {
	alice, _ := olm.NewAccount()
	bob, _ := olm.NewAccount()

	// Bob uploads a signed one-time key; Alice claims it and checks it
	// against Bob's Ed25519 key from his device keys.
	bob.GenerateOneTimeKeys(1)
	signed, _ := bob.SignedOneTimeKeys("@bob:example.org", "BOBDEVICE")
	bob.MarkKeysAsPublished()
	var claimed []byte
	for _, v := range signed {
		claimed = v
	}
	oneTimeKey, _, err := olm.VerifySignedKey(claimed, "@bob:example.org", "BOBDEVICE", bob.Ed25519Key())
	if err != nil {
		panic(err) // never encrypt to an unsigned key: it could be the server's
	}

	// Alice encrypts an m.room_key; room_id is in the content.
	content := []byte(`{"algorithm":"m.megolm.v1.aes-sha2","room_id":"!room:example.org","session_id":"…","session_key":"…"}`)
	plaintext, _ := olm.NewPayload(alice, "@alice:example.org", "@bob:example.org", bob.Ed25519Key(), "m.room_key", content)
	session, _ := alice.NewOutboundSession(bob.Curve25519Key(), oneTimeKey)
	msg, _ := session.Encrypt(plaintext)
	eventType, eventBody := msg.Type(), msg.Body() // "type" and "body" of the event

	// Bob decrypts and checks the payload against the event's envelope.
	received, _ := olm.ParseMessageBody(eventType, eventBody)
	_, decrypted, err := bob.NewInboundSession(alice.Curve25519Key(), received.(*olm.PreKeyMessage))
	if err != nil {
		panic(err)
	}
	payload, err := olm.ParsePayload(decrypted, olm.PayloadCheck{
		Sender:           "@alice:example.org", // the to-device event's sender
		SenderKey:        alice.Curve25519Key(),
		SenderEd25519:    alice.Ed25519Key(), // from /keys/query
		Recipient:        "@bob:example.org",
		RecipientEd25519: bob.Ed25519Key(),
	})
	fmt.Println(payload.Type, err)
	fmt.Println(string(payload.Content) == string(content))
	// Output:
	// m.room_key <nil>
	// true
}

// A claimed key whose signature does not verify is refused.
func ExampleVerifySignedKey() {
	bob, _ := olm.NewAccount()
	mallory, _ := olm.NewAccount()
	bob.GenerateOneTimeKeys(1)
	signed, _ := bob.SignedOneTimeKeys("@bob:example.org", "BOBDEVICE")
	for _, claimed := range signed {
		_, fallback, err := olm.VerifySignedKey(claimed, "@bob:example.org", "BOBDEVICE", bob.Ed25519Key())
		fmt.Println("Bob's key:", err, "fallback:", fallback)
		_, _, err = olm.VerifySignedKey(claimed, "@bob:example.org", "BOBDEVICE", mallory.Ed25519Key())
		fmt.Println("under another device's key:", errors.Is(err, olm.ErrUnsignedKey))
	}
	// Output:
	// Bob's key: <nil> fallback: false
	// under another device's key: true
}

// Sessions are stored between runs, in souverain's own format (Pickle, a
// 32-byte key) or in libolm's (PickleLibolm, any key), and go on where they
// left off.
func ExampleSession_Pickle() {
	alice, _ := olm.NewAccount()
	bob, _ := olm.NewAccount()
	bob.GenerateFallbackKey()
	_, fallbackKey, _ := bob.UnpublishedFallbackKey()
	aliceSession, _ := alice.NewOutboundSession(bob.Curve25519Key(), fallbackKey)
	first, _ := aliceSession.Encrypt([]byte("first"))
	bobSession, _, _ := bob.NewInboundSession(alice.Curve25519Key(), first.(*olm.PreKeyMessage))

	key := make([]byte, 32) // keep it secret, e.g. in the OS keyring
	pickled, _ := bobSession.Pickle(key)
	bobSession.Close() // wipes the ratchet held in memory

	restored, _ := olm.UnpickleSession(pickled, key)
	second, _ := aliceSession.Encrypt([]byte("second"))
	plaintext, err := restored.Decrypt(second)
	fmt.Println(string(plaintext), err, restored.SessionID() == aliceSession.SessionID())

	// Opening it with the other format's function says what it is.
	_, err = olm.UnpickleLibolmSession(pickled, key)
	fmt.Println(err)
	// Output:
	// second <nil> true
	// olm: unpickle libolm session: corrupted pickle: bad length 243 (this is a souverain session pickle: open it with UnpickleSession)
}

// A client replaces its fallback key when it has none or the current one
// has been used, not on every sync.
func ExampleAccount_CurrentFallbackKey() {
	account, _ := olm.NewAccount()
	if info, ok := account.CurrentFallbackKey(); !ok || info.Used {
		account.GenerateFallbackKey()
	}
	account.MarkKeysAsPublished()
	info, ok := account.CurrentFallbackKey()
	fmt.Println(ok, info.Published, info.Used)
	_, _, unpublished := account.UnpublishedFallbackKey()
	fmt.Println("to upload:", unpublished)
	// Output:
	// true true false
	// to upload: false
}
