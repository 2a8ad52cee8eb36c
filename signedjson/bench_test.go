package signedjson_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/signedjson"
)

// deviceKeys is a typical device keys object as /keys/query returns it,
// with a self-signature, a cross-signing signature and unsigned data, laid
// out as a server might send it.
const deviceKeys = `{
  "user_id": "@alice:example.org",
  "device_id": "JLAFKJWSCS",
  "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
  "keys": {
    "curve25519:JLAFKJWSCS": "3C5BFWi2Y8MaVvjM8M22DBmh24PmgR0nPvJOIArzgyI",
    "ed25519:JLAFKJWSCS": "lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI"
  },
  "signatures": {
    "@alice:example.org": {
      "ed25519:JLAFKJWSCS": "dSO80A01XiigH3uBiDVx/EjzaoycHcjq9lfQX0uWsqxl2giMIiSPR8a4d291W1ihKJL/a+myXS367WT6NAIcBA",
      "ed25519:yoNrvX9kx4938hM1+iJMjY7T3duRg1KrFUIKqLNdo2g": "oRAzej+qbYReAesUsf+uHyEL2st+fhej3hv7Zz1VvNG9plxZj6d4DqjPrcf7zE7RMP1JBiMPZ2o+cGdXhvfmAA"
    }
  },
  "unsigned": {"device_display_name": "Alice's mobile phone"}
}`

// BenchmarkCanonicalDeviceKeys measures the canonical encoding of a
// typical device keys object (the internal encoder alone).
func BenchmarkCanonicalDeviceKeys(b *testing.B) {
	b.SetBytes(int64(len(deviceKeys)))
	for b.Loop() {
		if _, err := canonicaljson.Canonicalize([]byte(deviceKeys)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseDeviceKeys measures Parse of the same object, which
// canonicalizes it and prepares the signed bytes.
func BenchmarkParseDeviceKeys(b *testing.B) {
	b.SetBytes(int64(len(deviceKeys)))
	for b.Loop() {
		if _, err := signedjson.Parse([]byte(deviceKeys)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign measures parsing and signing a device keys object and
// encoding the result.
func BenchmarkSign(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	for b.Loop() {
		if _, err := signedjson.Sign([]byte(deviceKeys), "@alice:example.org", "ed25519:JLAFKJWSCS", key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures checking one signature of a parsed object.
func BenchmarkVerify(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	signed, err := signedjson.Sign([]byte(deviceKeys), "@alice:example.org", "ed25519:JLAFKJWSCS", key)
	if err != nil {
		b.Fatal(err)
	}
	obj, err := signedjson.Parse(signed)
	if err != nil {
		b.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	for b.Loop() {
		if err := obj.Verify("@alice:example.org", "ed25519:JLAFKJWSCS", pub); err != nil {
			b.Fatal(err)
		}
	}
}
