package ed25519_test

import (
	"bytes"
	stded25519 "crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"filippo.io/edwards25519"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/ed25519"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := b64.Decode(s)
	require.NoError(t, err)
	return b
}

// TestRFC8032 checks TEST 1, 2 and 3 of RFC 8032, section 7.1.
func TestRFC8032(t *testing.T) {
	tests := []struct {
		name, seed, public, msg, sig string
	}{
		{
			"TEST 1",
			"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
			"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
			"",
			"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
		},
		{
			"TEST 2",
			"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
			"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
			"72",
			"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
		},
		{
			"TEST 3",
			"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
			"fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
			"af82",
			"6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed, public, msg, sig := mustHex(t, tt.seed), mustHex(t, tt.public), mustHex(t, tt.msg), mustHex(t, tt.sig)
			k, err := ed25519.NewKeyFromSeed(seed)
			require.NoError(t, err)
			pub := k.Public()
			if diff := cmp.Diff(public, pub[:]); diff != "" {
				t.Errorf("Public() mismatch (-want +got):\n%s", diff)
			}
			got := k.Sign(msg)
			if diff := cmp.Diff(sig, got[:]); diff != "" {
				t.Errorf("Sign() mismatch (-want +got):\n%s", diff)
			}
			if err := ed25519.Verify(public, msg, sig); err != nil {
				t.Errorf("Verify: %v", err)
			}
			// The same key restored from libolm's stored form signs the same.
			exp := k.Expanded()
			k2, err := ed25519.NewKeyFromExpanded(exp[:], public)
			require.NoError(t, err)
			if got := k2.Sign(msg); !bytes.Equal(got[:], sig) {
				t.Errorf("Sign() from expanded key = %x, want %x", got, sig)
			}
		})
	}
}

const (
	matrixSeed   = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
	matrixPublic = "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI"
)

