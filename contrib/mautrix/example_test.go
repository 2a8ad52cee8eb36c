package mautrix_test

import (
	"fmt"

	"maunium.net/go/mautrix/crypto/olm"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

// After Register, mautrix-go's olm package makes souverain objects, which
// store libolm pickles that libolm and goolm read too.
func Example() {
	souverain.Register()
	fmt.Println("driver:", olm.Driver)

	out, _ := olm.NewOutboundGroupSession()
	in, _ := olm.NewInboundGroupSession([]byte(out.Key()))
	ciphertext, _ := out.Encrypt([]byte(`{"body":"hello"}`))
	plaintext, index, _ := in.Decrypt(ciphertext)
	fmt.Printf("index %d: %s\n", index, plaintext)

	pickled, _ := in.Pickle([]byte("store pickle key"))
	restored, _ := olm.InboundGroupSessionFromPickled(pickled, []byte("store pickle key"))
	fmt.Println("same session after a store round trip:", restored.ID() == in.ID())
	// Output:
	// driver: souverain
	// index 0: {"body":"hello"}
	// same session after a store round trip: true
}
