package main

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/big"
	"strings"

	"github.com/souverain/e2ee/interop/libolm"
)

const megolmRatchetDescription = "The Megolm ratchet (megolm.export): a session's exported key at index i, advanced to index j, gives the exported key at j, whose 128-byte ratchet R(j) the specification defines. Jumps cross every byte boundary of the counter up to 2^32−1. Expected values are libolm's where libolm can compute them and the generator's reference ratchet (checked against libolm wherever libolm answers) where libolm's circular window of 2^31 indices refuses. Must-fail vectors ask for an index before the first known one and give malformed exported keys."

const megolmDecryptDescription = "Megolm decryption (megolm.decrypt), session keys (megolm.session_key) and encryption (megolm.encrypt). Messages come from libolm outbound sessions; receivers start from the signed session key (m.room_key) or an exported key (m.forwarded_room_key). Must-fail vectors ask for indices before the first known one, flip every byte class of messages and session keys without and with a valid signature (so that the MAC, the version and the varints are reached), truncate, use the wrong session, and give non-canonical signatures."

// megolmTryExport imports exported with libolm and exports at index.
func megolmTryExport(key string, signed bool, index uint32) (string, error) {
	var s *libolm.InboundGroupSession
	var err error
	if signed {
		s, err = libolm.NewInboundGroupSession(key)
	} else {
		s, err = libolm.ImportInboundGroupSession(key)
	}
	if err != nil {
		return "", err
	}
	defer s.Free()
	return s.Export(index)
}

