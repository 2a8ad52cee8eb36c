package signedjson_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/souverain/e2ee/signedjson"
)

func ExampleSign() {
	// The seed of the specification's JSON signing example, decoded.
	seed := []byte{
		0x60, 0x90, 0xc1, 0x03, 0xd5, 0xe7, 0xaf, 0x6b, 0x15, 0xa9, 0x70, 0xfd, 0x56, 0x3e, 0xd7, 0x55,
		0x49, 0xe6, 0x15, 0x97, 0x19, 0xae, 0x5c, 0x3c, 0x31, 0xde, 0xe4, 0x31, 0x6f, 0xb7, 0x5c, 0x0d,
	}
	key := ed25519.NewKeyFromSeed(seed)
	signed, err := signedjson.Sign([]byte(`{"two": "Two", "one": 1}`), "domain", "ed25519:1", key)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(signed))
	// Output:
	// {"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"}
}

func ExampleObject_Verify() {
	pub, priv, _ := ed25519.GenerateKey(nil)
	obj, err := signedjson.Parse([]byte(`{"user_id": "@alice:example.org", "device_id": "DEV"}`))
	if err != nil {
		panic(err)
	}
	if err := obj.Sign("@alice:example.org", signedjson.KeyID("DEV"), priv); err != nil {
		panic(err)
	}
	fmt.Println(obj.Verify("@alice:example.org", "ed25519:DEV", pub))
	err = obj.Verify("@alice:example.org", "ed25519:OTHER", pub)
	fmt.Println(errors.Is(err, signedjson.ErrMissingSignature))
	// Output:
	// <nil>
	// true
}
