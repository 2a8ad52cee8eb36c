package main

import (
	"encoding/binary"
	"fmt"

	"github.com/souverain/e2ee/interop/libolm"
)

const picklesDescription = "libolm pickles: an account (olm.account), Olm session (olm.session), inbound (megolm.inbound) or outbound (megolm.outbound) group session pickled by libolm, and the pickle key, give the object's observable state: identity keys, unpublished one-time and fallback keys and a signature; session ID and whether a message was received; first known index and the exported key; message index and session key. Older pickle versions that libolm still reads (accounts 2 and 3, inbound group sessions 1, Olm sessions 0x80000001) are re-encoded by the generator and checked with libolm. Must-fail vectors use wrong keys, damaged and truncated pickles, unknown versions, and bad contents under a valid MAC."

// signMessage is the message every olm.account vector signs.
var signMessage = []byte(`{"algorithms":["m.olm.v1.curve25519-aes-sha2"],"device_id":"VECTORS","user_id":"@alice:example.org"}`)

// accountState is what olm.account returns, from libolm.
func accountState(a *libolm.Account) map[string]any {
	ik := identity(a)
	otks := must1(a.OneTimeKeys())
	fb := must1(a.UnpublishedFallbackKey())
	return map[string]any{
		"curve25519":    ik.Curve25519,
		"ed25519":       ik.Ed25519,
		"one_time_keys": otks,
		"fallback_key":  fb,
		"signature":     must1(a.Sign(signMessage)),
	}
}

// pickleCase adds a positive vector of kind for a pickle, with the state
// read back from libolm after unpickling it there.
func (b *builder) pickleMustFail(kind, id, pickle, key, class, notes string, unpickle func(p string, k []byte) error, flags ...string) {
	err := unpickle(pickle, []byte(key))
	if err == nil {
		flags = append(flags, "libolm-diff")
		notes += " libolm 3.2.13 accepts it."
	} else {
		notes += " libolm: " + libolmCode(err) + "."
	}
	b.add(vec{id: id, kind: kind, inputs: pickleArgs(kind, pickle, key), errClass: class, notes: notes, flags: flags, derived: len(flags) > 0})
}

func pickleArgs(kind, pickle, key string) map[string]any {
	in := map[string]any{"pickle": pickle, "pickle_key": key}
	if kind == "olm.account" {
		in["message_hex"] = hx(signMessage)
	}
	return in
}

// damage adds the usual must-fail vectors of a pickle: wrong key, a flipped
// ciphertext byte, a flipped MAC byte, truncation, bad base64, and, under a
// valid MAC, an unknown version, a truncated body and extra data.
func (b *builder) damage(kind, prefix, pickle, key string, plain []byte, unknownVersion uint32, unpickle func(p string, k []byte) error) {
	raw := unb64(pickle)
	b.pickleMustFail(kind, prefix+"-wrong-key", pickle, key+"x", "bad-pickle-key", "The pickle under another key.", unpickle)
	b.pickleMustFail(kind, prefix+"-ciphertext-flipped", b64(flip(raw, 0, 1)), key, "bad-pickle-key", "The first ciphertext byte flipped: the MAC fails (libolm reports it as a wrong key).", unpickle)
	b.pickleMustFail(kind, prefix+"-mac-flipped", b64(flip(raw, -1, 0x80)), key, "bad-pickle-key", "The last MAC byte flipped.", unpickle)
	b.pickleMustFail(kind, prefix+"-truncated", b64(raw[:len(raw)-1]), key, "corrupted-pickle", "The last byte removed.", unpickle)
	b.pickleMustFail(kind, prefix+"-not-base64", "!"+pickle[1:], key, "corrupted-pickle", "Not base64.", unpickle)
	b.pickleMustFail(kind, prefix+"-empty", "", key, "corrupted-pickle", "Empty.", unpickle)
	v := append(binary.BigEndian.AppendUint32(nil, unknownVersion), plain[4:]...)
	b.pickleMustFail(kind, prefix+"-unknown-version", sealPickle(v, []byte(key)), key, "unknown-pickle-version", fmt.Sprintf("Version %d under a valid MAC.", unknownVersion), unpickle)
	b.pickleMustFail(kind, prefix+"-body-truncated", sealPickle(plain[:len(plain)-2], []byte(key)), key, "corrupted-pickle", "The last two bytes of the contents removed, MAC valid.", unpickle)
	b.pickleMustFail(kind, prefix+"-extra-data", sealPickle(cat(plain, []byte{0, 0, 0, 0}), []byte(key)), key, "corrupted-pickle", "Four bytes appended to the contents, MAC valid.", unpickle)
	b.pickleMustFail(kind, prefix+"-bad-padding", sealPickleRaw(bytesOf(0, 32), []byte(key)), key, "corrupted-pickle", "Contents ending in 0x00, which is no PKCS#7 padding, MAC valid.", unpickle)
}

