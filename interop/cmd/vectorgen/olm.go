package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/souverain/e2ee/interop/libolm"
)

const olmSetupDescription = "Olm session setup: the triple Diffie-Hellman of identity, one-time (or fallback) and base keys, expanded with HKDF-SHA-256 under \"OLM_ROOT\" into the first root key and chain key, on both ends (olm.outbound_session, olm.inbound_session), and the first pre-key message (olm.encrypt). Accounts are given as libolm pickles; keys that a result does not carry directly are read by the runner from the session pickle it returns. Expected values are libolm's, each checked against the generator's own triple Diffie-Hellman. Must-fail vectors replay pre-key messages, name unknown keys or the wrong sender, damage every field, and forge sessions from low-order keys."

const olmDecryptDescription = "Olm decryption (olm.decrypt): a receiving session, as a libolm pickle, and a message give the plaintext or an error; and the sending side (olm.encrypt) where no new ratchet key is needed. The messages come from libolm conversations: pre-key messages on an established session, replies on new chains, messages out of order, skipped keys, the gap limit (2000) and the receiver-chain limit (5). Must-fail vectors flip every byte class (version, ratchet key, index, ciphertext, each MAC byte), truncate, set bad versions, write bad varints under a valid MAC, replay, and use wrong sessions."

// olmReceiver is the state a message is decrypted with.
type olmReceiver struct {
	pickle, key string
}

// olmCase adds an olm.decrypt vector after asking libolm. want is the
// expected plaintext, or nil if decryption must fail. For a positive vector
// libolm must agree unless crafted is set; for a must-fail vector libolm's
// answer is recorded, with the flag libolm-diff if it decrypts.
func (b *builder) olmCase(id string, rcv olmReceiver, m olmMsg, want []byte, class, notes string, crafted bool, flags ...string) {
	pt, err := olmTry(rcv.pickle, rcv.key, m)
	in := map[string]any{"session_pickle": rcv.pickle, "pickle_key": rcv.key, "message_type": m.typ, "message": m.body}
	if want != nil {
		if err != nil || !bytes.Equal(pt, want) {
			if !crafted {
				panic(fmt.Sprintf("vectorgen: %s: libolm: %v, plaintext %q, want %q", id, libolmCode(err), pt, want))
			}
			flags = append(flags, "libolm-diff")
			notes += fmt.Sprintf(" libolm 3.2.13 refuses it (%s).", libolmCode(err))
		}
		b.add(vec{id: id, kind: "olm.decrypt", inputs: in, expected: map[string]any{"plaintext_hex": hx(want)}, notes: strings.TrimSpace(notes), derived: crafted, flags: flags})
		return
	}
	if err == nil {
		flags = append(flags, "libolm-diff")
		notes += fmt.Sprintf(" libolm 3.2.13 accepts it and returns %q.", pt)
	} else {
		notes += " libolm: " + libolmCode(err) + "."
	}
	b.add(vec{id: id, kind: "olm.decrypt", inputs: in, errClass: class, notes: strings.TrimSpace(notes), derived: crafted, flags: flags})
}

// olmEncryptCase adds an olm.encrypt vector: the sender's pickle before
// encrypting, and libolm's message. Only for messages that needed no
// random input.
func (b *builder) olmEncryptCase(id string, sender olmReceiver, pt []byte, m olmMsg, notes string) {
	b.add(vec{id: id, kind: "olm.encrypt",
		inputs:   map[string]any{"session_pickle": sender.pickle, "pickle_key": sender.key, "plaintext_hex": hx(pt)},
		expected: map[string]any{"message_type": m.typ, "message": m.body},
		notes:    notes})
}

// normalFields are the byte offsets of a normal message's fields.
type normalFields struct {
	keyTag, keyStart, indexTag, indexStart, ctTag, ctStart, macStart int
}

func locateNormal(nb []byte) normalFields {
	var f normalFields
	pos := 1
	for pos < len(nb)-8 {
		tag := nb[pos]
		v, n := uvarint(nb[pos+1:])
		switch tag {
		case 0x0A:
			f.keyTag, f.keyStart = pos, pos+1+n
			pos += 1 + n + int(v)
		case 0x10:
			f.indexTag, f.indexStart = pos, pos+1
			pos += 1 + n
		case 0x22:
			f.ctTag, f.ctStart = pos, pos+1+n
			pos += 1 + n + int(v)
		default:
			panic("vectorgen: unexpected field in a normal message")
		}
	}
	f.macStart = len(nb) - 8
	return f
}

// preKeyParts splits a pre-key message into its keys and inner message.
func preKeyParts(pk []byte) (otk, base, id, inner []byte) {
	fields := pk[1:]
	return protoField(fields, 0x0A), protoField(fields, 0x12), protoField(fields, 0x1A), protoField(fields, 0x22)
}

