package main

// Reference code, written from the specification over the Go standard
// library: the generator's own view of the formats, used to read libolm's
// state and to build inputs libolm would never write. None of it comes from
// souverain's packages, so that an expected value never depends on the code
// under test.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// rnd returns n deterministic bytes for label: SHA-256 in counter mode over
// a fixed seed. Every random input of the generator comes from here.
func rnd(label string, n int) []byte {
	out := make([]byte, 0, n+32)
	for ctr := uint32(0); len(out) < n; ctr++ {
		h := sha256.New()
		h.Write([]byte("souverain vectorgen v1\x00"))
		h.Write([]byte(label))
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], ctr)
		h.Write(c[:])
		out = h.Sum(out)
	}
	return out[:n]
}

func hx(b []byte) string { return hex.EncodeToString(b) }

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

func unb64(s string) []byte {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		panic(fmt.Sprintf("vectorgen: base64 %q: %v", s, err))
	}
	return b
}

// flip returns a copy of b with the bits of mask flipped at position i
// (negative i counts from the end).
func flip(b []byte, i int, mask byte) []byte {
	out := append([]byte(nil), b...)
	if i < 0 {
		i += len(out)
	}
	out[i] ^= mask
	return out
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// aesSHA2 is the authenticated encryption of Olm, Megolm, libolm pickles
// and PK encryption: HKDF-SHA-256 (no salt) of a secret under an info
// string gives an AES-256 key, an HMAC-SHA-256 key and an IV.
type aesSHA2 struct {
	aesKey, macKey, iv []byte
}

func deriveAESSHA2(secret []byte, info string) aesSHA2 {
	out, err := hkdf.Key(sha256.New, secret, nil, info, 80)
	if err != nil {
		panic(err)
	}
	return aesSHA2{out[:32], out[32:64], out[64:80]}
}

// encrypt is AES-256-CBC with PKCS#7 padding.
func (k aesSHA2) encrypt(pt []byte) []byte {
	pad := 16 - len(pt)%16
	buf := append(append([]byte(nil), pt...), bytesOf(byte(pad), pad)...)
	return k.encryptRaw(buf)
}

// encryptRaw encrypts whole blocks without adding padding, for building
// ciphertexts with bad padding.
func (k aesSHA2) encryptRaw(blocks []byte) []byte {
	block, _ := aes.NewCipher(k.aesKey)
	out := make([]byte, len(blocks))
	cipher.NewCBCEncrypter(block, k.iv).CryptBlocks(out, blocks)
	return out
}

// decrypt checks nothing but the block length; it returns the padded
// plaintext.
func (k aesSHA2) decryptRaw(ct []byte) ([]byte, error) {
	if len(ct) == 0 || len(ct)%16 != 0 {
		return nil, errors.New("bad ciphertext length")
	}
	block, _ := aes.NewCipher(k.aesKey)
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, k.iv).CryptBlocks(out, ct)
	return out, nil
}

func (k aesSHA2) decrypt(ct []byte) ([]byte, error) {
	pt, err := k.decryptRaw(ct)
	if err != nil {
		return nil, err
	}
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > 16 {
		return nil, errors.New("bad padding")
	}
	for _, c := range pt[len(pt)-pad:] {
		if int(c) != pad {
			return nil, errors.New("bad padding")
		}
	}
	return pt[:len(pt)-pad], nil
}

func (k aesSHA2) mac(data []byte) []byte {
	m := hmac.New(sha256.New, k.macKey)
	m.Write(data)
	return m.Sum(nil)
}

