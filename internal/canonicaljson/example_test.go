package canonicaljson_test

import (
	"errors"
	"fmt"

	"github.com/souverain/e2ee/internal/canonicaljson"
)

func ExampleCanonicalize() {
	out, err := canonicaljson.Canonicalize([]byte(`{"b": "\u65E5", "a": -0, "c": 1e10}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))

	_, err = canonicaljson.Canonicalize([]byte(`{"a": 1.5}`))
	fmt.Println(errors.Is(err, canonicaljson.ErrNumber))
	// Output:
	// {"a":0,"b":"日","c":10000000000}
	// true
}

func ExampleMarshal() {
	out, err := canonicaljson.Marshal(map[string]any{
		"user_id":    "@alice:example.org",
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys":       map[string]string{"ed25519:DEV": "key"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))
	// Output:
	// {"algorithms":["m.olm.v1.curve25519-aes-sha2","m.megolm.v1.aes-sha2"],"keys":{"ed25519:DEV":"key"},"user_id":"@alice:example.org"}
}
