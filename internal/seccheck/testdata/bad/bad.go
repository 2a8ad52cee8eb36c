// Package bad plants one violation of each seccheck rule; every line that
// must be reported carries a "want" comment naming the rule.
package bad

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/rand" // want math-rand
	"reflect"
)

type message struct {
	MAC        [8]byte
	Ciphertext []byte
}

var sbox = [4]byte{0x63, 0x7c, 0x77, 0x7b} // want own-aes own-aes

func verify(key []byte, m *message) bool {
	mac := hmac.New(sha256.New, key)
	mac.Write(m.Ciphertext)
	sum := mac.Sum(nil)
	if !bytes.Equal(sum[:8], m.MAC[:]) { // want secret-compare
		return false
	}
	return [8]byte(sum[:8]) == m.MAC // want secret-compare
}

func commitments(theirCommitment, ourCommitment string) bool {
	return theirCommitment == ourCommitment // want secret-compare
}

func keyCheck(checkValue, want []byte) bool {
	return reflect.DeepEqual(checkValue, want) // want secret-compare
}

func digestOf(b []byte) bool {
	return sha256.Sum256(b) != [32]byte{} // want secret-compare
}

type chain struct{ chainKey [32]byte }

func (c *chain) same(o *chain) bool {
	return c.chainKey == o.chainKey // want secret-compare
}

func encode(privateKey []byte) string {
	return base64.StdEncoding.EncodeToString(privateKey) // want secret-base64
}

func decode(s string) []byte {
	seed, _ := base64.RawStdEncoding.DecodeString(s) // want secret-base64
	return seed
}

func jitter() int { return rand.Intn(3) }

var errBadKey = errors.New("bad key")

func keyError(err error) bool {
	return err == errBadKey // want error-compare
}