// olmMutations adds the must-fail vectors of one message: every field class
// flipped, truncations, bad versions. rcv must decrypt m.
func (b *builder) olmMutations(prefix string, rcv olmReceiver, m olmMsg) {
	body := unb64(m.body)
	inner := body
	var otk, base, idk []byte
	if m.typ == 0 {
		otk, base, idk, inner = preKeyParts(body)
	}
	wrap := func(nb []byte) olmMsg {
		if m.typ == 0 {
			return olmMsg{0, b64(preKey(otk, base, idk, nb))}
		}
		return olmMsg{1, b64(nb)}
	}
	f := locateNormal(inner)
	type mut struct {
		id, class, notes string
		nb               []byte
	}
	muts := []mut{
		{"version-2", "bad-message-version", "Version byte 2 instead of 3.", append([]byte{2}, inner[1:]...)},
		{"version-4", "bad-message-version", "Version byte 4 (vodozemac's version 2 with 32-byte MACs) sent to a version 1 session.", append([]byte{4}, inner[1:]...)},
		{"version-0", "bad-message-version", "Version byte 0.", append([]byte{0}, inner[1:]...)},
		{"ratchet-key-tag", "bad-message-format", "The ratchet key's tag 0x0A changed to 0x0B.", flip(inner, f.keyTag, 0x01)},
		{"ratchet-key-first-byte", "bad-mac", "First byte of the ratchet key flipped.", flip(inner, f.keyStart, 0x01)},
		{"ratchet-key-last-byte", "bad-mac", "Last byte of the ratchet key flipped (its top bit, which X25519 ignores: only the MAC can catch it).", flip(inner, f.keyStart+31, 0x80)},
		{"index", "bad-mac", "The message index changed by one.", flip(inner, f.indexStart, 0x01)},
		{"ciphertext-tag", "bad-message-format", "The ciphertext's tag 0x22 changed to 0x23.", flip(inner, f.ctTag, 0x01)},
		{"ciphertext-first-byte", "bad-mac", "First ciphertext byte flipped.", flip(inner, f.ctStart, 0x01)},
		{"ciphertext-last-byte", "bad-mac", "Last ciphertext byte flipped.", flip(inner, f.macStart-1, 0x01)},
	}
	for i := range 8 {
		muts = append(muts, mut{fmt.Sprint("mac-byte-", i), "bad-mac", fmt.Sprintf("Byte %d of the 8-byte MAC flipped.", i), flip(inner, f.macStart+i, 0x01)})
	}
	muts = append(muts,
		mut{"truncated-1", "bad-message-format", "Only the version byte.", inner[:1]},
		mut{"truncated-in-ratchet-key", "bad-message-format", "Cut in the middle of the ratchet key.", inner[:f.keyStart+16]},
		mut{"truncated-after-index", "bad-message-format", "Cut after the index: no ciphertext.", inner[:f.ctTag]},
		mut{"truncated-mac-1", "bad-mac", "The last byte of the MAC removed.", inner[:len(inner)-1]},
		mut{"truncated-mac-all", "bad-mac", "The whole MAC removed.", inner[:len(inner)-8]},
		mut{"extra-byte", "bad-mac", "One byte appended after the MAC.", cat(inner, []byte{0})},
	)
	for _, mu := range muts {
		b.olmCase(prefix+"-"+mu.id, rcv, wrap(mu.nb), nil, mu.class, mu.notes, false)
	}
	b.olmCase(prefix+"-empty", rcv, olmMsg{m.typ, ""}, nil, "bad-message-format", "An empty message.", false)
	b.olmCase(prefix+"-not-base64", rcv, olmMsg{m.typ, m.body[:len(m.body)-2] + "!!"}, nil, "bad-message-format", "The body is not base64.", false)
	if m.typ == 0 {
		b.olmCase(prefix+"-as-normal", rcv, olmMsg{1, m.body}, nil, "bad-message-format", "A pre-key message given as a normal message (type 1).", false)
		b.olmCase(prefix+"-prekey-version-4", rcv, olmMsg{0, b64(append([]byte{4}, body[1:]...))}, nil, "bad-message-version", "The pre-key message's own version byte set to 4: it must be 3.", false)
		b.olmCase(prefix+"-prekey-one-time-key", rcv, olmMsg{0, b64(preKey(flip(otk, 0, 1), base, idk, inner))}, nil, "session-mismatch", "The pre-key message names another one-time key than the session's: a client must check that a pre-key message matches the session before decrypting it with that session.", false, "policy")
		b.olmCase(prefix+"-prekey-base-key", rcv, olmMsg{0, b64(preKey(otk, flip(base, 0, 1), idk, inner))}, nil, "session-mismatch", "The pre-key message names another base key than the session's.", false, "policy")
		b.olmCase(prefix+"-prekey-identity-key", rcv, olmMsg{0, b64(preKey(otk, base, flip(idk, 0, 1), inner))}, nil, "session-mismatch", "The pre-key message names another identity key than the session's.", false, "policy")
	} else {
		b.olmCase(prefix+"-as-prekey", rcv, olmMsg{0, m.body}, nil, "bad-message-format", "A normal message given as a pre-key message (type 0).", false)
	}
}