func genMegolmRatchet(b *builder) {
	r := groupRandom("ratchet 1")
	pub := ed25519.NewKeyFromSeed(r[128:160]).Public().(ed25519.PublicKey)
	at := func(i uint32) megolmRatchet {
		rt := newRatchet(r[:128], 0)
		rt.advanceTo(i)
		return rt
	}
	// The reference ratchet against libolm, from index 0.
	g, _ := newGroup("ratchet 1")
	sk := must1(g.SessionKey())
	for _, i := range []uint32{0, 1, 255, 256, 65536, 1 << 24, 1<<31 - 1} {
		if got := must1(megolmTryExport(sk, true, i)); got != exportedKey(at(i), pub) {
			panic(fmt.Sprintf("vectorgen: reference Megolm ratchet differs from libolm's at %d", i))
		}
	}
	const max = 1<<32 - 1
	pairs := [][2]uint32{
		{0, 0}, {0, 1}, {0, 2}, {0, 255}, {0, 256}, {0, 257}, {0, 511}, {0, 65535}, {0, 65536}, {0, 65537},
		{0, 1<<24 - 1}, {0, 1 << 24}, {0, 1<<24 + 1}, {0, 1<<31 - 1}, {0, 1 << 31}, {0, max},
		{1, 1 << 24}, {7, 7}, {255, 256}, {256, 511}, {65535, 65536}, {1<<24 - 1, 1 << 24},
		{1<<24 + 5, 1<<25 + 7}, {1 << 31, max}, {max - 1, max}, {0x12345678, 0x9abcdef0}, {0x00ff00ff, 0xff00ff00},
	}
	for _, p := range pairs {
		i, j := p[0], p[1]
		from := exportedKey(at(i), pub)
		want := exportedKey(at(j), pub)
		id := fmt.Sprintf("%#x-to-%#x", i, j)
		notes := fmt.Sprintf("R(%d) advanced to R(%d).", i, j)
		got, err := megolmTryExport(from, false, j)
		v := vec{id: id, kind: "megolm.export",
			inputs:   map[string]any{"exported_session_key": from, "index": j},
			expected: map[string]any{"exported_session_key": want}}
		switch {
		case err == nil && got == want:
		case err == nil:
			panic("vectorgen: reference Megolm ratchet differs from libolm's for " + id)
		default:
			v.flags = []string{"libolm-diff"}
			notes += fmt.Sprintf(" libolm 3.2.13 refuses (%s): its window of known indices is circular and spans 2^31 indices from the first known one, where the specification has every later index.", libolmCode(err))
		}
		v.notes = notes
		b.add(v)
	}
	// The signed form can be exported too.
	b.add(vec{id: "from-session-key", kind: "megolm.export",
		inputs:   map[string]any{"session_key": sk, "index": 1000},
		expected: map[string]any{"exported_session_key": exportedKey(at(1000), pub)},
		notes:    "An exported key at 1000 from a signed session key at 0."})

	for _, p := range [][2]uint32{{1, 0}, {100, 99}, {256, 255}, {1 << 24, 1<<24 - 1}, {max, 0}, {1<<31 + 10, 5}, {max, max - 1}} {
		i, j := p[0], p[1]
		from := exportedKey(at(i), pub)
		id := fmt.Sprintf("%#x-to-%#x-before-first-known", i, j)
		notes := fmt.Sprintf("Index %d lies before the first known index %d: the ratchet only moves forward.", j, i)
		v := vec{id: id, kind: "megolm.export", errClass: "unknown-message-index", inputs: map[string]any{"exported_session_key": from, "index": j}}
		if _, err := megolmTryExport(from, false, j); err == nil {
			v.flags = []string{"libolm-diff"}
			notes += " libolm 3.2.13 exports it anyway: its circular window wraps past 2^32−1 (the index difference modulo 2^32 is below 2^31), so it returns R(j) of the next cycle, a key that never existed."
		} else {
			notes += " libolm: " + libolmCode(err) + "."
		}
		v.notes = notes
		b.add(v)
	}
	good := unb64(exportedKey(at(3), pub))
	for _, c := range []struct{ id, notes, key string }{
		{"version-2", "The version byte of an exported key is 1; 2 is the signed session key's.", b64(cat([]byte{2}, good[1:]))},
		{"version-0", "Version byte 0.", b64(cat([]byte{0}, good[1:]))},
		{"truncated", "164 bytes: the signing key cut short.", b64(good[:164])},
		{"extra-byte", "166 bytes.", b64(cat(good, []byte{0}))},
		{"empty", "Empty.", ""},
		{"not-base64", "Not base64.", "!" + b64(good)[1:]},
	} {
		v := vec{id: "bad-exported-key-" + c.id, kind: "megolm.export", errClass: "bad-session-key",
			inputs: map[string]any{"exported_session_key": c.key, "index": 3}}
		notes := c.notes
		if _, err := megolmTryExport(c.key, false, 3); err == nil {
			v.flags = []string{"libolm-diff"}
			notes += " libolm 3.2.13 accepts it."
		} else {
			notes += " libolm: " + libolmCode(err) + "."
		}
		v.notes = notes
		b.add(v)
	}
}

// megolmTry decrypts msg with a libolm inbound session from key.
func megolmTry(key string, signed bool, msg string) ([]byte, uint32, error) {
	var s *libolm.InboundGroupSession
	var err error
	if signed {
		s, err = libolm.NewInboundGroupSession(key)
	} else {
		s, err = libolm.ImportInboundGroupSession(key)
	}
	if err != nil {
		return nil, 0, err
	}
	defer s.Free()
	return s.Decrypt(msg)
}

