package qrlogin

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha3"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func drawInput(r io.Reader) []byte {
	var l [1]byte
	r.Read(l[:])
	b := make([]byte, l[0])
	r.Read(b)
	return b
}

// TestRFC9180Vector checks the HPKE key schedule, sealing and exporter
// against the RFC's vector for the suite MSC4388 uses.
func TestRFC9180Vector(t *testing.T) {
	data, err := os.ReadFile("testdata/rfc9180-x25519-chacha.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vector struct {
			Info, IkmE, SkRm, PkRm, Enc string
			AccEnc                      string `json:"encryptions_accumulated"`
			AccExp                      string `json:"exports_accumulated"`
		} `json:"vector"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	v := f.Vector
	// RFC 9180 DeriveKeyPair from ikmE gives the ephemeral key; crypto/hpke
	// implements it.
	skE, err := hpke.DHKEM(ecdh.X25519()).DeriveKeyPair(mustHex(t, v.IkmE))
	if err != nil {
		t.Fatal(err)
	}
	skEBytes, err := skE.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pkR, err := NewPublicKey(mustHex(t, v.PkRm))
	if err != nil {
		t.Fatal(err)
	}
	info := mustHex(t, v.Info)
	enc, sender, err := hpkeSetupSender(pkR, (*[32]byte)(skEBytes), info)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(enc.Bytes()), v.Enc; got != want {
		t.Fatalf("enc = %s, want %s", got, want)
	}
	skR, err := ecdh.X25519().NewPrivateKey(mustHex(t, v.SkRm))
	if err != nil {
		t.Fatal(err)
	}
	recipient, err := hpkeSetupRecipient(enc, skR, info)
	if err != nil {
		t.Fatal(err)
	}
	source, sink := sha3.NewSHAKE128(), sha3.NewSHAKE128()
	for range 1000 {
		aad, pt := drawInput(source), drawInput(source)
		ct, err := sender.aead.seal(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		sink.Write(ct)
		got, err := recipient.aead.open(ct, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("open: %x, %v", got, err)
		}
	}
	acc := make([]byte, 16)
	sink.Read(acc)
	if got := hex.EncodeToString(acc); got != v.AccEnc {
		t.Errorf("accumulated encryptions = %s, want %s", got, v.AccEnc)
	}
	source, sink = sha3.NewSHAKE128(), sha3.NewSHAKE128()
	for l := range 1000 {
		ctx := drawInput(source)
		got := sender.export(ctx, l)
		if !bytes.Equal(got, recipient.export(ctx, l)) {
			t.Fatal("sender and recipient exports differ")
		}
		sink.Write(got)
	}
	sink.Read(acc)
	if got := hex.EncodeToString(acc); got != v.AccExp {
		t.Errorf("accumulated exports = %s, want %s", got, v.AccExp)
	}
}

// TestHPKEAgainstStandardLibrary runs our key schedule against crypto/hpke
// in both directions on random keys: same ciphertexts opened, same exports.
func TestHPKEAgainstStandardLibrary(t *testing.T) {
	kem := hpke.DHKEM(ecdh.X25519())
	for i := range 20 {
		skR, err := kem.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		skRBytes, _ := skR.Bytes()
		pkR, _ := NewPublicKey(skR.PublicKey().Bytes())
		info := []byte(infoPrefix)
		aad := []byte{byte(i)}

		// Ours seals, the standard library opens.
		var eph [32]byte
		rand.Read(eph[:])
		enc, ours, err := hpkeSetupSender(pkR, &eph, info)
		if err != nil {
			t.Fatal(err)
		}
		std, err := hpke.NewRecipient(enc.Bytes(), skR, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), info)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			pt := bytes.Repeat([]byte{byte(j)}, j*7)
			ct, err := ours.aead.seal(pt, aad)
			if err != nil {
				t.Fatal(err)
			}
			got, err := std.Open(aad, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("crypto/hpke open of message %d: %x, %v", j, got, err)
			}
		}
		exp, err := std.Export("MATRIX_QR_CODE_LOGIN_RESPONSE", 32)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(exp, ours.export([]byte("MATRIX_QR_CODE_LOGIN_RESPONSE"), 32)) {
			t.Fatal("exports differ")
		}

		// The standard library seals, ours opens.
		stdPK, _ := kem.NewPublicKey(pkR.Bytes())
		encB, stdS, err := hpke.NewSender(stdPK, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), info)
		if err != nil {
			t.Fatal(err)
		}
		encKey, _ := NewPublicKey(encB)
		priv, _ := ecdh.X25519().NewPrivateKey(skRBytes)
		rcv, err := hpkeSetupRecipient(encKey, priv, info)
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := stdS.Seal(aad, []byte("hello"))
		if got, err := rcv.aead.open(ct, aad); err != nil || string(got) != "hello" {
			t.Fatalf("our open of crypto/hpke's message: %q, %v", got, err)
		}
		e1, _ := stdS.Export("x", 2)
		if !bytes.Equal(e1, rcv.export([]byte("x"), 2)) {
			t.Fatal("exports differ")
		}
	}
}

// TestECIESNonce checks vodozemac's nonce layout: the counter little-endian
// in the first bytes, from 0.
func TestECIESNonce(t *testing.T) {
	c := aeadContext{littleEndian: true}
	if n := c.nonce(); n != [12]byte{} {
		t.Errorf("first nonce %x", n)
	}
	c.seq = 1
	if n := c.nonce(); n != [12]byte{1} {
		t.Errorf("second nonce %x", n)
	}
	c.seq = 0x0102
	if n := c.nonce(); n != [12]byte{2, 1} {
		t.Errorf("nonce 0x0102 %x", n)
	}
	h := aeadContext{baseNonce: [12]byte{11: 0xf0}, seq: 0x0102}
	if n := h.nonce(); n != [12]byte{10: 1, 11: 0xf2} {
		t.Errorf("HPKE nonce %x", n)
	}
}

// TestCounterExhausted checks that the last nonce is never used.
func TestCounterExhausted(t *testing.T) {
	c := aeadContext{seq: math.MaxUint64 - 1}
	if _, err := c.seal(nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.seal(nil, nil); !errors.Is(err, ErrTooManyMessages) {
		t.Fatalf("seal at 2^64-1: %v, want ErrTooManyMessages", err)
	}
	d := aeadContext{seq: math.MaxUint64}
	if _, err := d.open(make([]byte, 16), nil); !errors.Is(err, ErrTooManyMessages) {
		t.Fatalf("open at 2^64-1: %v", err)
	}
}

// TestFormatHidesKeys: no formatting verb prints a channel key, in hex,
// base64 or as bytes.
func TestFormatHidesKeys(t *testing.T) {
	fx := newFuzzFixture(t)
	e, _ := newECIES(seed(9))
	r, _ := newHPKERecipient(seed(10))
	values := []any{fx.eciesG, fx.hpkeG, e, r}
	keys := [][]byte{fx.eciesG.enc.key[:], fx.eciesG.dec.key[:], fx.hpkeG.seal.key[:], fx.hpkeG.open.key[:], seed(9)[:], seed(10)[:]}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
			out := fmt.Sprintf(verb, v)
			for _, k := range keys {
				for _, enc := range []string{hex.EncodeToString(k), base64.RawStdEncoding.EncodeToString(k), fmt.Sprint(k), strings.Trim(fmt.Sprintf("%#v", k), "[]byte{}")} {
					if strings.Contains(out, enc) {
						t.Errorf("%T with %s prints a key: %s", v, verb, out)
					}
				}
			}
		}
	}
}
