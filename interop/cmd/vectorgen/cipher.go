package main

import (
	"bytes"
	"fmt"

	"github.com/souverain/e2ee/interop/libolm"
)

const cipherDescription = "The authenticated encryption shared by Olm, Megolm, libolm pickles and PK encryption: HKDF-SHA-256 of a secret under an info string gives an AES-256 key, an HMAC-SHA-256 key and an IV; AES-256-CBC with PKCS#7 padding; HMAC-SHA-256 of the ciphertext. Positive vectors take their ciphertexts from libolm: pickles (info \"Pickle\"), Olm message keys (\"OLM_KEYS\") and Megolm ratchets (\"MEGOLM_KEYS\"). Must-fail vectors change the MAC, the ciphertext, the padding and the lengths, each under a valid MAC where the change is not itself the MAC."

// cipherBase is one libolm ciphertext: its secret, info and plaintext.
type cipherBase struct {
	name       string
	secret     []byte
	info       string
	plaintext  []byte
	ciphertext []byte
	macLibolm  []byte // the 8-byte MAC libolm wrote over the ciphertext, if any
	notes      string
}

func genCipher(b *builder) {
	var bases []cipherBase

	// Pickles: the pickle key is the secret.
	addPickle := func(name, key, pickle, what string) {
		plain := must1(openPickle(pickle, []byte(key)))
		if sealPickle(plain, []byte(key)) != pickle {
			panic("vectorgen: reference pickle encryption differs from libolm's for " + name)
		}
		raw := unb64(pickle)
		bases = append(bases, cipherBase{
			name: name, secret: []byte(key), info: "Pickle", plaintext: plain,
			ciphertext: raw[:len(raw)-8], macLibolm: raw[len(raw)-8:],
			notes: "libolm's pickle of " + what + " under the pickle key " + fmt.Sprintf("%q", key) + ": the pickle is base64(ciphertext ‖ the first 8 bytes of the MAC).",
		})
	}
	g, _ := newGroup("cipher 1")
	addPickle("pickle-outbound-group", "cipher pickle key", must1(g.Pickle([]byte("cipher pickle key"))), "an outbound group session")
	in := must1(libolm.NewInboundGroupSession(must1(g.SessionKey())))
	addPickle("pickle-inbound-group-empty-key", "", must1(in.Pickle(nil)), "an inbound group session")
	acc := newAccount("cipher 1")
	longKey := "a pickle key longer than the 64-byte block of HMAC-SHA-256, which HKDF must hash first"
	addPickle("pickle-account-long-key", longKey, must1(acc.Pickle([]byte(longKey))), "a fresh account")

	// Olm: the message key of Alice's first chain is the secret.
	bob := newAccount("cipher bob")
	otk := newOneTimeKey(bob, "cipher bob")
	alice := newAccount("cipher alice")
	s := outbound(alice, identity(bob).Curve25519, otk, "cipher")
	for i, pt := range []string{"", "sixteen bytes!!!", `{"type":"m.room_key","content":{"algorithm":"m.megolm.v1.aes-sha2"}}`} {
		st := must1(openSession(pickleSession(s, "k"), []byte("k")))
		mk := olmMessageKey(st.senders[0].key)
		m, _ := encrypt(s, []byte(pt), fmt.Sprint("cipher ", i))
		body := unb64(m.body)
		ct := olmInnerCiphertext(body, m.typ)
		k := deriveAESSHA2(mk, "OLM_KEYS")
		if !bytes.Equal(k.encrypt([]byte(pt)), ct) {
			panic("vectorgen: reference Olm encryption differs from libolm's")
		}
		bases = append(bases, cipherBase{
			name: fmt.Sprint("olm-message-", i), secret: mk, info: "OLM_KEYS", plaintext: []byte(pt), ciphertext: ct,
			notes: fmt.Sprintf("Olm message %d of a libolm session: the secret is the message key HMAC-SHA-256(chain key, 0x01); the ciphertext is the one in libolm's message (whose own MAC covers the message header too).", i),
		})
	}

	// Megolm: the ratchet R(i) is the secret.
	r := groupRandom("cipher 1")
	ratchet := newRatchet(r[:128], 0)
	for i, pt := range []string{"Message", "a Megolm plaintext of thirty-two", ""} {
		ratchet.advanceTo(uint32(i))
		msg := unb64(must1(g.Encrypt([]byte(pt))))
		ct := megolmCiphertext(msg)
		k := deriveAESSHA2(ratchet.bytes(), "MEGOLM_KEYS")
		if !bytes.Equal(k.encrypt([]byte(pt)), ct) {
			panic("vectorgen: reference Megolm encryption differs from libolm's")
		}
		bases = append(bases, cipherBase{
			name: fmt.Sprint("megolm-message-", i), secret: ratchet.bytes(), info: "MEGOLM_KEYS", plaintext: []byte(pt), ciphertext: ct,
			notes: fmt.Sprintf("Megolm message %d of a libolm outbound session: the secret is the 128-byte ratchet R(%d).", i, i),
		})
	}

	for _, base := range bases {
		cipherVectors(b, base)
	}

	// Derived cases at the edges: empty secret, empty info.
	for _, c := range []struct {
		name, info string
		secret     []byte
		pt         []byte
	}{
		{"empty-secret", "OLM_KEYS", nil, []byte("x")},
		{"empty-info-pk", "", rnd("cipher pk secret", 32), []byte(`{"algorithm":"m.megolm.v1.aes-sha2"}`)},
		{"one-block-padding", "MEGOLM_KEYS", rnd("cipher block", 128), bytesOf('p', 32)},
	} {
		k := deriveAESSHA2(c.secret, c.info)
		ct := k.encrypt(c.pt)
		b.add(vec{id: c.name + "-encrypt", kind: "cipher.encrypt", derived: true,
			inputs:   map[string]any{"secret_hex": hx(c.secret), "info": c.info, "plaintext_hex": hx(c.pt)},
			expected: map[string]any{"ciphertext_hex": hx(ct), "mac_hex": hx(k.mac(ct))},
			notes:    "Key expansion " + expansionNote(k)})
		b.add(vec{id: c.name + "-decrypt", kind: "cipher.decrypt", derived: true,
			inputs:   map[string]any{"secret_hex": hx(c.secret), "info": c.info, "ciphertext_hex": hx(ct), "mac_hex": hx(k.mac(ct)[:8])},
			expected: map[string]any{"plaintext_hex": hx(c.pt)}})
	}
}