func bytesOf(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// openPickle decrypts a libolm pickle: base64 of ciphertext ‖ 8-byte MAC
// under HKDF(key, "Pickle").
func openPickle(pickle string, key []byte) ([]byte, error) {
	raw, err := base64.RawStdEncoding.DecodeString(pickle)
	if err != nil {
		return nil, err
	}
	if len(raw) < 8 {
		return nil, errors.New("pickle too short")
	}
	k := deriveAESSHA2(key, "Pickle")
	ct, tag := raw[:len(raw)-8], raw[len(raw)-8:]
	if !hmac.Equal(k.mac(ct)[:8], tag) {
		return nil, errors.New("pickle MAC")
	}
	return k.decrypt(ct)
}

// sealPickle is the inverse of openPickle.
func sealPickle(plain, key []byte) string {
	k := deriveAESSHA2(key, "Pickle")
	ct := k.encrypt(plain)
	return b64(cat(ct, k.mac(ct)[:8]))
}

// sealPickleRaw seals blocks that carry their own (possibly bad) padding.
func sealPickleRaw(blocks, key []byte) string {
	k := deriveAESSHA2(key, "Pickle")
	ct := k.encryptRaw(blocks)
	return b64(cat(ct, k.mac(ct)[:8]))
}

// pickleReader reads libolm's pickle encoding.
type pickleReader struct {
	b   []byte
	err error
}

func (r *pickleReader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errors.New("pickle truncated")
		return make([]byte, n)
	}
	out := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return out
}

func (r *pickleReader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *pickleReader) u8() byte    { return r.take(1)[0] }

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// chain is a chain of a libolm Olm session pickle.
type chain struct {
	ratchetPub, ratchetPriv []byte // ratchetPriv only for sender chains
	key                     []byte
	index                   uint32
}

// skipped is a skipped message key of a libolm Olm session pickle.
type skipped struct {
	ratchetPub, key []byte
	index           uint32
}

// olmSession is a decoded libolm Olm session pickle (version 1).
type olmSession struct {
	received                             bool
	aliceIdentity, aliceBase, bobOneTime []byte
	rootKey                              []byte
	senders, receivers                   []chain
	skipped                              []skipped
}

func parseSession(p []byte) (olmSession, error) {
	r := &pickleReader{b: p}
	var s olmSession
	if v := r.u32(); v != 1 {
		return s, fmt.Errorf("session pickle version %d", v)
	}
	s.received = r.u8() != 0
	s.aliceIdentity, s.aliceBase, s.bobOneTime = r.take(32), r.take(32), r.take(32)
	s.rootKey = r.take(32)
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		s.senders = append(s.senders, chain{ratchetPub: r.take(32), ratchetPriv: r.take(32), key: r.take(32), index: r.u32()})
	}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		s.receivers = append(s.receivers, chain{ratchetPub: r.take(32), key: r.take(32), index: r.u32()})
	}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		s.skipped = append(s.skipped, skipped{ratchetPub: r.take(32), key: r.take(32), index: r.u32()})
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("extra data in session pickle")
	}
	return s, r.err
}

// openSession decrypts and decodes a libolm session pickle.
func openSession(pickle string, key []byte) (olmSession, error) {
	p, err := openPickle(pickle, key)
	if err != nil {
		return olmSession{}, err
	}
	return parseSession(p)
}

// Olm chain and message keys (Olm specification, "The Olm Algorithm").
func olmAdvanceChain(ck []byte) []byte { return hmacSHA256(ck, []byte{0x02}) }
func olmMessageKey(ck []byte) []byte   { return hmacSHA256(ck, []byte{0x01}) }

// varint appends the protobuf-style varint of v.
func varint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// olmMessage is the body of an Olm normal message without its MAC, field by
// field, so that fields can be written in odd ways.
type olmMessage struct {
	version    byte
	ratchetKey []byte
	index      uint32
	ciphertext []byte
}

// encode writes the fields in libolm's order with minimal varints.
func (m olmMessage) encode() []byte {
	out := []byte{m.version}
	out = append(out, 0x0A)
	out = varint(out, uint64(len(m.ratchetKey)))
	out = append(out, m.ratchetKey...)
	out = append(out, 0x10)
	out = varint(out, uint64(m.index))
	out = append(out, 0x22)
	out = varint(out, uint64(len(m.ciphertext)))
	return append(out, m.ciphertext...)
}

// olmSealNormal encrypts plaintext with the message key and returns the
// message body with its 8-byte MAC, with header(m) written by write.
func olmSealNormal(mk []byte, m olmMessage, pt []byte, write func(olmMessage) []byte) []byte {
	k := deriveAESSHA2(mk, "OLM_KEYS")
	m.ciphertext = k.encrypt(pt)
	body := write(m)
	return cat(body, k.mac(body)[:8])
}

// reMAC replaces the MAC of a normal message body (everything but the last
// 8 bytes is authenticated) after body has been changed.
func reMAC(mk, body []byte) []byte {
	k := deriveAESSHA2(mk, "OLM_KEYS")
	return cat(body, k.mac(body)[:8])
}

