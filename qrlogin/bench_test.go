package qrlogin_test

import (
	"testing"

	"github.com/souverain/e2ee/qrlogin"
)

// BenchmarkECIESHandshake: both sides of an MSC4108 channel, from key
// generation to the established channels with the first message opened.
func BenchmarkECIESHandshake(b *testing.B) {
	pt := []byte("MATRIX_QR_CODE_LOGIN_INITIATE")
	for b.Loop() {
		g, _ := qrlogin.GenerateECIES()
		s, _ := qrlogin.GenerateECIES()
		_, first, err := s.EstablishOutbound(g.PublicKey(), pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := g.EstablishInbound(first); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHPKEHandshake: both sides of an MSC4388 channel, from key
// generation to the bidirectional channels (first message and initial
// response).
func BenchmarkHPKEHandshake(b *testing.B) {
	pt := []byte("MATRIX_QR_CODE_LOGIN_INITIATE")
	for b.Loop() {
		r, _ := qrlogin.GenerateHPKERecipient()
		sender, first, err := qrlogin.EstablishHPKESender(r.PublicKey(), pt, nil)
		if err != nil {
			b.Fatal(err)
		}
		half, _, err := r.Establish(first, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, resp, err := half.Respond(pt, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := sender.Establish(resp, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkECIESMessage: one 1 KiB message encrypted and decrypted.
func BenchmarkECIESMessage(b *testing.B) {
	g, s := eciesPair(b)
	pt := make([]byte, 1024)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		m, _ := s.Encrypt(pt)
		if _, err := g.Decrypt(m); err != nil {
			b.Fatal(err)
		}
	}
}