// megolmCase adds a megolm.decrypt vector. key is a session key if signed,
// else an exported key. want nil means decryption must fail.
func (b *builder) megolmCase(id, key string, signed bool, msg string, want []byte, index uint32, class, notes string, crafted bool, flags ...string) {
	in := map[string]any{"message": msg}
	if signed {
		in["session_key"] = key
	} else {
		in["exported_session_key"] = key
	}
	if strings.HasSuffix(id, "ciphertext-empty") {
		// libolm is not asked: valgrind shows olm_group_decrypt reading
		// the byte before its output buffer (the padding of nothing).
		b.add(vec{id: id, kind: "megolm.decrypt", inputs: in, errClass: class, derived: true, flags: append(flags, "libolm-diff"),
			notes: notes + " libolm 3.2.13 must not be given this message: it reads the padding byte before its output buffer (found with valgrind while generating these vectors)."})
		return
	}
	pt, idx, err := megolmTry(key, signed, msg)
	if want != nil {
		if err != nil || !bytes.Equal(pt, want) || idx != index {
			if !crafted {
				panic(fmt.Sprintf("vectorgen: %s: libolm: %v", id, libolmCode(err)))
			}
			flags = append(flags, "libolm-diff")
			notes += fmt.Sprintf(" libolm 3.2.13 refuses it (%s).", libolmCode(err))
		}
		b.add(vec{id: id, kind: "megolm.decrypt", inputs: in, expected: map[string]any{"plaintext_hex": hx(want), "message_index": index},
			notes: strings.TrimSpace(notes), derived: crafted, flags: flags})
		return
	}
	if err == nil {
		flags = append(flags, "libolm-diff")
		notes += fmt.Sprintf(" libolm 3.2.13 accepts it and returns %q at index %d.", clipText(pt), idx)
	} else {
		notes += " libolm: " + libolmCode(err) + "."
	}
	b.add(vec{id: id, kind: "megolm.decrypt", inputs: in, errClass: class, notes: strings.TrimSpace(notes), derived: crafted, flags: flags})
}