// TestMatrixSpecVectors checks the JSON signing vectors of the Matrix
// specification (appendices, "Cryptographic Test Vectors"; shared vector ids
// spec-json-signing-1 and -2). The messages are the canonical JSON.
func TestMatrixSpecVectors(t *testing.T) {
	tests := []struct {
		id, msg, sig string
	}{
		{"spec-json-signing-1", `{}`, "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"},
		{"spec-json-signing-2", `{"one":1,"two":"Two"}`, "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"},
	}
	k, err := ed25519.NewKeyFromSeed(mustB64(t, matrixSeed))
	require.NoError(t, err)
	pub := k.Public()
	if got := b64.Encode(pub[:]); got != matrixPublic {
		t.Fatalf("public key = %s, want %s", got, matrixPublic)
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			sig := k.Sign([]byte(tt.msg))
			if got := b64.Encode(sig[:]); got != tt.sig {
				t.Errorf("Sign(%s) = %s, want %s", tt.msg, got, tt.sig)
			}
			if err := ed25519.Verify(mustB64(t, matrixPublic), []byte(tt.msg), mustB64(t, tt.sig)); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// TestMatchesStdlib signs with many random seeds and messages and compares
// with crypto/ed25519, from the seed and from the expanded key.
func TestMatchesStdlib(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 50
	}
	for i := range n {
		seed := randBytes(t, 32)
		msg := randBytes(t, i%200)
		std := stded25519.NewKeyFromSeed(seed)
		want := stded25519.Sign(std, msg)

		k, err := ed25519.NewKeyFromSeed(seed)
		require.NoError(t, err)
		pub := k.Public()
		if !bytes.Equal(pub[:], std.Public().(stded25519.PublicKey)) {
			t.Fatalf("seed %x: Public() = %x, want %x", seed, pub, std.Public())
		}
		if got := k.Sign(msg); !bytes.Equal(got[:], want) {
			t.Fatalf("seed %x, msg %x: Sign() = %x, want %x", seed, msg, got, want)
		}
		exp := k.Expanded()
		k2, err := ed25519.NewKeyFromExpanded(exp[:], pub[:])
		require.NoError(t, err)
		if got := k2.Sign(msg); !bytes.Equal(got[:], want) {
			t.Fatalf("seed %x, msg %x: Sign() from expanded = %x, want %x", seed, msg, got, want)
		}
		if err := ed25519.Verify(pub[:], msg, want); err != nil {
			t.Fatalf("seed %x, msg %x: Verify: %v", seed, msg, err)
		}
	}
}

// TestExpandedLayout proves libolm's layout: the expanded key is SHA-512 of
// the seed with the first half clamped (libolm lib/ed25519/src/keypair.c).
func TestExpandedLayout(t *testing.T) {
	for _, seed := range [][]byte{mustB64(t, matrixSeed), make([]byte, 32), bytes.Repeat([]byte{0xff}, 32), randBytes(t, 32)} {
		want := sha512.Sum512(seed)
		want[0] &= 248
		want[31] &= 127
		want[31] |= 64
		k, err := ed25519.NewKeyFromSeed(seed)
		require.NoError(t, err)
		if got := k.Expanded(); got != want {
			t.Errorf("seed %x: Expanded() = %x, want %x", seed, got, want)
		}
	}
}

func TestNewKeyFromSeedLengths(t *testing.T) {
	for n := range 71 {
		_, err := ed25519.NewKeyFromSeed(make([]byte, n))
		if n == ed25519.SeedSize {
			require.NoError(t, err)
			continue
		}
		if !errors.Is(err, ed25519.ErrInvalidKey) {
			t.Errorf("NewKeyFromSeed(%d bytes) error = %v, want ErrInvalidKey", n, err)
		}
	}
}

func TestNewKeyFromExpanded(t *testing.T) {
	k, err := ed25519.NewKeyFromSeed(mustB64(t, matrixSeed))
	require.NoError(t, err)
	exp, pub := k.Expanded(), k.Public()
	msg := []byte("message")
	want := k.Sign(msg)

	t.Run("lengths", func(t *testing.T) {
		for n := range 71 {
			if n != ed25519.ExpandedSize {
				if _, err := ed25519.NewKeyFromExpanded(make([]byte, n), pub[:]); !errors.Is(err, ed25519.ErrInvalidKey) {
					t.Errorf("expanded of %d bytes: error = %v, want ErrInvalidKey", n, err)
				}
			}
			if n != ed25519.PublicKeySize {
				if _, err := ed25519.NewKeyFromExpanded(exp[:], make([]byte, n)); !errors.Is(err, ed25519.ErrInvalidKey) {
					t.Errorf("public of %d bytes: error = %v, want ErrInvalidKey", n, err)
				}
			}
		}
	})

	t.Run("scalar bit flipped", func(t *testing.T) {
		for bit := range 256 {
			bad := exp
			bad[bit/8] ^= 1 << (bit % 8)
			if _, err := ed25519.NewKeyFromExpanded(bad[:], pub[:]); !errors.Is(err, ed25519.ErrInvalidKey) {
				t.Fatalf("bit %d: error = %v, want ErrInvalidKey", bit, err)
			}
		}
	})

	t.Run("public bit flipped", func(t *testing.T) {
		for bit := range 256 {
			bad := pub
			bad[bit/8] ^= 1 << (bit % 8)
			if _, err := ed25519.NewKeyFromExpanded(exp[:], bad[:]); !errors.Is(err, ed25519.ErrInvalidKey) {
				t.Fatalf("bit %d: error = %v, want ErrInvalidKey", bit, err)
			}
		}
	})

	t.Run("other key's public", func(t *testing.T) {
		other, err := ed25519.NewKeyFromSeed(make([]byte, 32))
		require.NoError(t, err)
		op := other.Public()
		if _, err := ed25519.NewKeyFromExpanded(exp[:], op[:]); !errors.Is(err, ed25519.ErrInvalidKey) {
			t.Fatalf("error = %v, want ErrInvalidKey", err)
		}
	})

	t.Run("zero scalar", func(t *testing.T) {
		var zero [64]byte
		identity := make([]byte, 32)
		identity[0] = 1
		if _, err := ed25519.NewKeyFromExpanded(zero[:], identity); !errors.Is(err, ed25519.ErrInvalidKey) {
			t.Fatalf("error = %v, want ErrInvalidKey", err)
		}
	})

	t.Run("prefix is not checked", func(t *testing.T) {
		other := exp
		other[40] ^= 1
		k2, err := ed25519.NewKeyFromExpanded(other[:], pub[:])
		require.NoError(t, err)
		sig := k2.Sign(msg)
		if sig == want {
			t.Error("a different prefix gave the same signature")
		}
		if err := ed25519.Verify(pub[:], msg, sig[:]); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})

	// The scalar is used reduced modulo ℓ, as libolm's sc_muladd does, so
	// a + ℓ is the same key and signs the same.
	t.Run("scalar plus group order", func(t *testing.T) {
		a := leToInt(exp[:32])
		a.Add(a, groupOrder)
		other := exp
		copy(other[:32], intToLE(a))
		k2, err := ed25519.NewKeyFromExpanded(other[:], pub[:])
		require.NoError(t, err)
		if got := k2.Sign(msg); got != want {
			t.Errorf("Sign() = %x, want %x", got, want)
		}
	})

	t.Run("inputs copied", func(t *testing.T) {
		e, p := exp, pub
		k2, err := ed25519.NewKeyFromExpanded(e[:], p[:])
		require.NoError(t, err)
		clear(e[:])
		clear(p[:])
		if got := k2.Sign(msg); got != want {
			t.Errorf("Sign() after clearing inputs = %x, want %x", got, want)
		}
	})
}

func TestZeroValuePanics(t *testing.T) {
	var k ed25519.PrivateKey
	require.Panics(t, func() { k.Sign(nil) })
	require.Panics(t, func() { k.Public() })
	require.Panics(t, func() { k.Expanded() })
	if got := fmt.Sprint(k); strings.Contains(got, "public:") {
		t.Errorf("zero value prints %q", got)
	}
}

// TestFormatHidesSecret prints keys with every common verb and checks that no
// secret bytes appear, in hex or base64.
func TestFormatHidesSecret(t *testing.T) {
	seed := mustB64(t, matrixSeed)
	k, err := ed25519.NewKeyFromSeed(seed)
	require.NoError(t, err)
	exp := k.Expanded()
	pub := k.Public()

	var secrets []string
	for _, s := range [][]byte{seed, exp[:], exp[:32], exp[32:], exp[:16], exp[32:48]} {
		secrets = append(secrets,
			hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
			base64.StdEncoding.EncodeToString(s), base64.RawStdEncoding.EncodeToString(s),
			base64.URLEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s),
		)
	}
	// Decimal bytes as %v of a byte array would print them.
	secrets = append(secrets, strings.Trim(fmt.Sprint(exp[:8]), "[]"), strings.Trim(fmt.Sprint(exp[32:40]), "[]"))

	type wrapper struct{ Key *ed25519.PrivateKey }
	type valueWrapper struct{ Key ed25519.PrivateKey }
	values := map[string]any{
		"pointer":       k,
		"value":         *k,
		"struct":        wrapper{k},
		"value struct":  valueWrapper{*k},
		"slice":         []*ed25519.PrivateKey{k},
		"map":           map[string]ed25519.PrivateKey{"k": *k},
		"nil pointer":   (*ed25519.PrivateKey)(nil),
		"zero value":    ed25519.PrivateKey{},
		"pointer slice": []ed25519.PrivateKey{*k},
	}
	wantPublic := "ed25519.PrivateKey(public: " + b64.Encode(pub[:]) + ")"
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T %v"} {
			t.Run(name+"/"+verb, func(t *testing.T) {
				out := fmt.Sprintf(verb, v, v)
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Fatalf("Sprintf(%q) = %q contains secret %q", verb, out, s)
					}
				}
				if strings.Contains(name, "nil") || strings.Contains(name, "zero") {
					return
				}
				if !strings.Contains(out, wantPublic) {
					t.Errorf("Sprintf(%q) = %q, want it to contain %q", verb, out, wantPublic)
				}
			})
		}
	}
	if got := k.String(); got != wantPublic {
		t.Errorf("String() = %q, want %q", got, wantPublic)
	}
	if got := k.GoString(); got != wantPublic {
		t.Errorf("GoString() = %q, want %q", got, wantPublic)
	}
}

