package chacha20poly1305

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC8439 runs the AEAD test vectors of RFC 8439, sections 2.8.2 and
// A.5.
func TestRFC8439(t *testing.T) {
	tests := []struct {
		name                      string
		key, nonce, aad, pt, ctag string
	}{
		{
			name:  "2.8.2",
			key:   "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
			nonce: "070000004041424344454647",
			aad:   "50515253c0c1c2c3c4c5c6c7",
			pt:    hex.EncodeToString([]byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")),
			ctag: `d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
				3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
				92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
				3ff4def08e4b7a9de576d26586cec64b6116
				1ae10b594f09e26a7e902ecbd0600691`,
		},
		{
			name:  "A.5",
			key:   "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
			nonce: "000000000102030405060708",
			aad:   "f33388860000000000004e91",
			pt: `496e7465726e65742d4472616674732061726520647261667420646f63756d65
				6e74732076616c696420666f722061206d6178696d756d206f6620736978206d
				6f6e74687320616e64206d617920626520757064617465642c207265706c6163
				65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65
				6e747320617420616e792074696d652e20497420697320696e617070726f7072
				6961746520746f2075736520496e7465726e65742d4472616674732061732072
				65666572656e6365206d6174657269616c206f7220746f206369746520746865
				6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67
				726573732e2fe2809d`,
			ctag: `64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2
				4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf
				332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855
				9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4
				b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e
				af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a
				0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10
				49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29
				a6ad5cb4022b02709b
				eead9d67890cbb22392336fea1851f38`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(unhex(t, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			nonce, aad, pt, want := unhex(t, tc.nonce), unhex(t, tc.aad), unhex(t, tc.pt), unhex(t, tc.ctag)
			if got := a.Seal(nil, nonce, pt, aad); !bytes.Equal(got, want) {
				t.Fatalf("Seal:\n got %x\nwant %x", got, want)
			}
			got, err := a.Open([]byte("prefix"), nonce, want, aad)
			if err != nil || !bytes.Equal(got, append([]byte("prefix"), pt...)) {
				t.Fatalf("Open: %x, %v", got, err)
			}
		})
	}
}

// TestOpenRefuses flips every bit of a sealed message, its additional data
// and its nonce in turn, and shortens it: each must fail with ErrOpen.
func TestOpenRefuses(t *testing.T) {
	a, _ := New(bytes.Repeat([]byte{7}, 32))
	nonce := make([]byte, NonceSize)
	aad := []byte("header")
	ct := a.Seal(nil, nonce, []byte("a secret of some length, 40 bytes long."), aad)
	for i := range len(ct) * 8 {
		bad := bytes.Clone(ct)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := a.Open(nil, nonce, bad, aad); !errors.Is(err, ErrOpen) {
			t.Fatalf("ciphertext bit %d: %v", i, err)
		}
	}
	for i := range len(aad) * 8 {
		bad := bytes.Clone(aad)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := a.Open(nil, nonce, ct, bad); !errors.Is(err, ErrOpen) {
			t.Fatalf("aad bit %d: %v", i, err)
		}
	}
	for i := range NonceSize * 8 {
		bad := bytes.Clone(nonce)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := a.Open(nil, bad, ct, aad); !errors.Is(err, ErrOpen) {
			t.Fatalf("nonce bit %d: %v", i, err)
		}
	}
	for n := range Overhead {
		if _, err := a.Open(nil, nonce, ct[:n], aad); !errors.Is(err, ErrOpen) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
}

// TestLengths seals and opens every length around the block sizes, so that
// partial ChaCha20 blocks and Poly1305 padding are covered.
func TestLengths(t *testing.T) {
	a, _ := New(make([]byte, 32))
	nonce := make([]byte, NonceSize)
	for n := range 200 {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		ct := a.Seal(nil, nonce, pt, pt[:n/3])
		if len(ct) != n+Overhead {
			t.Fatalf("%d: length %d", n, len(ct))
		}
		got, err := a.Open(nil, nonce, ct, pt[:n/3])
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d: %v", n, err)
		}
	}
}

func TestKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(make([]byte, n)); !errors.Is(err, ErrKeySize) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

func BenchmarkSeal1K(b *testing.B) {
	a, _ := New(make([]byte, 32))
	nonce := make([]byte, NonceSize)
	pt := make([]byte, 1024)
	buf := make([]byte, 0, 1024+Overhead)
	b.SetBytes(1024)
	for b.Loop() {
		a.Seal(buf[:0], nonce, pt, nil)
	}
}