func unpickleAccount(p string, k []byte) error {
	a, err := libolm.UnpickleAccount(p, k)
	if err == nil {
		a.Free()
	}
	return err
}

func unpickleSession(p string, k []byte) error {
	s, err := libolm.UnpickleSession(p, k)
	if err == nil {
		s.Free()
	}
	return err
}

func unpickleInbound(p string, k []byte) error {
	s, err := libolm.UnpickleInboundGroupSession(p, k)
	if err == nil {
		s.Free()
	}
	return err
}

func unpickleOutbound(p string, k []byte) error {
	s, err := libolm.UnpickleOutboundGroupSession(p, k)
	if err == nil {
		s.Free()
	}
	return err
}

// accountV4 is a decoded account pickle of version 4.
type accountV4 struct {
	identity  []byte // ed25519 pub 32, priv 64, curve25519 pub 32, priv 32
	otks      [][]byte
	fallbacks [][]byte // each: id, published, pub, priv
	nextKeyID []byte
}

func parseAccountV4(p []byte) accountV4 {
	r := &pickleReader{b: p}
	if v := r.u32(); v != 4 {
		panic(fmt.Sprint("vectorgen: account pickle version ", v))
	}
	var a accountV4
	a.identity = r.take(32 + 64 + 32 + 32)
	for n := r.u32(); n > 0; n-- {
		a.otks = append(a.otks, r.take(4+1+64))
	}
	for n := r.u8(); n > 0; n-- {
		a.fallbacks = append(a.fallbacks, r.take(4+1+64))
	}
	a.nextKeyID = r.take(4)
	if r.err != nil || len(r.b) != 0 {
		panic("vectorgen: bad account pickle")
	}
	return a
}

// encode writes the account in pickle version 2, 3 or 4.
func (a accountV4) encode(version uint32) []byte {
	out := cat(u32(version), a.identity, u32(uint32(len(a.otks))))
	for _, k := range a.otks {
		out = append(out, k...)
	}
	switch version {
	case 3:
		// Two fallback slots; the published flag says which exist.
		for i := range 2 {
			slot := make([]byte, 4+1+64)
			if i < len(a.fallbacks) {
				copy(slot, a.fallbacks[i])
				slot[4] = 1
			}
			out = append(out, slot...)
		}
	case 4:
		out = append(out, byte(len(a.fallbacks)))
		for _, f := range a.fallbacks {
			out = append(out, f...)
		}
	}
	return append(out, a.nextKeyID...)
}