func expansionNote(k aesSHA2) string {
	return fmt.Sprintf("(HKDF output): AES key %s, HMAC key %s, IV %s.", hx(k.aesKey), hx(k.macKey), hx(k.iv))
}

// cipherVectors writes the vectors of one base: encryption, decryption with
// both MAC lengths, and the must-fail cases.
func cipherVectors(b *builder, c cipherBase) {
	k := deriveAESSHA2(c.secret, c.info)
	mac := k.mac(c.ciphertext)
	if c.macLibolm != nil && !bytes.Equal(mac[:8], c.macLibolm) {
		panic("vectorgen: reference MAC differs from libolm's for " + c.name)
	}
	args := func(secret []byte, info string, ct, mac []byte) map[string]any {
		return map[string]any{"secret_hex": hx(secret), "info": info, "ciphertext_hex": hx(ct), "mac_hex": hx(mac)}
	}
	b.add(vec{id: c.name + "-encrypt", kind: "cipher.encrypt",
		inputs:   map[string]any{"secret_hex": hx(c.secret), "info": c.info, "plaintext_hex": hx(c.plaintext)},
		expected: map[string]any{"ciphertext_hex": hx(c.ciphertext), "mac_hex": hx(mac)},
		notes:    c.notes + " Key expansion " + expansionNote(k)})
	want := map[string]any{"plaintext_hex": hx(c.plaintext)}
	b.add(vec{id: c.name + "-decrypt-mac8", kind: "cipher.decrypt", inputs: args(c.secret, c.info, c.ciphertext, mac[:8]), expected: want,
		notes: "The 8-byte truncated MAC of version 1 Olm, Megolm and libolm pickles."})
	b.add(vec{id: c.name + "-decrypt-mac32", kind: "cipher.decrypt", inputs: args(c.secret, c.info, c.ciphertext, mac), expected: want,
		notes: "The full 32-byte MAC of version 2 (vodozemac)."})

	fail := func(id, class, notes string, in map[string]any, flags ...string) {
		b.add(vec{id: c.name + "-" + id, kind: "cipher.decrypt", inputs: in, errClass: class, notes: notes, derived: true, flags: flags})
	}
	// Every byte of the truncated MAC, and a sample of the full one.
	for i := range 8 {
		fail(fmt.Sprint("mac8-byte-", i), "bad-mac", fmt.Sprintf("Byte %d of the 8-byte MAC flipped.", i), args(c.secret, c.info, c.ciphertext, flip(mac[:8], i, 0x01)))
	}
	for _, i := range []int{0, 8, 31} {
		fail(fmt.Sprint("mac32-byte-", i), "bad-mac", fmt.Sprintf("Byte %d of the 32-byte MAC flipped (high bit).", i), args(c.secret, c.info, c.ciphertext, flip(mac, i, 0x80)))
	}
	fail("mac-empty", "bad-mac", "An empty MAC: comparing zero bytes must not succeed.", args(c.secret, c.info, c.ciphertext, nil))
	fail("mac-7-bytes", "bad-mac", "The MAC cut to 7 bytes.", args(c.secret, c.info, c.ciphertext, mac[:7]))
	fail("mac-16-bytes", "bad-mac", "A correct 16-byte prefix of the MAC: only 8 and 32 bytes are MAC lengths of the protocols.", args(c.secret, c.info, c.ciphertext, mac[:16]), "policy")
	// The ciphertext changed under the old MAC.
	fail("ciphertext-first-byte", "bad-mac", "First ciphertext byte flipped.", args(c.secret, c.info, flip(c.ciphertext, 0, 0x01), mac[:8]))
	fail("ciphertext-last-byte", "bad-mac", "Last ciphertext byte flipped.", args(c.secret, c.info, flip(c.ciphertext, -1, 0x01), mac[:8]))
	fail("wrong-info", "bad-mac", "The right secret under another info string.", args(c.secret, c.info+"_", c.ciphertext, mac[:8]))
	fail("wrong-secret", "bad-mac", "The secret with its last bit flipped (or one byte added if empty).", args(flipOrGrow(c.secret), c.info, c.ciphertext, mac[:8]))
	// Structural damage under a valid MAC: only decryption can notice.
	valid := func(ct []byte) []byte { return k.mac(ct)[:8] }
	if len(c.ciphertext) > 1 {
		ct := c.ciphertext[:len(c.ciphertext)-1]
		fail("truncated-valid-mac", "bad-ciphertext-length", "The ciphertext cut by one byte, MAC recomputed: not a whole number of blocks.", args(c.secret, c.info, ct, valid(ct)))
	}
	ct := append(append([]byte(nil), c.ciphertext...), c.ciphertext[:16]...)
	if _, err := k.decrypt(ct); err != nil {
		fail("extra-block-valid-mac", "bad-padding", "A block appended, MAC recomputed: the padding is now garbage.", args(c.secret, c.info, ct, valid(ct)))
	}
	fail("empty-ciphertext-valid-mac", "bad-ciphertext-length", "An empty ciphertext with its MAC.", args(c.secret, c.info, nil, valid(nil)))
	for _, p := range []struct {
		name  string
		tail  []byte
		notes string
	}{
		{"padding-zero", []byte{0}, "The last byte is 0x00: PKCS#7 never pads with zero bytes."},
		{"padding-17", bytesOf(17, 16), "The last byte is 0x11, more than a block."},
		{"padding-inconsistent", []byte{3, 2, 3}, "The last byte says 3 but the bytes before it differ."},
	} {
		blocks := append(append([]byte(nil), c.plaintext...), p.tail...)
		for len(blocks)%16 != 0 {
			blocks = append([]byte{'x'}, blocks...)
		}
		ct := k.encryptRaw(blocks)
		fail(p.name+"-valid-mac", "bad-padding", p.notes+" MAC valid.", args(c.secret, c.info, ct, valid(ct)))
	}
}

