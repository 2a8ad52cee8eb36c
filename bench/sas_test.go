package bench_test

import (
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/hkdf"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/sas"
)

// The SAS benchmark is one side's cryptography in a verification: a fresh
// ephemeral key, the shared secret with the other side's key, the 6 bytes
// of the short authentication string, and the MAC of one key
// (hkdf-hmac-sha256.v2). goolm has no SAS; impl=goolm is the sequence of
// calls mautrix's pure-Go verificationhelper makes (crypto/ecdh,
// x/crypto/hkdf, crypto/hmac), which computes the shared secret again for
// each MAC, as verificationhelper/sas.go does.

var (
	sasAlice = sas.Party{UserID: "@alice:example.org", DeviceID: "ALICEDEVICE"}
	sasBob   = sas.Party{UserID: "@bob:example.org", DeviceID: "BOBDEVICE"}
	sasTxn   = "0123456789abcdefghijklmnopqrstuv"
	// sasMACInput is the key MACed: Alice's Ed25519 device key, base64.
	sasMACInput = "yDa7Iu2IRyLYGBBM3XJC0R2nxcEL8f2hLdyxHdBYdhE"
)

func BenchmarkSAS(b *testing.B) {
	other := mustV[*sas.SAS](b)(sas.New()).PublicKey()
	otherB64 := other.String()
	macInfo := sas.MACInfo(sasAlice, sasBob, sasTxn, "ed25519:ALICEDEVICE")
	runImpl(b, implSouverain, func(b *testing.B) {
		for b.Loop() {
			s := mustV[*sas.SAS](b)(sas.New())
			e := mustV[*sas.EstablishedSAS](b)(s.Establish(other))
			e.ShortAuthString(sas.SASInfo(sasAlice, s.PublicKey(), sasBob, other, sasTxn))
			mustV[string](b)(e.MAC(sas.MACHKDFHMACSHA256V2, sasMACInput, macInfo))
			e.Close()
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		theirKey := mustV[*ecdh.PublicKey](b)(ecdh.X25519().NewPublicKey(other[:]))
		for b.Loop() {
			priv := mustV[*ecdh.PrivateKey](b)(ecdh.X25519().GenerateKey(rand.Reader))
			secret := mustV[[]byte](b)(priv.ECDH(theirKey))
			info := "MATRIX_KEY_VERIFICATION_SAS|" + strings.Join([]string{
				sasAlice.UserID, sasAlice.DeviceID, b64.EncodeToString(priv.PublicKey().Bytes()),
				sasBob.UserID, sasBob.DeviceID, otherB64, sasTxn}, "|")
			sasBytes := make([]byte, 6)
			mustV[int](b)(io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte(info)), sasBytes))
			secret = mustV[[]byte](b)(priv.ECDH(theirKey))
			macKey := make([]byte, 32)
			mustV[int](b)(io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte(macInfo)), macKey))
			h := hmac.New(sha256.New, macKey)
			h.Write([]byte(sasMACInput))
			_ = b64.EncodeToString(h.Sum(nil))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		random := make([]byte, libolm.SASRandomLength())
		for b.Loop() {
			rand.Read(random)
			s := mustV[*libolm.SAS](b)(libolm.NewSAS(random))
			ours := mustV[string](b)(s.PublicKey())
			must(b, s.SetTheirKey(otherB64))
			info := "MATRIX_KEY_VERIFICATION_SAS|" + strings.Join([]string{
				sasAlice.UserID, sasAlice.DeviceID, ours,
				sasBob.UserID, sasBob.DeviceID, otherB64, sasTxn}, "|")
			mustV[[]byte](b)(s.GenerateBytes(info, 6))
			mustV[string](b)(s.CalculateMACFixedBase64(sasMACInput, macInfo))
			s.Free()
		}
	})
	sasInfoLen := len(sas.SASInfo(sasAlice, other, sasBob, other, sasTxn))
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			fl.x25519Base()
			fl.x25519DH()
			fl.hkdf(6, sasInfoLen)
			fl.hkdf(32, len(macInfo))
			fl.hmac(len(sasMACInput))
		}
	})
}