func clipText(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// nonCanonicalS returns sig with S replaced by S + L, the same signature
// for a lax verifier.
func nonCanonicalS(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	s := new(big.Int).SetBytes(reverse(sig[32:]))
	s.Add(s, l)
	out := append([]byte(nil), sig[:32]...)
	sb := s.FillBytes(make([]byte, 32))
	return append(out, reverse(sb)...)
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

func genMegolmDecrypt(b *builder) {
	g, priv := newGroup("decrypt 1")
	r := groupRandom("decrypt 1")
	pub := priv.Public().(ed25519.PublicKey)
	sk0 := must1(g.SessionKey())
	plaintexts := []string{
		`{"type":"m.room.message","content":{"msgtype":"m.text","body":"hello"},"room_id":"!room:example.org"}`,
		"", "x", "fifteen bytes!!", "sixteen bytes!!!", "seventeen bytes!!",
		"Grüße, 世界 🌍", strings.Repeat("0123456789", 100), "after the share", "last",
	}
	const keyPickle = "megolm pickle key"
	var msgs []string
	var sk5 string
	for i, pt := range plaintexts {
		if i == 5 {
			sk5 = must1(g.SessionKey())
		}
		before := must1(g.Pickle([]byte(keyPickle)))
		m := must1(g.Encrypt([]byte(pt)))
		msgs = append(msgs, m)
		b.add(vec{id: fmt.Sprint("encrypt-", i), kind: "megolm.encrypt",
			inputs:   map[string]any{"pickle": before, "pickle_key": keyPickle, "plaintext_hex": hx([]byte(pt))},
			expected: map[string]any{"message": m},
			notes:    fmt.Sprintf("The outbound session at index %d encrypts; Ed25519 signatures are deterministic, so the message is too.", i)})
	}
	rt := func(i uint32) megolmRatchet {
		x := newRatchet(r[:128], 0)
		x.advanceTo(i)
		return x
	}
	for i, m := range msgs {
		pt := []byte(plaintexts[i])
		b.megolmCase(fmt.Sprint("m", i, "-session-key-0"), sk0, true, m, pt, uint32(i), "", fmt.Sprintf("Message %d with the session key at index 0.", i), false)
		b.megolmCase(fmt.Sprint("m", i, "-exported-at-", i), exportedKey(rt(uint32(i)), pub), false, m, pt, uint32(i), "", fmt.Sprintf("Message %d with a key exported at its own index.", i), false)
		if i >= 5 {
			b.megolmCase(fmt.Sprint("m", i, "-session-key-5"), sk5, true, m, pt, uint32(i), "", fmt.Sprintf("Message %d with the session key shared at index 5.", i), false)
		}
	}
	for _, i := range []int{0, 3, 4} {
		b.megolmCase(fmt.Sprint("m", i, "-before-first-known-5"), sk5, true, msgs[i], nil, 0, "unknown-message-index", fmt.Sprintf("Message %d with the session key shared at index 5: sent before the key was shared.", i), false)
	}
	b.megolmCase("m6-before-first-known-7", exportedKey(rt(7), pub), false, msgs[6], nil, 0, "unknown-message-index", "Message 6 with a key exported at index 7.", false)

	// Session keys.
	skCase := func(id, key, notes string, ok bool, index uint32, flags ...string) {
		s, err := libolm.NewInboundGroupSession(key)
		if err == nil {
			s.Free()
		}
		v := vec{id: "session-key-" + id, kind: "megolm.session_key", inputs: map[string]any{"session_key": key}, flags: flags}
		if ok {
			must(err)
			v.expected = map[string]any{"session_id": b64(pub), "first_known_index": index}
		} else {
			v.errClass = "bad-session-key"
			if strings.Contains(id, "signature") || strings.Contains(id, "flipped") {
				v.errClass = "bad-signature"
			}
			if err == nil {
				v.flags = append(v.flags, "libolm-diff")
				notes += " libolm 3.2.13 accepts it."
			} else {
				notes += " libolm: " + libolmCode(err) + "."
			}
		}
		v.notes = notes
		b.add(v)
	}
	skCase("index-0", sk0, "The session key at index 0.", true, 0)
	skCase("index-5", sk5, "The session key at index 5.", true, 5)
	raw := unb64(sk0)
	for _, c := range []struct {
		id    string
		pos   int
		notes string
	}{
		{"version-flipped", 0, "The version byte (2) changed to 3."},
		{"index-flipped", 4, "The index changed: the signature covers it."},
		{"ratchet-flipped", 5, "The first ratchet byte flipped."},
		{"ratchet-last-flipped", 132, "The last ratchet byte flipped."},
		{"signing-key-flipped", 133, "The first byte of the signing key flipped."},
		{"signature-byte-0-flipped", 165, "The first byte of the signature (R) flipped."},
		{"signature-byte-31-flipped", 196, "The last byte of R flipped."},
		{"signature-byte-32-flipped", 197, "The first byte of S flipped."},
		{"signature-byte-63-flipped", 228, "The last byte of S flipped."},
	} {
		skCase(c.id, b64(flip(raw, c.pos, 0x01)), c.notes, false, 0)
	}
	body := raw[:165]
	skCase("signature-s-plus-l", b64(cat(body, nonCanonicalS(raw[165:]))), "The signature with S replaced by S + L: the same point equation, but a non-canonical S, which strict verifiers (RFC 8032, souverain, vodozemac) refuse to avoid malleable signatures.", false, 0, "policy")
	skCase("signature-zero", b64(cat(body, make([]byte, 64))), "An all-zero signature.", false, 0)
	skCase("version-1-exported-form", exportedKey(rt(0), pub), "An exported key (version 1, unsigned) where a signed session key is expected.", false, 0)
	skCase("truncated", b64(raw[:228]), "228 bytes: the signature cut short.", false, 0)
	skCase("extra-byte", b64(cat(raw, []byte{0})), "230 bytes.", false, 0)
	skCase("empty", "", "Empty.", false, 0)
	resigned := func(b2 []byte) string { return b64(cat(b2, ed25519.Sign(priv, b2))) }
	skCase("version-3-signed", resigned(cat([]byte{3}, body[1:])), "Version byte 3 under a valid signature.", false, 0)

	// Messages damaged: first without re-signing, then re-signed so that
	// the change reaches the MAC and the parser.
	m2 := unb64(msgs[2])
	sigStart := len(m2) - 64
	macStart := sigStart - 8
	ctStart := 1 + 1 + 1 + 1 + 1 // version, 0x08, index 2, 0x12, length
	for _, c := range []struct{ id, class, notes string }{
		{"version", "bad-message-version", "The version byte flipped."},
		{"index", "bad-signature", "The index flipped."},
		{"ciphertext-tag", "bad-signature", "The ciphertext tag flipped."},
		{"ciphertext", "bad-signature", "A ciphertext byte flipped."},
	} {
		pos := map[string]int{"version": 0, "index": 2, "ciphertext-tag": 3, "ciphertext": ctStart}[c.id]
		b.megolmCase("m2-"+c.id+"-flipped", sk0, true, b64(flip(m2, pos, 0x01)), nil, 0, c.class, c.notes, false)
	}
	for i := range 8 {
		b.megolmCase(fmt.Sprint("m2-mac-byte-", i, "-flipped"), sk0, true, b64(flip(m2, macStart+i, 0x01)), nil, 0, "bad-signature", fmt.Sprintf("MAC byte %d flipped: the signature, checked first, covers it.", i), false)
	}
	for _, i := range []int{0, 1, 31, 32, 33, 62, 63} {
		b.megolmCase(fmt.Sprint("m2-signature-byte-", i, "-flipped"), sk0, true, b64(flip(m2, sigStart+i, 0x01)), nil, 0, "bad-signature", fmt.Sprintf("Signature byte %d flipped.", i), false)
	}
	b.megolmCase("m2-signature-s-plus-l", sk0, true, b64(cat(m2[:sigStart], nonCanonicalS(m2[sigStart:]))), nil, 0, "bad-signature",
		"The message signature with S replaced by S + L (non-canonical, malleable).", true, "policy")
	for _, c := range []struct {
		id    string
		b     []byte
		notes string
	}{
		{"truncated-signature-1", m2[:len(m2)-1], "The last signature byte removed."},
		{"no-signature", m2[:sigStart], "The signature removed."},
		{"version-only", m2[:1], "Only the version byte."},
		{"extra-byte", cat(m2, []byte{0}), "One byte appended."},
	} {
		b.megolmCase("m2-"+c.id, sk0, true, b64(c.b), nil, 0, "bad-message-format", c.notes, false)
	}
	b.megolmCase("m2-empty", sk0, true, "", nil, 0, "bad-message-format", "An empty message.", false)
	b.megolmCase("m2-not-base64", sk0, true, "!"+msgs[2][1:], nil, 0, "bad-message-format", "Not base64.", false)
	g2, _ := newGroup("decrypt 2")
	b.megolmCase("m2-other-session", must1(g2.SessionKey()), true, msgs[2], nil, 0, "bad-signature", "Message 2 with another session's key.", false)

	// Re-signed changes.
	r2 := rt(2)
	k2 := deriveAESSHA2(r2.bytes(), "MEGOLM_KEYS")
	body2 := m2[:macStart]
	signedMAC := func(body []byte) string { return b64(megolmResign(priv, cat(body, k2.mac(body)[:8]))) }
	for i := range 8 {
		b.megolmCase(fmt.Sprint("m2-resigned-mac-byte-", i), sk0, true, b64(megolmResign(priv, flip(m2[:sigStart], macStart+i, 0x01))), nil, 0, "bad-mac",
			fmt.Sprintf("MAC byte %d flipped and the message signed again: only the MAC can catch it.", i), true)
	}
	b.megolmCase("m2-resigned-ciphertext", sk0, true, b64(megolmResign(priv, flip(m2[:sigStart], ctStart, 0x01))), nil, 0, "bad-mac", "A ciphertext byte flipped, signed again.", true)
	b.megolmCase("m2-resigned-index", sk0, true, b64(megolmResign(priv, flip(m2[:sigStart], 2, 0x01))), nil, 0, "bad-mac", "Index 2 changed to 3 and signed again: the ratchet at 3 gives another MAC key.", true)
	ct := body2[ctStart:]
	field := func(tag byte, v []byte) []byte { return cat([]byte{tag}, varint(nil, uint64(len(v))), v) }
	for _, c := range []struct {
		id, class, notes string
		body             []byte
		ok               bool
		flags            []string
	}{
		{"check", "", "Message 2 rebuilt by the generator (MAC and signature recomputed): checks the generator.", body2, true, nil},
		{"version-4", "bad-message-version", "Version 4 (vodozemac's version 2 with 32-byte MACs) with an 8-byte MAC, MAC and signature valid.", cat([]byte{4}, body2[1:]), false, nil},
		{"version-2", "bad-message-version", "Version 2, MAC and signature valid.", cat([]byte{2}, body2[1:]), false, nil},
		{"fields-reordered", "", "Ciphertext before index: any field order is valid protobuf.", cat([]byte{3}, field(0x12, ct), []byte{0x08, 0x02}), true, nil},
		{"unknown-field", "", "An unknown varint field (tag 0x18) before the MAC: skipped.", cat(body2, []byte{0x18, 0x07}), true, nil},
		{"index-non-minimal-varint", "", "Index 2 written as 0x82 0x00: a redundant continuation byte.", cat([]byte{3, 0x08, 0x82, 0x00}, field(0x12, ct)), true, nil},
		{"index-overflow-varint", "bad-message-format", "Index 2 written as 2 + 2^32: it does not fit in 32 bits (libolm keeps the low bits).", cat([]byte{3, 0x08}, varint(nil, 2+1<<32), field(0x12, ct)), false, []string{"policy"}},
		{"index-unterminated-varint", "bad-message-format", "The index varint never ends.", cat([]byte{3}, field(0x12, ct), []byte{0x08, 0x82, 0x80}), false, nil},
		{"ciphertext-length-too-long", "bad-message-format", "The ciphertext length one more than there is.", cat([]byte{3, 0x08, 0x02, 0x12}, varint(nil, uint64(len(ct)+1)), ct), false, nil},
		{"index-missing", "bad-message-format", "No index field.", cat([]byte{3}, field(0x12, ct)), false, nil},
		{"ciphertext-missing", "bad-message-format", "No ciphertext field.", []byte{3, 0x08, 0x02}, false, nil},
		{"ciphertext-empty", "bad-ciphertext", "An empty ciphertext.", cat([]byte{3, 0x08, 0x02}, field(0x12, nil)), false, nil},
		{"bad-padding", "bad-ciphertext", "A ciphertext whose plaintext ends in 0x00: not PKCS#7.", cat([]byte{3, 0x08, 0x02}, field(0x12, k2.encryptRaw(bytesOf(0, 16)))), false, nil},
	} {
		msg := signedMAC(c.body)
		if c.id == "check" && msg != msgs[2] {
			panic("vectorgen: the generator's Megolm message differs from libolm's")
		}
		var want []byte
		if c.ok {
			want = []byte(plaintexts[2])
		}
		b.megolmCase("m2-resigned-"+c.id, sk0, true, msg, want, 2, c.class, c.notes, true, c.flags...)
	}

	// Indices libolm's circular window cannot reach from index 0.
	for _, i := range []uint32{1<<31 - 1, 1 << 31, 1<<32 - 2} {
		x := rt(i)
		pt := []byte(fmt.Sprintf("message at index %d", i))
		msg := b64(megolmSeal(x, priv, pt, nil))
		b.megolmCase(fmt.Sprintf("index-%#x-session-key-0", i), sk0, true, msg, pt, i, "",
			fmt.Sprintf("A message at index %d, written by the generator, with the session key at 0: every later index can be decrypted.", i), true)
		b.megolmCase(fmt.Sprintf("index-%#x-exported-at-it", i), exportedKey(x, pub), false, msg, pt, i, "",
			fmt.Sprintf("The same message with a key exported at %d.", i), true)
	}
	// Large messages.
	big := []byte(strings.Repeat("A", 65536))
	bigMsg := b64(megolmSeal(rt(9), priv, big, nil))
	b.megolmCase("too-large", sk0, true, bigMsg, nil, 0, "message-too-large",
		"A valid message of 65,617 bytes: larger than a whole Matrix event may be (65,536 bytes); souverain refuses messages over 64 KiB before any work.", true, "policy")
}
