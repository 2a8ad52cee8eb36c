package bench_test

// The floor: the primitives an operation cannot avoid, computed with the
// fastest code Go has for each, independently of souverain's internals
// wherever the standard library is as fast:
//
//   - X25519 public keys: a fixed-base scalar multiplication on the Edwards
//     form with filippo.io/edwards25519's precomputed table, mapped to
//     Montgomery u (crypto/ecdh uses the ladder for these, about 3× slower);
//   - X25519 shared secrets: crypto/ecdh's ECDH on keys made beforehand,
//     which is the Montgomery ladder alone;
//   - Ed25519: crypto/ed25519 (key from seed, sign, verify);
//   - HMAC-SHA-256 and HKDF: crypto/sha256 (SHA-NI on amd64) with the pads
//     built in place, no allocation, which is what crypto/hmac computes;
//   - AES-256-CBC: crypto/aes (AES-NI) with a fresh key schedule per
//     message, as every message has its own key, and PKCS#7 padding;
//   - random bytes: crypto/rand.
//
// Each operation's impl=floor sub-benchmark runs the sequence of these
// that the protocol prescribes, with the same sizes.

import (
	"crypto/aes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"hash"
	"testing"

	"filippo.io/edwards25519"

	"github.com/souverain/e2ee/internal/cipher"
	ied25519 "github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/x25519"
)

// fl holds the state the floor primitives reuse. The benchmarks are not
// parallel, except the scale ones, which use their own floorState.
type floorState struct {
	h        hash.Hash
	pad      [64]byte
	sum      [32]byte
	dhPriv   *ecdh.PrivateKey
	dhPub    *ecdh.PublicKey
	edPriv   ed25519.PrivateKey
	edPub    ed25519.PublicKey
	buf      []byte // scratch for the ciphers
	in       []byte // input of hashes and signatures, never written
	rnd      [160]byte
	sigCache map[int][]byte
}

func newFloorState() *floorState {
	st := &floorState{h: sha256.New(), buf: make([]byte, 1<<17), in: make([]byte, 1<<16), sigCache: map[int][]byte{}}
	st.dhPriv, _ = ecdh.X25519().GenerateKey(rand.Reader)
	other, _ := ecdh.X25519().GenerateKey(rand.Reader)
	st.dhPub = other.PublicKey()
	st.edPub, st.edPriv, _ = ed25519.GenerateKey(rand.Reader)
	return st
}

var fl = newFloorState()

// random reads n ≤ 160 random bytes.
func (st *floorState) random(n int) []byte {
	rand.Read(st.rnd[:n])
	return st.rnd[:n]
}

// x25519Base computes an X25519 public key from 32 random bytes.
func (st *floorState) x25519Base() [32]byte {
	priv := st.random(32)
	s, _ := edwards25519.NewScalar().SetBytesWithClamping(priv)
	var p edwards25519.Point
	p.ScalarBaseMult(s)
	var out [32]byte
	copy(out[:], p.BytesMontgomery())
	return out
}

// x25519DH computes one X25519 shared secret.
func (st *floorState) x25519DH() {
	if _, err := st.dhPriv.ECDH(st.dhPub); err != nil {
		panic(err)
	}
}

// ed25519Keygen derives an Ed25519 key pair from 32 random bytes.
func (st *floorState) ed25519Keygen() {
	ed25519.NewKeyFromSeed(st.random(32))
}

// sign signs n bytes.
func (st *floorState) sign(n int) {
	ed25519.Sign(st.edPriv, st.data(n))
}

// verify verifies a signature over n bytes.
func (st *floorState) verify(n int) {
	sig, ok := st.sigCache[n]
	if !ok {
		sig = ed25519.Sign(st.edPriv, st.data(n))
		st.sigCache[n] = sig
	}
	if !ed25519.Verify(st.edPub, st.data(n), sig) {
		panic("floor: verify")
	}
}

// data returns n bytes of scratch input (contents irrelevant).
func (st *floorState) data(n int) []byte { return st.in[:n] }

// hmac computes HMAC-SHA-256 with a 32-byte key over n bytes.
func (st *floorState) hmac(n int) { st.hmacOf(st.data(n)) }

func (st *floorState) hmacOf(data []byte) {
	key := st.sum
	for i := range 32 {
		st.pad[i] = key[i] ^ 0x36
	}
	for i := 32; i < 64; i++ {
		st.pad[i] = 0x36
	}
	st.h.Reset()
	st.h.Write(st.pad[:])
	st.h.Write(data)
	inner := st.h.Sum(st.sum[:0])
	for i := range 32 {
		st.pad[i] = key[i] ^ 0x5c
	}
	for i := 32; i < 64; i++ {
		st.pad[i] = 0x5c
	}
	st.h.Reset()
	st.h.Write(st.pad[:])
	st.h.Write(inner)
	st.h.Sum(st.sum[:0])
}

// hkdf computes HKDF-SHA-256 with n bytes of output and an info of
// infoLen bytes: one HMAC to extract, one per 32 bytes to expand.
func (st *floorState) hkdf(n, infoLen int) {
	st.hmac(32)
	for i := 0; i < n; i += 32 {
		if i == 0 {
			st.hmac(infoLen + 1)
		} else {
			st.hmac(32 + infoLen + 1)
		}
	}
}

// cbcEncrypt encrypts n bytes with AES-256-CBC and PKCS#7 padding under a
// fresh key schedule.
func (st *floorState) cbcEncrypt(n int) {
	block, _ := aes.NewCipher(st.rnd[:32])
	size := n + 16 - n%16
	out := st.buf[:size]
	prev := st.rnd[32:48]
	for i := 0; i < size; i += 16 {
		b := out[i : i+16]
		subtle.XORBytes(b, b, prev)
		block.Encrypt(b, b)
		prev = b
	}
}