// olmCrafted adds decrypt vectors of messages the generator writes itself
// with the message key mk of m (a normal message at index idx): unusual but
// valid encodings, and malformed ones under a valid MAC.
func (b *builder) olmCrafted(prefix string, rcv olmReceiver, m olmMsg, mk, pt []byte) {
	body := unb64(m.body)
	if m.typ != 1 {
		panic("vectorgen: olmCrafted wants a normal message")
	}
	f := locateNormal(body)
	key := body[f.keyStart : f.keyStart+32]
	idx, _ := uvarint(body[f.indexStart:])
	ct := body[f.ctStart:f.macStart]
	field := func(tag byte, v []byte) []byte { return cat([]byte{tag}, varint(nil, uint64(len(v))), v) }
	idxField := func(enc []byte) []byte { return cat([]byte{0x10}, enc) }
	minimal := varint(nil, idx)
	nonMinimal := append(append([]byte(nil), minimal...), 0)
	nonMinimal[len(minimal)-1] |= 0x80
	overflow := varint(nil, idx+1<<32)
	k := deriveAESSHA2(mk, "OLM_KEYS")
	type craft struct {
		id, class, notes string
		nb               []byte
		ok               bool
		flags            []string
	}
	crafts := []craft{
		{"re-mac-check", "", "The message as libolm wrote it, MAC recomputed by the generator: checks the generator's message key.", body[:f.macStart], true, nil},
		{"fields-reordered", "", "Index, then ciphertext, then ratchet key: fields may come in any order (protobuf encoding, as libolm and vodozemac read it).",
			cat([]byte{3}, idxField(minimal), field(0x22, ct), field(0x0A, key)), true, nil},
		{"unknown-field", "", "An unknown varint field (tag 0x28) before the MAC: skipped, as protobuf readers do.",
			cat(body[:f.macStart], []byte{0x28, 0x05}), true, nil},
		{"index-non-minimal-varint", "", "The index written with a redundant continuation byte (0x80-terminated run): still the same number under protobuf rules.",
			cat([]byte{3}, field(0x0A, key), idxField(nonMinimal), field(0x22, ct)), true, nil},
		{"index-overflow-varint", "bad-message-format", "The index written as index + 2^32: it does not fit the 32-bit index, and libolm's reader silently drops the high bits.",
			cat([]byte{3}, field(0x0A, key), idxField(overflow), field(0x22, ct)), false, []string{"policy"}},
		{"index-unterminated-varint", "bad-message-format", "The index varint runs to the end of the message: every byte has its continuation bit set.",
			cat([]byte{3}, field(0x0A, key), field(0x22, ct), []byte{0x10, 0x80, 0x80}), false, nil},
		{"ciphertext-length-too-long", "bad-message-format", "The ciphertext length says one byte more than there is.",
			cat([]byte{3}, field(0x0A, key), idxField(minimal), []byte{0x22}, varint(nil, uint64(len(ct)+1)), ct), false, nil},
		{"ratchet-key-33-bytes", "bad-message-format", "A 33-byte ratchet key field.",
			cat([]byte{3}, field(0x0A, cat(key, []byte{0})), idxField(minimal), field(0x22, ct)), false, nil},
		{"ratchet-key-missing", "bad-message-format", "No ratchet key field.",
			cat([]byte{3}, idxField(minimal), field(0x22, ct)), false, nil},
		{"index-missing", "bad-message-format", "No index field.",
			cat([]byte{3}, field(0x0A, key), field(0x22, ct)), false, nil},
		{"ciphertext-missing", "bad-message-format", "No ciphertext field.",
			cat([]byte{3}, field(0x0A, key), idxField(minimal)), false, nil},
		{"version-4", "bad-message-version", "Version byte 4 under a valid 8-byte MAC: a version 1 session must refuse it before looking further.",
			cat([]byte{4}, body[1:f.macStart]), false, nil},
		{"ciphertext-empty", "bad-ciphertext", "An empty ciphertext field.",
			cat([]byte{3}, field(0x0A, key), idxField(minimal), field(0x22, nil)), false, nil},
		{"ciphertext-not-blocks", "bad-ciphertext", "A ciphertext of 17 bytes: not a whole number of AES blocks.",
			cat([]byte{3}, field(0x0A, key), idxField(minimal), field(0x22, cat(ct, []byte{1})[:17])), false, nil},
		{"bad-padding", "bad-ciphertext", "A ciphertext whose last plaintext byte is 0x00: not PKCS#7 padding.",
			cat([]byte{3}, field(0x0A, key), idxField(minimal), field(0x22, k.encryptRaw(bytesOf(0, 16)))), false, nil},
	}
	for _, c := range crafts {
		msg := olmMsg{1, b64(reMAC(mk, c.nb))}
		if c.id == "ciphertext-empty" || c.id == "ciphertext-not-blocks" {
			// libolm is not asked: valgrind shows olm_decrypt reading
			// before (empty) or writing past (17 bytes) its output
			// buffer, since it runs CBC over a partial block.
			b.add(vec{id: prefix + "-crafted-" + c.id, kind: "olm.decrypt", derived: true, flags: []string{"libolm-diff"}, errClass: c.class,
				inputs: map[string]any{"session_pickle": rcv.pickle, "pickle_key": rcv.key, "message_type": 1, "message": msg.body},
				notes:  c.notes + " MAC valid. libolm 3.2.13 must not be given this message: it decrypts a ciphertext that is not a whole number of blocks, reading before or writing past its output buffer (found with valgrind while generating these vectors)."})
			continue
		}
		if c.id == "re-mac-check" && msg.body != m.body {
			panic("vectorgen: the generator's Olm MAC differs from libolm's")
		}
		if c.ok {
			b.olmCase(prefix+"-crafted-"+c.id, rcv, msg, pt, "", c.notes+" MAC valid.", true, c.flags...)
		} else {
			b.olmCase(prefix+"-crafted-"+c.id, rcv, msg, nil, c.class, c.notes+" MAC valid.", true, c.flags...)
		}
	}
}

