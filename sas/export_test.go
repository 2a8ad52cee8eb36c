package sas

import "io"

// Test hooks.

var (
	NewFromRandom       = newFromRandom
	LibolmInPlaceBase64 = libolmInPlaceBase64
)

// SharedSecret returns a copy of the X25519 shared secret.
func (e *EstablishedSAS) SharedSecret() []byte { return append([]byte(nil), e.secret[:]...) }

// SetRandom makes the machine draw its transaction IDs, ephemeral keys and
// QR secrets from r.
func (m *Machine) SetRandom(r io.Reader) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.random = r
}