// cbcDecrypt decrypts n bytes of plaintext's worth of AES-256-CBC under a
// fresh key schedule. The blocks are independent, so AES-NI pipelines
// them; crypto/cipher's CBC decrypter does the same.
func (st *floorState) cbcDecrypt(n int) {
	block, _ := aes.NewCipher(st.rnd[:32])
	size := n + 16 - n%16
	in := st.buf[:size]
	out := st.buf[size : 2*size]
	for i := 0; i < size; i += 16 {
		block.Decrypt(out[i:i+16], in[i:i+16])
	}
	subtle.XORBytes(out[16:], out[16:], in[:size-16])
}

var floorSizes = []int{0, 256, 1024, 4096}

// BenchmarkFloor measures the primitives the impl=floor sub-benchmarks are
// made of; impl=souverain is souverain's internal code for the same
// primitive, where it has its own.
func BenchmarkFloor(b *testing.B) {
	st := newFloorState()
	b.Run("prim=X25519Base", func(b *testing.B) {
		runImpl(b, implFloor, func(b *testing.B) {
			for b.Loop() {
				st.x25519Base()
			}
		})
		runImpl(b, implSouverain, func(b *testing.B) {
			var priv [32]byte
			for b.Loop() {
				rand.Read(priv[:])
				x25519.PublicKey(&priv)
			}
		})
	})
	b.Run("prim=X25519DH", func(b *testing.B) {
		runImpl(b, implFloor, func(b *testing.B) {
			for b.Loop() {
				st.x25519DH()
			}
		})
		runImpl(b, implSouverain, func(b *testing.B) {
			var priv, pub [32]byte
			rand.Read(priv[:])
			pub = x25519.PublicKey(&priv)
			for b.Loop() {
				if _, err := x25519.SharedSecret(&priv, &pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("prim=Ed25519Keygen", func(b *testing.B) {
		runImpl(b, implFloor, func(b *testing.B) {
			for b.Loop() {
				st.ed25519Keygen()
			}
		})
		runImpl(b, implSouverain, func(b *testing.B) {
			var seed [32]byte
			for b.Loop() {
				rand.Read(seed[:])
				mustV[*ied25519.PrivateKey](b)(ied25519.NewKeyFromSeed(seed[:]))
			}
		})
	})
	for _, n := range []int{64, 1024} {
		b.Run("prim=Ed25519Sign/size="+itoa(n), func(b *testing.B) {
			runImpl(b, implFloor, func(b *testing.B) {
				for b.Loop() {
					st.sign(n)
				}
			})
			runImpl(b, implSouverain, func(b *testing.B) {
				k := mustV[*ied25519.PrivateKey](b)(ied25519.NewKeyFromSeed(fill(32)))
				msg := make([]byte, n)
				for b.Loop() {
					k.Sign(msg)
				}
			})
		})
		b.Run("prim=Ed25519Verify/size="+itoa(n), func(b *testing.B) {
			runImpl(b, implFloor, func(b *testing.B) {
				for b.Loop() {
					st.verify(n)
				}
			})
			runImpl(b, implSouverain, func(b *testing.B) {
				k := mustV[*ied25519.PrivateKey](b)(ied25519.NewKeyFromSeed(fill(32)))
				msg := make([]byte, n)
				sig := k.Sign(msg)
				pub := k.Public()
				for b.Loop() {
					must(b, ied25519.Verify(pub[:], msg, sig[:]))
				}
			})
		})
	}
	for _, n := range floorSizes {
		b.Run("prim=HMACSHA256/size="+itoa(n), func(b *testing.B) {
			runImpl(b, implFloor, func(b *testing.B) {
				for b.Loop() {
					st.hmac(n)
				}
			})
			runImpl(b, implSouverain, func(b *testing.B) {
				var key [32]byte
				msg := make([]byte, n)
				for b.Loop() {
					cipher.HMAC(&key, msg)
				}
			})
		})
	}
	for _, n := range floorSizes[1:] {
		b.Run("prim=AES256CBCEncrypt/size="+itoa(n), func(b *testing.B) {
			runImpl(b, implFloor, func(b *testing.B) {
				for b.Loop() {
					st.cbcEncrypt(n)
				}
			})
			runImpl(b, implSouverain, func(b *testing.B) {
				k := cipher.Derive(fill(32), cipher.InfoOlm)
				msg := make([]byte, n)
				dst := make([]byte, 0, n+16)
				for b.Loop() {
					k.Encrypt(dst[:0], msg)
				}
			})
		})
		b.Run("prim=AES256CBCDecrypt/size="+itoa(n), func(b *testing.B) {
			runImpl(b, implFloor, func(b *testing.B) {
				for b.Loop() {
					st.cbcDecrypt(n)
				}
			})
			runImpl(b, implSouverain, func(b *testing.B) {
				k := cipher.Derive(fill(32), cipher.InfoOlm)
				ct := k.Encrypt(nil, make([]byte, n))
				for b.Loop() {
					mustV[[]byte](b)(k.Decrypt(ct))
				}
			})
		})
	}
	b.Run("prim=HKDF80", func(b *testing.B) {
		runImpl(b, implFloor, func(b *testing.B) {
			for b.Loop() {
				st.hkdf(80, len(cipher.InfoMegolm))
			}
		})
		runImpl(b, implSouverain, func(b *testing.B) {
			secret := fill(32)
			for b.Loop() {
				cipher.Derive(secret, cipher.InfoMegolm)
			}
		})
	})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