// x25519 returns the shared secret of a private key and a public key.
func x25519(priv []byte, pub string) []byte {
	k := must1(ecdh.X25519().NewPrivateKey(priv))
	p := must1(ecdh.X25519().NewPublicKey(unb64(pub)))
	return must1(k.ECDH(p))
}

func x25519Public(priv []byte) string {
	return b64(must1(ecdh.X25519().NewPrivateKey(priv)).PublicKey().Bytes())
}

// olmRoot expands a triple Diffie-Hellman secret into the root and chain
// keys.
func olmRoot(secret []byte) (root, chain []byte) {
	out := must1(hkdf.Key(sha256.New, secret, nil, "OLM_ROOT", 64))
	return out[:32], out[32:]
}

func sessionID(aliceIdentity, base, oneTime []byte) string {
	h := sha256.Sum256(cat(aliceIdentity, base, oneTime))
	return b64(h[:])
}

func genOlmSetup(b *builder) {
	for k := range 6 {
		label := fmt.Sprint("setup ", k)
		key := fmt.Sprint("setup pickle key ", k)
		if k == 2 {
			key = ""
		}
		alice, bob := newAccount(label+" alice"), newAccount(label+" bob")
		bobID := identity(bob).Curve25519
		aliceID := identity(alice).Curve25519
		var theirKey, keyNote string
		switch k {
		case 1, 4:
			theirKey, keyNote = newFallbackKey(bob, label), "Bob's fallback key"
		case 5:
			for i := range 20 {
				newOneTimeKey(bob, fmt.Sprint(label, " spare ", i))
			}
			theirKey, keyNote = newOneTimeKey(bob, label), "one of Bob's 21 one-time keys"
		default:
			theirKey, keyNote = newOneTimeKey(bob, label), "Bob's one-time key"
		}
		alicePickle := must1(alice.Pickle([]byte(key)))
		bobPickle := must1(bob.Pickle([]byte(key)))

		// Alice's side, from libolm, checked with the generator's 3DH.
		random := outboundRandom(label)
		s := outbound(alice, bobID, theirKey, label)
		st := must1(openSession(pickleSession(s, key), []byte(key)))
		aliceIDPriv := rnd("account "+label+" alice", 64)[32:64]
		secret := cat(x25519(aliceIDPriv, theirKey), x25519(random[:32], bobID), x25519(random[:32], theirKey))
		root, ck := olmRoot(secret)
		sid := must1(s.SessionID())
		if !bytes.Equal(root, st.rootKey) || !bytes.Equal(ck, st.senders[0].key) || sid != sessionID(unb64(aliceID), unb64(x25519Public(random[:32])), unb64(theirKey)) {
			panic("vectorgen: libolm's outbound session differs from the reference triple Diffie-Hellman")
		}
		b.add(vec{id: label + "-outbound", kind: "olm.outbound_session",
			inputs: map[string]any{"account_pickle": alicePickle, "pickle_key": key, "their_identity_key": bobID, "their_one_time_key": theirKey, "random_hex": hx(random)},
			expected: map[string]any{"session_id": sid, "root_key_hex": hx(root), "chain_key_hex": hx(ck), "chain_index": 0,
				"ratchet_key": x25519Public(random[32:])},
			notes: fmt.Sprintf("Alice opens a session to %s. random_hex is the base key's private key, then the first ratchet key's. Triple DH secret: %s.", keyNote, hx(secret))})

		// Her first message, and Bob's side.
		pt := []byte(fmt.Sprintf(`{"type":"m.dummy","content":{},"n":%d}`, k))
		sender := olmReceiver{pickleSession(s, key), key}
		m, _ := encrypt(s, pt, label)
		b.olmEncryptCase(label+"-first-message", sender, pt, m, "Alice's first message: a pre-key message, needing no random input.")
		bs := must1(bob.NewInboundSessionFrom(aliceID, m.body))
		got := must1(bs.Decrypt(libolm.MessageType(m.typ), m.body))
		if !bytes.Equal(got, pt) {
			panic("vectorgen: Bob decrypted something else")
		}
		bst := must1(openSession(pickleSession(bs, key), []byte(key)))
		if !bytes.Equal(bst.rootKey, root) || !bytes.Equal(bst.receivers[0].key, olmAdvanceChain(ck)) {
			panic("vectorgen: Bob's session differs from Alice's")
		}
		theirIdentity := aliceID
		if k == 3 {
			theirIdentity = ""
		}
		b.add(vec{id: label + "-inbound", kind: "olm.inbound_session",
			inputs: map[string]any{"account_pickle": bobPickle, "pickle_key": key, "their_identity_key": theirIdentity, "message": m.body},
			expected: map[string]any{"session_id": sid, "plaintext_hex": hx(pt), "root_key_hex": hx(root),
				"chain_key_hex": hx(bst.receivers[0].key), "chain_index": 1, "ratchet_key": x25519Public(random[32:])},
			notes: "Bob creates the session from Alice's pre-key message and decrypts it; the receiver chain is then at index 1 (chain key HMAC-SHA-256(" + hx(ck) + ", 0x02))." +
				map[bool]string{true: " their_identity_key is empty: the sender is taken from the message.", false: ""}[theirIdentity == ""]})

		if k > 1 {
			continue
		}
		// Must-fail cases on the first two scenarios.
		if k == 0 {
			must(bob.RemoveOneTimeKeys(bs))
		}
		usedPickle := must1(bob.Pickle([]byte(key)))
		inFail := func(id, class, notes string, acct, their, msg string, crafted bool, flags ...string) {
			err := libolmInbound(acct, key, their, msg)
			if err == nil {
				flags = append(flags, "libolm-diff")
				notes += " libolm 3.2.13 accepts it."
			} else {
				notes += " libolm: " + libolmCode(err) + "."
			}
			b.add(vec{id: label + "-" + id, kind: "olm.inbound_session", derived: crafted, flags: flags, errClass: class,
				inputs: map[string]any{"account_pickle": acct, "pickle_key": key, "their_identity_key": their, "message": msg},
				notes:  notes})
		}
		if k == 0 {
			inFail("replay-after-key-used", "unknown-one-time-key", "The same pre-key message again, after the one-time key was used and removed: a replay must not open a second session.", usedPickle, aliceID, m.body, false)
		} else {
			// A fallback key stays: the replay opens the same session again.
			b.add(vec{id: label + "-fallback-reused", kind: "olm.inbound_session",
				inputs: map[string]any{"account_pickle": usedPickle, "pickle_key": key, "their_identity_key": aliceID, "message": m.body},
				expected: map[string]any{"session_id": sid, "plaintext_hex": hx(pt), "root_key_hex": hx(root),
					"chain_key_hex": hx(bst.receivers[0].key), "chain_index": 1},
				notes: "A fallback key is not removed when used: the pre-key message opens a session again (clients must detect replays themselves)."})
		}
		other := newAccount(label + " other")
		newOneTimeKey(other, label+" other")
		inFail("wrong-account", "unknown-one-time-key", "Another account, which never had the one-time key.", must1(other.Pickle([]byte(key))), aliceID, m.body, false)
		inFail("wrong-sender", "session-mismatch", "their_identity_key is another device's identity key than the one in the message.", bobPickle, identity(other).Curve25519, m.body, false)
		body := unb64(m.body)
		otk, base, idk, inner := preKeyParts(body)
		f := locateNormal(inner)
		for _, mu := range []struct{ id, class, notes, msg string }{
			{"prekey-version-4", "bad-message-version", "The pre-key message's version byte set to 4.", b64(append([]byte{4}, body[1:]...))},
			{"prekey-version-2", "bad-message-version", "The pre-key message's version byte set to 2.", b64(append([]byte{2}, body[1:]...))},
			{"base-key-flipped", "bad-mac", "A byte of the base key flipped: the triple DH differs, the MAC fails.", b64(preKey(otk, flip(base, 5, 1), idk, inner))},
			{"identity-key-flipped", "bad-mac", "A byte of the sender identity key flipped, with their_identity_key empty so that only the MAC can catch it.", b64(preKey(otk, base, flip(idk, 5, 1), inner))},
			{"one-time-key-flipped", "unknown-one-time-key", "A byte of the one-time key flipped.", b64(preKey(flip(otk, 5, 1), base, idk, inner))},
			{"inner-version-4", "bad-message-version", "The inner message's version byte set to 4.", b64(preKey(otk, base, idk, cat([]byte{4}, inner[1:])))},
			{"inner-ciphertext-flipped", "bad-mac", "A ciphertext byte of the inner message flipped.", b64(preKey(otk, base, idk, flip(inner, f.ctStart, 1)))},
			{"inner-mac-byte-0", "bad-mac", "The first MAC byte of the inner message flipped.", b64(preKey(otk, base, idk, flip(inner, f.macStart, 1)))},
			{"inner-mac-byte-7", "bad-mac", "The last MAC byte of the inner message flipped.", b64(preKey(otk, base, idk, flip(inner, -1, 0x80)))},
			{"inner-truncated", "bad-mac", "The inner message without its last MAC byte.", b64(preKey(otk, base, idk, inner[:len(inner)-1]))},
			{"no-inner-message", "bad-message-format", "The pre-key message without its inner message.", b64(body[:len(body)-len(inner)-2])},
			{"truncated-in-keys", "bad-message-format", "Cut in the middle of the base key.", b64(body[:50])},
			{"version-only", "bad-message-format", "Only the version byte.", b64(body[:1])},
			{"one-time-key-31-bytes", "bad-message-format", "A 31-byte one-time key field.", b64(preKey(otk[:31], base, idk, inner))},
		} {
			their := aliceID
			if strings.HasPrefix(mu.id, "identity") {
				their = ""
			}
			inFail(mu.id, mu.class, mu.notes, bobPickle, their, mu.msg, false)
		}
		// Forged sessions from low-order keys: the all-zero shared
		// secrets make the session's keys public.
		for _, lo := range []struct{ id, notes string }{
			{"low-order-identity-and-base", "identity and base key both low-order (the point 0): all three Diffie-Hellman results are zero, so anyone can compute the session keys and forge this message."},
			{"low-order-identity", "a low-order identity key (the point 0) and a real base key whose private key the forger holds: Bob's one-time DH with the identity key is zero and the forger computes the two others, so the session is forged without any private key of a real device."},
		} {
			zero := make([]byte, 32)
			ephPriv := rnd("low order eph "+label, 32)
			basePub := zero
			secret := make([]byte, 96)
			if lo.id == "low-order-identity" {
				basePub = unb64(x25519Public(ephPriv))
				copy(secret[32:], x25519(ephPriv, bobID))
				copy(secret[64:], x25519(ephPriv, theirKey))
			}
			_, ck := olmRoot(secret)
			ratchetPriv := rnd("low order ratchet "+label, 32)
			nm := olmSealNormal(olmMessageKey(ck), olmMessage{version: 3, ratchetKey: unb64(x25519Public(ratchetPriv)), index: 0}, []byte(`{"forged":true}`), olmMessage.encode)
			forged := b64(preKey(unb64(theirKey), basePub, zero, nm))
			inFail("forged-"+lo.id, "bad-public-key", "A pre-key message with "+lo.notes+" Low-order keys must be refused (souverain refuses all-zero X25519 results).", bobPickle, b64(zero), forged, true, "policy")
		}
		if k == 0 {
			// The outbound side: keys that cannot be used.
			outFail := func(id, class, notes, their, theirKey string, flags ...string) {
				acc := must1(libolm.UnpickleAccount(alicePickle, []byte(key)))
				_, err := acc.NewOutboundSession(their, theirKey, random)
				acc.Free()
				if err == nil {
					flags = append(flags, "libolm-diff")
					notes += " libolm 3.2.13 accepts it."
				} else {
					notes += " libolm: " + libolmCode(err) + "."
				}
				b.add(vec{id: label + "-outbound-" + id, kind: "olm.outbound_session", errClass: class, flags: flags, derived: len(flags) > 0,
					inputs: map[string]any{"account_pickle": alicePickle, "pickle_key": key, "their_identity_key": their, "their_one_time_key": theirKey, "random_hex": hx(random)},
					notes:  notes})
			}
			outFail("one-time-key-not-base64", "bad-public-key", "The one-time key is not base64.", bobID, "!"+theirKey[1:])
			outFail("one-time-key-short", "bad-public-key", "A 31-byte one-time key.", bobID, b64(unb64(theirKey)[:31]))
			outFail("identity-key-low-order", "bad-public-key", "Bob's identity key replaced by the low-order point 0: one of the three Diffie-Hellman results is zero.", b64(make([]byte, 32)), theirKey, "policy")
			outFail("one-time-key-low-order", "bad-public-key", "The one-time key replaced by the low-order point 1 (u = 1): two Diffie-Hellman results are zero.", bobID, b64(cat([]byte{1}, make([]byte, 31))), "policy")
		}
	}
}