func genPickles(b *builder) {
	// Accounts.
	type acct struct {
		name, key, notes string
		make             func() *libolm.Account
	}
	var accounts []acct
	accounts = append(accounts,
		acct{"fresh", "", "A fresh account, pickled with the empty key.", func() *libolm.Account { return newAccount("pickle fresh") }},
		acct{"three-unpublished", "pickle key", "Three unpublished one-time keys.", func() *libolm.Account {
			a := newAccount("pickle three")
			must(a.GenerateOneTimeKeys(3, rnd("pickle three otks", a.OneTimeKeysRandomLength(3))))
			return a
		}},
		acct{"published-and-fallback", "pickle key", "Five published and two unpublished one-time keys, and an unpublished fallback key.", func() *libolm.Account {
			a := newAccount("pickle mixed")
			must(a.GenerateOneTimeKeys(5, rnd("pickle mixed 5", a.OneTimeKeysRandomLength(5))))
			a.MarkKeysAsPublished()
			must(a.GenerateOneTimeKeys(2, rnd("pickle mixed 2", a.OneTimeKeysRandomLength(2))))
			newFallbackKey(a, "pickle mixed")
			return a
		}},
		acct{"two-fallback-keys", "ключ", "A published fallback key and a newer unpublished one; a UTF-8 pickle key.", func() *libolm.Account {
			a := newAccount("pickle fallback")
			newFallbackKey(a, "pickle fallback 1")
			a.MarkKeysAsPublished()
			newFallbackKey(a, "pickle fallback 2")
			return a
		}},
		acct{"full", "a long pickle key, longer than one block of SHA-256 input, 64 bytes", "105 one-time keys generated: libolm keeps the newest 100.", func() *libolm.Account {
			a := newAccount("pickle full")
			must(a.GenerateOneTimeKeys(105, rnd("pickle full otks", a.OneTimeKeysRandomLength(105))))
			return a
		}},
	)
	var mixedPickle string
	var mixedPlain []byte
	for _, c := range accounts {
		a := c.make()
		p := must1(a.Pickle([]byte(c.key)))
		b.add(vec{id: "account-" + c.name, kind: "olm.account", inputs: pickleArgs("olm.account", p, c.key), expected: accountState(a), notes: c.notes + " Pickle version 4."})
		if c.name == "published-and-fallback" {
			mixedPickle, mixedPlain = p, must1(openPickle(p, []byte(c.key)))
			// Older versions, re-encoded.
			acc := parseAccountV4(mixedPlain)
			for _, v := range []uint32{2, 3} {
				old := sealPickle(acc.encode(v), []byte(c.key))
				la := must1(libolm.UnpickleAccount(old, []byte(c.key)))
				b.add(vec{id: fmt.Sprint("account-version-", v), kind: "olm.account", inputs: pickleArgs("olm.account", old, c.key), expected: accountState(la),
					notes: fmt.Sprintf("The same account in pickle version %d, written by the generator; the state is libolm's reading of it (version 2 has no fallback keys; version 3 has two fallback slots whose published flag says whether they exist, so the fallback key reads as published).", v)})
				la.Free()
			}
			bad := acc
			bad.fallbacks = append(bad.fallbacks, acc.fallbacks[0], acc.fallbacks[0])
			b.pickleMustFail("olm.account", "account-three-fallback-keys", sealPickle(bad.encode(4), []byte(c.key)), c.key, "corrupted-pickle", "Three fallback keys: a version 4 pickle has at most two.", unpickleAccount)
			v1 := cat(u32(1), mixedPlain[4:4+32], mixedPlain[4+32:4+64], mixedPlain[4+96:])
			b.pickleMustFail("olm.account", "account-version-1", sealPickle(v1, []byte(c.key)), c.key, "unknown-pickle-version", "Version 1 (32-byte Ed25519 private keys), which libolm no longer reads.", unpickleAccount)
		}
		a.Free()
	}
	b.damage("olm.account", "account", mixedPickle, "pickle key", mixedPlain, 5, unpickleAccount)

	// Olm sessions.
	alice, bob := newConversation("pickles", "session key")
	fresh := alice.state()
	b.add(vec{id: "session-alice", kind: "olm.session", inputs: pickleArgs("olm.session", fresh.pickle, fresh.key),
		expected: map[string]any{"session_id": must1(alice.s.SessionID()), "has_received_message": false}, notes: "Alice's session after her first message."})
	bst := bob.state()
	b.add(vec{id: "session-bob", kind: "olm.session", inputs: pickleArgs("olm.session", bst.pickle, bst.key),
		expected: map[string]any{"session_id": must1(bob.s.SessionID()), "has_received_message": true}, notes: "Bob's session after Alice's first message."})
	m := b.send(bob, "reply", "pickles reply", "")
	b.recv(alice, m, "reply", "", "")
	for i := range 4 {
		b.send(alice, fmt.Sprint("m", i), fmt.Sprint("pickles m", i), "")
	}
	last := b.send(alice, "m4", "pickles m4", "")
	b.recv(bob, last, "m4", "", "")
	skip := bob.state()
	b.add(vec{id: "session-skipped-keys", kind: "olm.session", inputs: pickleArgs("olm.session", skip.pickle, skip.key),
		expected: map[string]any{"session_id": must1(bob.s.SessionID()), "has_received_message": true}, notes: "Bob's session holding four skipped message keys and two receiver chains."})
	plain := must1(openPickle(skip.pickle, []byte(skip.key)))
	logging := sealPickle(cat(u32(0x80000001), plain[4:], u32(7)), []byte(skip.key))
	must(unpickleSession(logging, []byte(skip.key)))
	b.add(vec{id: "session-version-0x80000001", kind: "olm.session", inputs: pickleArgs("olm.session", logging, skip.key),
		expected: map[string]any{"session_id": must1(bob.s.SessionID()), "has_received_message": true},
		notes:    "The same session in pickle version 0x80000001 (written by libolm's logging_enabled branch: version 1 followed by a chain index, ignored), re-encoded by the generator; libolm reads it."})
	b.damage("olm.session", "session", skip.pickle, skip.key, plain, 2, unpickleSession)

	// Inbound group sessions.
	g, _ := newGroup("pickles")
	sk := must1(g.SessionKey())
	for i := range 3 {
		must1(g.Encrypt([]byte(fmt.Sprint("group ", i))))
	}
	msg := must1(g.Encrypt([]byte("group 3")))
	const gkey = "group pickle key"
	in := must1(libolm.NewInboundGroupSession(sk))
	inState := func(s *libolm.InboundGroupSession) map[string]any {
		return map[string]any{"session_id": must1(s.SessionID()), "first_known_index": s.FirstKnownIndex(), "exported_session_key": must1(s.Export(s.FirstKnownIndex()))}
	}
	p0 := must1(in.Pickle([]byte(gkey)))
	b.add(vec{id: "inbound-from-session-key", kind: "megolm.inbound", inputs: pickleArgs("megolm.inbound", p0, gkey), expected: inState(in), notes: "Created from the signed session key at index 0."})
	must2(in.Decrypt(msg))
	p1 := must1(in.Pickle([]byte(gkey)))
	b.add(vec{id: "inbound-after-decrypt", kind: "megolm.inbound", inputs: pickleArgs("megolm.inbound", p1, gkey), expected: inState(in), notes: "After decrypting the message at index 3: the latest ratchet moved, the first known index did not."})
	exp := must1(in.Export(2))
	imp := must1(libolm.ImportInboundGroupSession(exp))
	p2 := must1(imp.Pickle([]byte(gkey)))
	b.add(vec{id: "inbound-imported", kind: "megolm.inbound", inputs: pickleArgs("megolm.inbound", p2, gkey), expected: inState(imp), notes: "Imported from an exported key at index 2: unverified."})
	plainIn := must1(openPickle(p0, []byte(gkey)))
	v1 := sealPickle(cat(u32(1), plainIn[4:len(plainIn)-1]), []byte(gkey))
	old := must1(libolm.UnpickleInboundGroupSession(v1, []byte(gkey)))
	b.add(vec{id: "inbound-version-1", kind: "megolm.inbound", inputs: pickleArgs("megolm.inbound", v1, gkey), expected: inState(old), notes: "Pickle version 1 (no verified flag), re-encoded by the generator."})
	old.Free()
	b.damage("megolm.inbound", "inbound", p0, gkey, plainIn, 3, unpickleInbound)

	// Outbound group sessions.
	og, _ := newGroup("pickles outbound")
	outState := func() map[string]any {
		return map[string]any{"session_id": must1(og.SessionID()), "message_index": og.MessageIndex(), "session_key": must1(og.SessionKey())}
	}
	q0 := must1(og.Pickle([]byte(gkey)))
	b.add(vec{id: "outbound-fresh", kind: "megolm.outbound", inputs: pickleArgs("megolm.outbound", q0, gkey), expected: outState(), notes: "A fresh outbound session."})
	for i := range 3 {
		must1(og.Encrypt([]byte(fmt.Sprint("out ", i))))
	}
	q3 := must1(og.Pickle([]byte(gkey)))
	b.add(vec{id: "outbound-index-3", kind: "megolm.outbound", inputs: pickleArgs("megolm.outbound", q3, gkey), expected: outState(), notes: "After three messages."})
	b.damage("megolm.outbound", "outbound", q3, gkey, must1(openPickle(q3, []byte(gkey))), 2, unpickleOutbound)
}
