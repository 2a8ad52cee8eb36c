package olm_test

import (
	"fmt"

	"github.com/souverain/e2ee/olm"
)

// Alice opens a session to Bob with one of his one-time keys, and they
// exchange messages. In a Matrix client, the keys travel through
// /keys/upload and /keys/claim and the messages as m.room.encrypted
// to-device events, with Type and base64 of Bytes as "type" and "body".
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

	// Bob receives the wire bytes, creates his session and decrypts.
	received, _ := olm.ParseMessage(msg.Type(), msg.Bytes())
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