// libolmInbound creates an inbound session with libolm and decrypts the
// message with it, returning libolm's first error.
func libolmInbound(accountPickle, key, their, msg string) error {
	acc := must1(libolm.UnpickleAccount(accountPickle, []byte(key)))
	defer acc.Free()
	var s *libolm.Session
	var err error
	if their == "" {
		s, err = acc.NewInboundSession(msg)
	} else {
		s, err = acc.NewInboundSessionFrom(their, msg)
	}
	if err != nil {
		return err
	}
	defer s.Free()
	_, err = s.Decrypt(libolm.MessageTypePreKey, msg)
	return err
}

// peer is one end of a libolm conversation.
type peer struct {
	name string
	s    *libolm.Session
	key  string
}

func (p *peer) state() olmReceiver { return olmReceiver{pickleSession(p.s, p.key), p.key} }

// send encrypts pt; if no random input was needed it adds the olm.encrypt
// vector id (unless id is empty).
func (b *builder) send(p *peer, pt, label, id string) olmMsg {
	before := p.state()
	m, random := encrypt(p.s, []byte(pt), label)
	if !random && id != "" {
		b.olmEncryptCase(id+"-encrypt", before, []byte(pt), m, fmt.Sprintf("%s encrypts on an existing sending chain (no random input needed).", p.name))
	}
	return m
}