// groupOrder is ℓ = 2^252 + 27742317777372353535851937790883648493.
var groupOrder, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

func leToInt(b []byte) *big.Int {
	be := bytes.Clone(b)
	for i, j := 0, len(be)-1; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return new(big.Int).SetBytes(be)
}

func intToLE(x *big.Int) []byte {
	b := x.FillBytes(make([]byte, 32))
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

// smallOrder lists the 8 points of small order in canonical encoding, then the
// 6 non-canonical encodings of such points ("Taming the many EdDSAs", table 5).
var smallOrder = []struct {
	name, hex string
	canonical bool
}{
	{"identity", "0100000000000000000000000000000000000000000000000000000000000000", true},
	{"order 2", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true},
	{"order 4, x positive", "0000000000000000000000000000000000000000000000000000000000000000", true},
	{"order 4, x negative", "0000000000000000000000000000000000000000000000000000000000000080", true},
	{"order 8 #1", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", true},
	{"order 8 #2", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", true},
	{"order 8 #3", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", true},
	{"order 8 #4", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", true},
	{"identity, x sign set", "0100000000000000000000000000000000000000000000000000000000000080", false},
	{"order 2, x sign set", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false},
	{"order 4, y = p", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false},
	{"order 4, y = p, x sign set", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false},
	{"identity, y = p+1", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false},
	{"identity, y = p+1, x sign set", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false},
}

// TestSmallOrderTable checks the table itself with edwards25519.
func TestSmallOrderTable(t *testing.T) {
	identity := edwards25519.NewIdentityPoint()
	for _, p := range smallOrder {
		b := mustHex(t, p.hex)
		pt, err := new(edwards25519.Point).SetBytes(b)
		if err != nil {
			t.Errorf("%s: not a point: %v", p.name, err)
			continue
		}
		if new(edwards25519.Point).MultByCofactor(pt).Equal(identity) != 1 {
			t.Errorf("%s: not of small order", p.name)
		}
		if got := bytes.Equal(pt.Bytes(), b); got != p.canonical {
			t.Errorf("%s: canonical = %v, want %v", p.name, got, p.canonical)
		}
	}
}

func TestVerifySmallOrderPublicKey(t *testing.T) {
	msg := []byte("message")
	for _, p := range smallOrder {
		t.Run(p.name, func(t *testing.T) {
			pub := mustHex(t, p.hex)
			// With A and R the identity and S = 0, [S]B = R + [k]A holds
			// for every message, so crypto/ed25519 accepts it.
			sig := make([]byte, 64)
			sig[0] = 1
			if err := ed25519.Verify(pub, msg, sig); !errors.Is(err, ed25519.ErrInvalidKey) {
				t.Errorf("Verify error = %v, want ErrInvalidKey", err)
			}
		})
	}
	identity := mustHex(t, smallOrder[0].hex)
	sig := make([]byte, 64)
	sig[0] = 1
	if !stded25519.Verify(identity, msg, sig) {
		t.Error("crypto/ed25519 no longer accepts the identity forgery; the test lost its point")
	}
}

// TestVerifySmallOrderR makes, for each small-order R, the signature that the
// cofactorless equation accepts (S = k·a with the real private scalar) and
// expects Verify to refuse it.
func TestVerifySmallOrderR(t *testing.T) {
	k, err := ed25519.NewKeyFromSeed(mustB64(t, matrixSeed))
	require.NoError(t, err)
	exp, pub := k.Expanded(), k.Public()
	a, err := new(edwards25519.Scalar).SetBytesWithClamping(exp[:32])
	require.NoError(t, err)
	msg := []byte(`{"one":1,"two":"Two"}`)
	for _, p := range smallOrder {
		t.Run(p.name, func(t *testing.T) {
			R := mustHex(t, p.hex)
			h := sha512.New()
			h.Write(R)
			h.Write(pub[:])
			h.Write(msg)
			c, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
			require.NoError(t, err)
			S := new(edwards25519.Scalar).Multiply(c, a)
			sig := append(bytes.Clone(R), S.Bytes()...)
			if err := ed25519.Verify(pub[:], msg, sig); !errors.Is(err, ed25519.ErrBadSignature) {
				t.Errorf("Verify error = %v, want ErrBadSignature", err)
			}
			// [S]B = R + [k]A holds only if R's point is the identity;
			// for the canonical identity crypto/ed25519 accepts.
			if p.name == "identity" && !stded25519.Verify(pub[:], msg, sig) {
				t.Error("crypto/ed25519 rejects the identity-R forgery; the test lost its point")
			}
		})
	}
}

// TestVerifyNonCanonicalPublicKey encodes the points with y < 19 that are
// not of small order with y + p, which decoders that reduce y accept.
func TestVerifyNonCanonicalPublicKey(t *testing.T) {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	found := 0
	for y := int64(2); y < 19; y++ {
		for _, sign := range []byte{0, 0x80} {
			canon := intToLE(big.NewInt(y))
			canon[31] |= sign
			if _, err := new(edwards25519.Point).SetBytes(canon); err != nil {
				continue // no such point
			}
			found++
			nonCanon := intToLE(new(big.Int).Add(big.NewInt(y), p))
			nonCanon[31] |= sign
			_, err := new(edwards25519.Point).SetBytes(nonCanon)
			require.NoError(t, err, "edwards25519 is expected to accept non-canonical encodings")
			sig := make([]byte, 64)
			sig[0] = 1
			if err := ed25519.Verify(nonCanon, nil, sig); !errors.Is(err, ed25519.ErrInvalidKey) {
				t.Errorf("y = %d + p, sign %#x: Verify error = %v, want ErrInvalidKey", y, sign, err)
			}
		}
	}
	if found == 0 {
		t.Fatal("no points with small y found")
	}
}

func TestVerifyNonCanonicalS(t *testing.T) {
	k, err := ed25519.NewKeyFromSeed(mustB64(t, matrixSeed))
	require.NoError(t, err)
	pub := k.Public()
	msg := []byte("{}")
	sig := k.Sign(msg)
	require.NoError(t, ed25519.Verify(pub[:], msg, sig[:]))

	s := leToInt(sig[32:])
	for name, bad := range map[string]*big.Int{
		"S+L":     new(big.Int).Add(s, groupOrder),
		"L":       new(big.Int).Set(groupOrder),
		"S+2L":    new(big.Int).Add(s, new(big.Int).Lsh(groupOrder, 1)),
		"2^256-1": new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)),
	} {
		t.Run(name, func(t *testing.T) {
			if bad.BitLen() > 256 {
				t.Skip("does not fit")
			}
			forged := sig
			copy(forged[32:], intToLE(bad))
			if err := ed25519.Verify(pub[:], msg, forged[:]); !errors.Is(err, ed25519.ErrBadSignature) {
				t.Errorf("Verify error = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestVerifyFlippedBits(t *testing.T) {
	k, err := ed25519.NewKeyFromSeed(mustB64(t, matrixSeed))
	require.NoError(t, err)
	pub := k.Public()
	msg := []byte(`{"one":1,"two":"Two"}`)
	sig := k.Sign(msg)
	require.NoError(t, ed25519.Verify(pub[:], msg, sig[:]))

	for bit := range 8 * ed25519.SignatureSize {
		bad := sig
		bad[bit/8] ^= 1 << (bit % 8)
		if err := ed25519.Verify(pub[:], msg, bad[:]); !errors.Is(err, ed25519.ErrBadSignature) {
			t.Errorf("signature bit %d: error = %v, want ErrBadSignature", bit, err)
		}
	}
	for bit := range 8 * len(msg) {
		bad := bytes.Clone(msg)
		bad[bit/8] ^= 1 << (bit % 8)
		if err := ed25519.Verify(pub[:], bad, sig[:]); !errors.Is(err, ed25519.ErrBadSignature) {
			t.Errorf("message bit %d: error = %v, want ErrBadSignature", bit, err)
		}
	}
	for bit := range 8 * ed25519.PublicKeySize {
		bad := pub
		bad[bit/8] ^= 1 << (bit % 8)
		err := ed25519.Verify(bad[:], msg, sig[:])
		if !errors.Is(err, ed25519.ErrBadSignature) && !errors.Is(err, ed25519.ErrInvalidKey) {
			t.Errorf("public key bit %d: error = %v, want ErrBadSignature or ErrInvalidKey", bit, err)
		}
	}
}

func TestVerifyLengths(t *testing.T) {
	k, err := ed25519.NewKeyFromSeed(mustB64(t, matrixSeed))
	require.NoError(t, err)
	pub := k.Public()
	msg := []byte("{}")
	sig := k.Sign(msg)
	long := append(append(sig[:], pub[:]...), make([]byte, 16)...)
	for n := range 71 {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if n != ed25519.PublicKeySize {
				if err := ed25519.Verify(long[:n], msg, sig[:]); !errors.Is(err, ed25519.ErrInvalidKey) {
					t.Errorf("public key of %d bytes: error = %v, want ErrInvalidKey", n, err)
				}
			}
			if n != ed25519.SignatureSize {
				if err := ed25519.Verify(pub[:], msg, long[:n]); !errors.Is(err, ed25519.ErrBadSignature) {
					t.Errorf("signature of %d bytes: error = %v, want ErrBadSignature", n, err)
				}
			}
		})
	}
	if err := ed25519.Verify(nil, nil, nil); !errors.Is(err, ed25519.ErrInvalidKey) {
		t.Errorf("Verify(nil, nil, nil) = %v, want ErrInvalidKey", err)
	}
}

func BenchmarkSign(b *testing.B) {
	k, err := ed25519.NewKeyFromSeed(make([]byte, 32))
	require.NoError(b, err)
	msg := make([]byte, 64)
	for b.Loop() {
		k.Sign(msg)
	}
}

func BenchmarkVerify(b *testing.B) {
	k, err := ed25519.NewKeyFromSeed(make([]byte, 32))
	require.NoError(b, err)
	msg := make([]byte, 64)
	sig := k.Sign(msg)
	pub := k.Public()
	for b.Loop() {
		if err := ed25519.Verify(pub[:], msg, sig[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStdlibSign(b *testing.B) {
	k := stded25519.NewKeyFromSeed(make([]byte, 32))
	msg := make([]byte, 64)
	for b.Loop() {
		stded25519.Sign(k, msg)
	}
}

func BenchmarkStdlibVerify(b *testing.B) {
	k := stded25519.NewKeyFromSeed(make([]byte, 32))
	msg := make([]byte, 64)
	sig := stded25519.Sign(k, msg)
	pub := k.Public().(stded25519.PublicKey)
	for b.Loop() {
		if !stded25519.Verify(pub, msg, sig) {
			b.Fatal("invalid")
		}
	}
}

func hexBytes(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestNewKeyFromStored(t *testing.T) {
	for range 20 {
		seed := make([]byte, 32)
		rand.Read(seed)
		k, err := ed25519.NewKeyFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		exp, pub := k.Expanded(), k.Public()
		s, err := ed25519.NewKeyFromStored(exp[:], pub[:])
		if err != nil {
			t.Fatal(err)
		}
		if s.Public() != pub || s.Sign([]byte("m")) != k.Sign([]byte("m")) {
			t.Fatal("stored key differs")
		}
	}
	if _, err := ed25519.NewKeyFromStored(make([]byte, 63), make([]byte, 32)); !errors.Is(err, ed25519.ErrInvalidKey) {
		t.Fatal("short expanded key accepted")
	}
	if _, err := ed25519.NewKeyFromStored(make([]byte, 64), make([]byte, 32)); !errors.Is(err, ed25519.ErrInvalidKey) {
		t.Fatal("zero scalar accepted")
	}
}