func flipOrGrow(b []byte) []byte {
	if len(b) == 0 {
		return []byte{0}
	}
	return flip(b, -1, 0x01)
}

// olmInnerCiphertext returns the ciphertext field of an Olm message body of
// type t (a pre-key message wraps a normal one).
func olmInnerCiphertext(body []byte, t int) []byte {
	if t == 0 {
		body = protoField(body[1:], 0x22)
	}
	return protoField(body[1:len(body)-8], 0x22)
}

// megolmCiphertext returns the ciphertext field of a Megolm message.
func megolmCiphertext(msg []byte) []byte {
	return protoField(msg[1:len(msg)-8-64], 0x12)
}

// protoField returns the first length-delimited field with the given tag
// byte in a run of protobuf-style fields.
func protoField(b []byte, tag byte) []byte {
	for len(b) > 0 {
		t := b[0]
		b = b[1:]
		v, n := uvarint(b)
		b = b[n:]
		switch t & 7 {
		case 0:
			if t == tag {
				panic("vectorgen: varint field asked as bytes")
			}
		case 2:
			if t == tag {
				return b[:v]
			}
			b = b[v:]
		default:
			panic("vectorgen: unexpected wire type")
		}
	}
	panic(fmt.Sprintf("vectorgen: no field %#x", tag))
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i, c := range b {
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	panic("vectorgen: unterminated varint")
}