// recv decrypts m with libolm and, if id is not empty, adds the olm.decrypt
// vector of the state before. It returns that state.
func (b *builder) recv(p *peer, m olmMsg, pt, id, notes string) olmReceiver {
	before := p.state()
	if id != "" {
		b.olmCase(id, before, m, []byte(pt), "", notes, false)
	}
	got := must1(p.s.Decrypt(libolm.MessageType(m.typ), m.body))
	if string(got) != pt {
		panic("vectorgen: " + p.name + " decrypted something else")
	}
	return before
}

// newConversation sets up Alice and Bob with libolm; Bob has decrypted
// Alice's first pre-key message.
func newConversation(label, key string) (alice, bob *peer) {
	aAcc, bAcc := newAccount(label+" alice"), newAccount(label+" bob")
	otk := newOneTimeKey(bAcc, label)
	as := outbound(aAcc, identity(bAcc).Curve25519, otk, label)
	m, _ := encrypt(as, []byte("hello"), label+" first")
	bs := must1(bAcc.NewInboundSessionFrom(identity(aAcc).Curve25519, m.body))
	must1(bs.Decrypt(libolm.MessageType(m.typ), m.body))
	must(bAcc.RemoveOneTimeKeys(bs))
	return &peer{"Alice", as, key}, &peer{"Bob", bs, key}
}

