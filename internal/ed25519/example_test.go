package ed25519_test

import (
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/ed25519"
)

// This example signs the Matrix specification's first JSON signing vector,
// then restores the key from libolm's stored form and verifies.
func Example() {
	seed, err := b64.Decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
	if err != nil {
		panic(err)
	}
	key, err := ed25519.NewKeyFromSeed(seed)
	if err != nil {
		panic(err)
	}
	sig := key.Sign([]byte("{}"))
	fmt.Println(b64.Encode(sig[:]))

	// A libolm pickle stores the expanded key and the public key.
	expanded, public := key.Expanded(), key.Public()
	restored, err := ed25519.NewKeyFromExpanded(expanded[:], public[:])
	if err != nil {
		panic(err)
	}
	fmt.Println(restored)

	err = ed25519.Verify(public[:], []byte("{}"), sig[:])
	fmt.Println(err)
	// Output:
	// K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ
	// ed25519.PrivateKey(public: XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI)
	// <nil>
}