// preKey wraps a normal message into a pre-key message.
func preKey(oneTime, base, identity, inner []byte) []byte {
	out := []byte{3}
	for _, f := range []struct {
		tag byte
		b   []byte
	}{{0x0A, oneTime}, {0x12, base}, {0x1A, identity}, {0x22, inner}} {
		out = append(out, f.tag)
		out = varint(out, uint64(len(f.b)))
		out = append(out, f.b...)
	}
	return out
}

// Megolm (Megolm specification, "The Megolm ratchet algorithm").

// megolmRatchet is R(i) = R0‖R1‖R2‖R3 at counter i.
type megolmRatchet struct {
	parts   [4][32]byte
	counter uint32
}

// rehash sets part to of the ratchet from part from: R_to = HMAC(R_from,
// byte(to)).
func (r *megolmRatchet) rehash(from, to int) {
	copy(r.parts[to][:], hmacSHA256(r.parts[from][:], []byte{byte(to)}))
}

// advanceTo moves the ratchet forward to target, modulo 2^32, in at most
// 4×256 hash steps, as the specification's ratchet allows: part j changes
// every 2^(8·(3−j)) steps and reseeds the parts after it.
func (r *megolmRatchet) advanceTo(target uint32) {
	for j := 0; j < 4; j++ {
		shift := uint(3-j) * 8
		steps := ((target >> shift) - (r.counter >> shift)) & 0xff
		if steps == 0 {
			if target < r.counter {
				steps = 0x100
			} else {
				continue
			}
		}
		for ; steps > 1; steps-- {
			r.rehash(j, j)
		}
		for k := 3; k >= j; k-- {
			r.rehash(j, k)
		}
		r.counter = target & (^uint32(0) << shift)
	}
}

func (r *megolmRatchet) bytes() []byte {
	return cat(r.parts[0][:], r.parts[1][:], r.parts[2][:], r.parts[3][:])
}

func newRatchet(b []byte, counter uint32) megolmRatchet {
	var r megolmRatchet
	for i := range 4 {
		copy(r.parts[i][:], b[32*i:32*i+32])
	}
	r.counter = counter
	return r
}

// exportedKey is the export format: 0x01 ‖ index ‖ ratchet ‖ signing key.
func exportedKey(r megolmRatchet, signingPub []byte) string {
	return b64(cat([]byte{1}, u32(r.counter), r.bytes(), signingPub))
}

// sessionKey is the signed sharing format: 0x02 ‖ index ‖ ratchet ‖ key ‖
// signature.
func sessionKey(r megolmRatchet, priv ed25519.PrivateKey) string {
	body := cat([]byte{2}, u32(r.counter), r.bytes(), priv.Public().(ed25519.PublicKey))
	return b64(cat(body, ed25519.Sign(priv, body)))
}

// megolmMessage is a Megolm message without MAC and signature.
type megolmMessage struct {
	version    byte
	index      uint32
	ciphertext []byte
}

func (m megolmMessage) encode() []byte {
	out := []byte{m.version, 0x08}
	out = varint(out, uint64(m.index))
	out = append(out, 0x12)
	out = varint(out, uint64(len(m.ciphertext)))
	return append(out, m.ciphertext...)
}

// megolmSeal encrypts pt at the ratchet's index and returns the signed
// message, with the body written by write (nil: the usual encoding).
func megolmSeal(r megolmRatchet, priv ed25519.PrivateKey, pt []byte, write func(megolmMessage) []byte) []byte {
	k := deriveAESSHA2(r.bytes(), "MEGOLM_KEYS")
	m := megolmMessage{version: 3, index: r.counter, ciphertext: k.encrypt(pt)}
	if write == nil {
		write = megolmMessage.encode
	}
	body := write(m)
	body = cat(body, k.mac(body)[:8])
	return cat(body, ed25519.Sign(priv, body))
}

// megolmResign replaces the signature of a message whose body (all but the
// last 64 bytes) has been changed, so that the change reaches the MAC.
func megolmResign(priv ed25519.PrivateKey, body []byte) []byte {
	return cat(body, ed25519.Sign(priv, body))
}