func genOlmDecrypt(b *builder) {
	// A conversation with replies, new chains, and messages out of order.
	alice, bob := newConversation("conv", "conversation pickle key")
	a1 := b.send(alice, "second pre-key message", "conv a1", "conv-a1")
	b1Before := b.recv(bob, a1, "second pre-key message", "conv-a1", "A second pre-key message from Alice, on the session Bob already has.")
	b0 := b.send(bob, "first reply", "conv b0", "conv-b0")
	b1 := b.send(bob, "second reply", "conv b1", "conv-b1")
	aB0Before := b.recv(alice, b0, "first reply", "conv-b0", "Bob's first reply: Alice starts a receiver chain for Bob's new ratchet key.")
	b.recv(alice, b1, "second reply", "conv-b1", "Bob's second reply, on the chain Alice now knows.")
	var as []olmMsg
	var aSender []olmReceiver
	for i := 2; i <= 6; i++ {
		aSender = append(aSender, alice.state())
		as = append(as, b.send(alice, fmt.Sprint("message ", i), fmt.Sprint("conv a", i), fmt.Sprint("conv-a", i)))
	}
	a := func(i int) olmMsg { return as[i-2] }
	bA4Before := b.recv(bob, a(4), "message 4", "conv-a4-skips-two", "Alice's message 4 arrives before 2 and 3: Bob moves to her new chain and keeps the message keys of 2 and 3.")
	b.recv(bob, a(2), "message 2", "conv-a2-skipped-key", "Message 2, late: decrypted with a kept message key.")
	b.recv(bob, a(6), "message 6", "conv-a6-skips-one", "Message 6 before 5.")
	bA3Before := b.recv(bob, a(3), "message 3", "conv-a3-skipped-key", "Message 3, late.")
	b.recv(bob, a(5), "message 5", "conv-a5-skipped-key", "Message 5, late.")
	after := bob.state()
	b.olmCase("conv-a3-replay", after, a(3), nil, "message-key-not-found", "Message 3 again, after it was decrypted: its key is gone, a replay must fail.", false)
	b.olmCase("conv-a6-replay", after, a(6), nil, "message-key-not-found", "Message 6 again: the chain has moved past it.", false)
	b.olmCase("conv-a4-with-sender-session", aSender[2], a(4), nil, "bad-mac", "Message 4 given to Alice's own session.", false)
	_, other := newConversation("conv other", "conversation pickle key")
	b.olmCase("conv-a4-other-session", other.state(), a(4), nil, "bad-mac", "Message 4 given to another session of Bob's.", false)
	b.olmCase("conv-a4-wrong-pickle-key", olmReceiver{bA4Before.pickle, "wrong key"}, a(4), nil, "bad-pickle-key", "The right session under the wrong pickle key.", false)

	b.olmMutations("conv-a1", b1Before, a1)
	b.olmMutations("conv-b0", aB0Before, b0)
	b.olmMutations("conv-a4", bA4Before, a(4))
	b.olmMutations("conv-a3", bA3Before, a(3))
	// a(4) is index 2 of Alice's chain; her state before sending it holds
	// its chain key.
	st := must1(openSession(aSender[2].pickle, []byte(aSender[2].key)))
	b.olmCrafted("conv-a4", bA4Before, a(4), olmMessageKey(st.senders[0].key), []byte("message 4"))

	genOlmWalk(b)
	genOlmGap(b)
	genOlmChains(b)
}

