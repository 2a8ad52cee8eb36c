// Package good holds code that seccheck must not report: constant-time
// comparisons of secrets, and ordinary comparisons of public values.
package good

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
)

const algorithm = "m.secret_storage.v1.aes-hmac-sha2"

type message struct {
	MAC        []byte
	Ciphertext []byte
	Algorithm  string
	RatchetKey [32]byte
}

func verify(key []byte, m *message) bool {
	mac := hmac.New(sha256.New, key)
	mac.Write(m.Ciphertext)
	if m.MAC == nil || len(m.MAC) != 8 { // nil and length checks are fine
		return false
	}
	return hmac.Equal(mac.Sum(nil)[:8], m.MAC)
}

func other(m, o *message, tagLen int) bool {
	return m.Algorithm == algorithm && // a constant named "secret" is no secret
		m.RatchetKey == o.RatchetKey && // a public key
		tagLen == 8 && // not a byte type
		bytes.Equal(m.Ciphertext, o.Ciphertext) &&
		subtle.ConstantTimeCompare(m.MAC, o.MAC) == 1
}

func publicKey(pub []byte) string { return base64.RawStdEncoding.EncodeToString(pub) }

func block(key []byte) { aes.NewCipher(key) }

var errBadKey = errors.New("bad key")

func keyError(err error) bool {
	return errors.Is(err, errBadKey) || err == io.EOF || err != nil
}