// genOlmWalk is a longer conversation in bursts: each turn of direction
// turns the ratchet, each message in a burst steps a chain.
func genOlmWalk(b *builder) {
	alice, bob := newConversation("walk", "walk key")
	bursts := []int{2, 1, 3, 1, 1, 4, 2, 1, 1, 3, 2, 1}
	n := 0
	for i, burst := range bursts {
		from, to := bob, alice
		if i%2 == 1 {
			from, to = alice, bob
		}
		for range burst {
			pt := fmt.Sprintf(`{"type":"m.room_key_request","content":{"n":%d,"from":%q}}`, n, from.name)
			id := fmt.Sprintf("walk-%02d", n)
			m := b.send(from, pt, "walk "+id, id)
			b.recv(to, m, pt, id, fmt.Sprintf("Message %d of a conversation in bursts (%s to %s), burst %d.", n, from.name, to.name, i))
			n++
		}
	}
}

// genOlmGap checks the gap limit (2000 chain steps for one message) and the
// skipped-key limit (40 kept).
func genOlmGap(b *builder) {
	alice, bob := newConversation("gap", "gap key")
	r := b.send(bob, "reply", "gap reply", "")
	b.recv(alice, r, "reply", "", "")
	const n = 2003
	xs := make([]olmMsg, n)
	for i := range n {
		xs[i] = b.send(alice, fmt.Sprint("x", i), fmt.Sprint("gap x", i), "")
	}
	s0 := bob.state()
	b.olmCase("gap-new-chain-2000", s0, xs[2000], []byte("x2000"), "", "The first message Bob sees on Alice's new chain has index 2000: 2000 steps, the limit, allowed.", false)
	b.olmCase("gap-new-chain-2001", s0, xs[2001], nil, "message-gap", "The first message Bob sees on Alice's new chain has index 2001: more than 2000 steps, refused.", false)
	b.recv(bob, xs[0], "x0", "gap-x0", "Index 0 of the new chain.")
	s1 := bob.state()
	b.olmCase("gap-existing-chain-2000", s1, xs[2001], []byte("x2001"), "", "The chain is at index 1; index 2001 is 2000 steps ahead: allowed.", false)
	b.olmCase("gap-existing-chain-2001", s1, xs[2002], nil, "message-gap", "The chain is at index 1; index 2002 is 2001 steps ahead: refused.", false)

	// Skipped keys: index 45 first keeps the keys of 5..44 (the newest
	// 40), and drops 0..4... 1..4 here, since 0 was decrypted.
	bob2 := &peer{"Bob", must1(libolm.UnpickleSession(s1.pickle, []byte(s1.key))), s1.key}
	b.recv(bob2, xs[45], "x45", "skip-44", "Index 45 with the chain at 1: the message keys of 1..44 are computed; only the newest 40 (5..44) are kept.")
	z := bob2.state()
	b.olmCase("skip-kept-newest", z, xs[44], []byte("x44"), "", "Index 44: its key was kept.", false)
	b.olmCase("skip-kept-oldest", z, xs[5], []byte("x5"), "", "Index 5: the oldest key kept.", false)
	b.olmCase("skip-dropped-4", z, xs[4], nil, "message-key-not-found", "Index 4: its key was dropped (only 40 skipped keys are kept).", false)
	b.olmCase("skip-dropped-1", z, xs[1], nil, "message-key-not-found", "Index 1: its key was dropped.", false)
	b.olmCase("skip-decrypted-0", z, xs[0], nil, "message-key-not-found", "Index 0: decrypted before, never kept.", false)
}

// genOlmChains checks that a session keeps the receiver chains of the last
// five ratchet keys of the other side.
func genOlmChains(b *builder) {
	alice, bob := newConversation("chains", "chains key")
	// Alice's chain from the pre-key messages is Bob's first receiver
	// chain; a message on it is held back.
	held := b.send(alice, "held back", "chains held", "")
	var states []olmReceiver
	for round := range 6 {
		states = append(states, bob.state())
		r := b.send(bob, fmt.Sprint("reply ", round), fmt.Sprint("chains reply ", round), "")
		b.recv(alice, r, fmt.Sprint("reply ", round), "", "")
		m := b.send(alice, fmt.Sprint("chain ", round+1), fmt.Sprint("chains msg ", round), "")
		b.recv(bob, m, fmt.Sprint("chain ", round+1), "", "")
	}
	states = append(states, bob.state())
	for n, st := range states {
		s := must1(openSession(st.pickle, []byte(st.key)))
		_, err := olmTry(st.pickle, st.key, held)
		ok := err == nil
		if ok != (n < 5) {
			panic(fmt.Sprintf("vectorgen: held message with %d receiver chains: libolm %v", len(s.receivers), libolmCode(err)))
		}
		if n != 4 && n != 5 {
			continue
		}
		id := fmt.Sprintf("chains-held-after-%d-new", n)
		if ok {
			b.olmCase(id, st, held, []byte("held back"), "", fmt.Sprintf("A message on Alice's first chain, held back while %d newer chains arrived: Bob still keeps its chain (%d receiver chains, at most 5).", n, len(s.receivers)), false)
		} else {
			b.olmCase(id, st, held, nil, "unknown-chain", fmt.Sprintf("A message on Alice's first chain, held back while %d newer chains arrived: its chain was the oldest of six and was dropped.", n), false)
		}
	}
}
