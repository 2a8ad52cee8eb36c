package sas_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// sentCancel reports the code of the cancel events in the log from a
// device, or "".
func cancelCodes(t *testing.T, evs []sas.Event) []sas.CancelCode {
	var codes []sas.CancelCode
	for _, ev := range evs {
		if ev.Type == sas.EventCancel {
			var c sas.CancelContent
			json.Unmarshal(ev.Content, &c)
			codes = append(codes, c.Code)
		}
	}
	return codes
}

// twoEngines sets up alice and bob (to-device), ready to start.
func twoEngines(t *testing.T, opts ...devOpt) (*world, *device, *device, *sas.Verification, *sas.Verification) {
	w := newWorld(t)
	a := w.addDevice("@alice:example.org", "ALICEDEV", opts...)
	b := w.addDevice("@bob:example.org", "BOBDEV", opts...)
	va, vb := w.requestToDevice(a, b)
	return w, a, b, va, vb
}

// TestCancelMismatchedCommitment: whatever makes the accepter's key or the
// start content differ from what the commitment covers makes the starter
// cancel with m.mismatched_commitment before any SAS is shown.
func TestCancelMismatchedCommitment(t *testing.T) {
	other, _ := sas.New()
	cases := map[string]func(t *testing.T, from *device, ev *sas.Event){
		"altered commitment": func(t *testing.T, from *device, ev *sas.Event) {
			if ev.Type == sas.EventAccept {
				c := content(t, *ev)
				c["commitment"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
				setContent(t, ev, c)
			}
		},
		"substituted key": func(t *testing.T, from *device, ev *sas.Event) {
			if ev.Type == sas.EventKey && from.id == "BOBDEV" {
				c := content(t, *ev)
				c["key"] = other.PublicKey().String()
				setContent(t, ev, c)
			}
		},
		"altered start content": func(t *testing.T, from *device, ev *sas.Event) {
			if ev.Type == sas.EventStart {
				c := content(t, *ev)
				c["short_authentication_string"] = []string{"emoji", "decimal"}
				setContent(t, ev, c)
			}
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			w, a, b, va, vb := twoEngines(t)
			w.tamper = func(from *device, ev *sas.Event) bool { tamper(t, from, ev); return true }
			w.send(a, w.must(va.StartSAS())...)
			w.pump()
			requireCancelled(t, va, sas.CancelMismatchedCommitment, true)
			requireCancelled(t, vb, sas.CancelMismatchedCommitment, false)
			if _, _, ok := va.ShortAuthString(); ok {
				t.Error("the starter derived a SAS despite the commitment")
			}
			if !errorsContain(a.errs, sas.ErrCommitmentMismatch) {
				t.Errorf("alice errors %v", a.errs)
			}
			_ = b
		})
	}
}

// TestCancelLowOrderKey: a key that gives the all-zero secret cancels with
// m.key_mismatch and no SAS is derived, on either side.
func TestCancelLowOrderKey(t *testing.T) {
	lowOrder := "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"
	raw, _ := hex.DecodeString(lowOrder)
	key, _ := sas.NewPublicKey(raw)
	t.Run("to the accepter", func(t *testing.T) {
		w, a, _, va, vb := twoEngines(t)
		w.tamper = func(from *device, ev *sas.Event) bool {
			if ev.Type == sas.EventKey && from == a {
				c := content(t, *ev)
				c["key"] = key.String()
				setContent(t, ev, c)
			}
			return true
		}
		w.send(a, w.must(va.StartSAS())...)
		w.pump()
		requireCancelled(t, vb, sas.CancelKeyMismatch, true)
		if _, _, ok := vb.ShortAuthString(); ok {
			t.Error("SAS from a low-order key")
		}
	})
	t.Run("to the starter", func(t *testing.T) {
		// The scripted peer accepts with a commitment to the low-order
		// key, so the commitment holds and the key check must catch it.
		p := newScripted(t)
		p.requested()
		out, err := p.v.StartSAS()
		if err != nil {
			t.Fatal(err)
		}
		c, _ := sas.Commitment(key, out[0].Content)
		p.send(sas.EventAccept, map[string]any{
			"method": "m.sas.v1", "key_agreement_protocol": sas.KeyAgreementCurve25519HKDFSHA256, "hash": "sha256",
			"message_authentication_code": sas.MACHKDFHMACSHA256V2, "short_authentication_string": []string{"decimal"}, "commitment": c,
		})
		p.send(sas.EventKey, map[string]any{"key": key.String()})
		if code := p.lastCancel(); code != sas.CancelKeyMismatch {
			t.Fatalf("cancel %s", code)
		}
		if _, _, ok := p.v.ShortAuthString(); ok {
			t.Error("SAS from a low-order key")
		}
		if !errors.Is(p.lastErr, sas.ErrBadPublicKey) {
			t.Errorf("error %v", p.lastErr)
		}
	})
}

// TestCancelKeyMismatch: MACs that do not verify against the pinned keys
// cancel with m.key_mismatch.
func TestCancelKeyMismatch(t *testing.T) {
	cases := map[string]func(p *scripted) map[string]any{
		"altered device MAC": func(p *scripted) map[string]any {
			c := p.honestMAC()
			macs := c["mac"].(map[string]string)
			m := []byte(macs["ed25519:"+p.dev])
			m[3] ^= 1
			macs["ed25519:"+p.dev] = string(m)
			return c
		},
		"MAC of another device key": func(p *scripted) map[string]any {
			return p.macContent(map[string]string{"ed25519:" + p.dev: testKey("someone else").String()})
		},
		"key removed from the list": func(p *scripted) map[string]any {
			c := p.honestMAC()
			delete(c["mac"].(map[string]string), "ed25519:"+p.master.String())
			return c
		},
		"key added to the list": func(p *scripted) map[string]any {
			c := p.macContent(map[string]string{"ed25519:" + p.dev: p.key.String()})
			honest := p.honestMAC()
			c["mac"].(map[string]string)["ed25519:"+p.master.String()] = honest["mac"].(map[string]string)["ed25519:"+p.master.String()]
			return c
		},
		"key-ID MAC under the legacy encoding": func(p *scripted) map[string]any {
			c := p.honestMAC()
			var ids []string
			for id := range c["mac"].(map[string]string) {
				ids = append(ids, id)
			}
			c["keys"], _ = p.est.MAC(sas.MACHKDFHMACSHA256, sas.KeyIDList(ids), sas.MACInfo(p.me(), p.engParty(), p.txn, sas.KeyIDsInfo))
			return c
		},
		"no verifiable key": func(p *scripted) map[string]any {
			return p.macContent(map[string]string{"ed25519:OTHERDEVICE": p.key.String()})
		},
		// The 2022 key/device confusion (paper Fig. 10): a key ID naming
		// the master key, MACed over the device key.
		"master key ID over the device key": func(p *scripted) map[string]any {
			return p.macContent(map[string]string{
				"ed25519:" + p.dev:             p.key.String(),
				"ed25519:" + p.master.String(): p.key.String(),
			})
		},
	}
	for name, build := range cases {
		for _, confirmFirst := range []bool{false, true} {
			t.Run(name+map[bool]string{true: "/after confirm", false: "/before confirm"}[confirmFirst], func(t *testing.T) {
				p := newScripted(t)
				p.requested()
				p.startAndExchange()
				if confirmFirst {
					if _, err := p.v.Confirm(); err != nil {
						t.Fatal(err)
					}
				}
				p.send(sas.EventMAC, build(p))
				if code := p.lastCancel(); code != sas.CancelKeyMismatch {
					t.Fatalf("cancel %s (%v)", code, p.lastErr)
				}
				requireCancelled(t, p.v, sas.CancelKeyMismatch, true)
				if _, ok := p.v.Result(); ok {
					t.Error("result after a bad MAC")
				}
			})
		}
	}
}

// TestMACNeverVerifiesUnpinnedKeys: a key ID naming a key the engine did
// not pin (the attacker's own "master key" from paper Fig. 10) is ignored,
// and the result names only the pinned keys that verified.
func TestMACNeverVerifiesUnpinnedKeys(t *testing.T) {
	p := newScripted(t)
	p.requested()
	p.startAndExchange()
	fake := testKey("attacker master")
	p.send(sas.EventMAC, p.macContent(map[string]string{
		"ed25519:" + p.dev:          p.key.String(),
		"ed25519:" + fake.String():  fake.String(),
		"curve25519:" + p.dev:       "whatever",
		"ed25519:SOMEOTHERDEVICEID": p.key.String(),
	}))
	if p.lastErr != nil {
		t.Fatal(p.lastErr)
	}
	out, err := p.v.Confirm()
	if err != nil || len(out) != 2 {
		t.Fatalf("confirm %v %v", out, err)
	}
	p.send(sas.EventDone, map[string]any{})
	r, ok := p.v.Result()
	if !ok || r.DeviceKey == nil || *r.DeviceKey != p.key || r.MasterKey != nil {
		t.Fatalf("result %+v", r)
	}
}

// TestKeyIDCollision: a user whose device list has a device ID equal to
// one of their cross-signing keys is refused (CVE-2022-39250).
func TestKeyIDCollision(t *testing.T) {
	for _, which := range []string{"master", "self-signing", "user-signing"} {
		t.Run("responder/"+which, func(t *testing.T) {
			p := newScripted(t)
			k := p.keys[p.user]
			var cs olm.Ed25519PublicKey
			switch which {
			case "master":
				cs = k.MasterKey
			case "self-signing":
				cs = testKey("ssk")
				k.SelfSigningKey = cs
			default:
				cs = testKey("usk")
				k.UserSigningKey = cs
			}
			k.Devices[cs.String()] = cs
			p.keys[p.user] = k
			p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()})
			v := p.engine.Verification("", p.txn)
			out, err := v.Accept()
			if !errors.Is(err, sas.ErrKeyIDCollision) {
				t.Fatalf("accept: %v", err)
			}
			if codes := cancelCodes(t, out); len(codes) != 1 || codes[0] != sas.CancelKeyMismatch {
				t.Fatalf("sent %v", codes)
			}
		})
	}
	t.Run("requester", func(t *testing.T) {
		w := newWorld(t)
		a := w.addDevice("@alice:example.org", "ALICEDEV")
		b := w.addDevice("@bob:example.org", "BOBDEV")
		k := w.directory[b.user]
		k.Devices[k.MasterKey.String()] = testKey("fake device")
		w.directory[b.user] = k
		va, out, _ := a.m.RequestToDevice(b.user, b.id)
		w.send(a, out...)
		w.pump()
		vb := b.m.Verification("", va.FlowID())
		w.send(b, w.must(vb.Accept())...)
		w.pump()
		requireCancelled(t, va, sas.CancelKeyMismatch, true)
		if !errorsContain(a.errs, sas.ErrKeyIDCollision) {
			t.Errorf("errors %v", a.errs)
		}
	})
	t.Run("own master", func(t *testing.T) {
		key := testKey("k")
		_, err := sas.NewMachine(sas.Config{UserID: "@a:x", DeviceID: key.String(), DeviceKey: key, MasterKey: key,
			Keys: func(string) (sas.UserKeys, bool) { return sas.UserKeys{}, false }})
		if !errors.Is(err, sas.ErrKeyIDCollision) {
			t.Fatal(err)
		}
	})
}

// TestUnexpectedMessages: events out of order or twice cancel with
// m.unexpected_message.
func TestUnexpectedMessages(t *testing.T) {
	t.Run("mac before key", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		start, _ := json.Marshal(p.startContent())
		p.sendRaw(sas.EventStart, start)
		p.send(sas.EventMAC, map[string]any{"mac": map[string]string{}, "keys": "AAAA"})
		if c := p.lastCancel(); c != sas.CancelUnexpectedMessage {
			t.Fatal(c)
		}
	})
	t.Run("accept before start", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.send(sas.EventAccept, map[string]any{"key_agreement_protocol": "curve25519-hkdf-sha256", "hash": "sha256",
			"message_authentication_code": sas.MACHKDFHMACSHA256V2, "short_authentication_string": []string{"decimal"},
			"commitment": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
		if c := p.lastCancel(); c != sas.CancelUnexpectedMessage {
			t.Fatal(c)
		}
	})
	t.Run("start before ready", func(t *testing.T) {
		p := newScripted(t)
		p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()})
		start, _ := json.Marshal(p.startContent())
		p.sendRaw(sas.EventStart, start)
		if c := p.lastCancel(); c != sas.CancelUnexpectedMessage {
			t.Fatal(c)
		}
	})
	t.Run("duplicate start", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		start, _ := json.Marshal(p.startContent())
		p.sendRaw(sas.EventStart, start)
		p.sendRaw(sas.EventStart, start)
		if c := p.lastCancel(); c != sas.CancelUnexpectedMessage {
			t.Fatal(c)
		}
	})
	t.Run("duplicate key", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.startAndExchange()
		p.send(sas.EventKey, map[string]any{"key": p.sas.PublicKey().String()})
		if c := p.lastCancel(); c != sas.CancelUnexpectedMessage {
			t.Fatal(c)
		}
	})
	t.Run("duplicate mac", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.startAndExchange()
		p.send(sas.EventMAC, p.honestMAC())
		p.send(sas.EventMAC, p.honestMAC())
		if c := p.lastCancel(); c != sas.CancelUnexpectedMessage {
			t.Fatal(c)
		}
	})
	t.Run("done before mac", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.startAndExchange()
		p.v.Confirm()
		p.send(sas.EventDone, map[string]any{})
		if c := p.lastCancel(); c != sas.CancelUnexpectedMessage {
			t.Fatal(c)
		}
	})
	t.Run("duplicate ready", func(t *testing.T) {
		w, a, b, va, _ := twoEngines(t)
		w.inject(b, a, sas.EventReady, map[string]any{"from_device": b.id, "methods": []string{sas.MethodSAS}, "transaction_id": va.FlowID()})
		requireCancelled(t, va, sas.CancelUnexpectedMessage, true)
	})
	t.Run("replayed start after done", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.startAndExchange()
		p.send(sas.EventMAC, p.honestMAC())
		p.v.Confirm()
		p.send(sas.EventDone, map[string]any{})
		if p.v.State() != sas.StateDone {
			t.Fatal(p.v.State())
		}
		p.sendRaw(sas.EventStart, p.start)
		if c := p.lastCancel(); c != sas.CancelUnexpectedMessage {
			t.Fatal(c)
		}
		if p.v.State() != sas.StateDone {
			t.Fatalf("a replay changed a finished verification to %s", p.v.State())
		}
		// And a replayed request for the same transaction makes no new
		// verification.
		p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()})
		if len(p.last) != 0 || !errors.Is(p.lastErr, sas.ErrUnexpectedMessage) || p.engine.Verification("", p.txn) != p.v {
			t.Fatalf("replayed request: %v %v", p.last, p.lastErr)
		}
	})
	t.Run("duplicate request", func(t *testing.T) {
		p := newScripted(t)
		req := map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()}
		p.send(sas.EventRequest, req)
		p.send(sas.EventRequest, req)
		if c := p.lastCancel(); c != sas.CancelUnexpectedMessage {
			t.Fatal(c)
		}
	})
	t.Run("several requests from one device", func(t *testing.T) {
		p := newScripted(t)
		p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()})
		first := p.engine.Verification("", p.txn)
		p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli(), "transaction_id": "second"})
		if codes := cancelCodes(t, p.last); len(codes) != 2 {
			t.Fatalf("sent %v", codes)
		}
		requireCancelled(t, first, sas.CancelUnexpectedMessage, true)
		requireCancelled(t, p.engine.Verification("", "second"), sas.CancelUnexpectedMessage, true)
	})
}

// inject delivers a hand-made to-device event from one device to another.
func (w *world) inject(from, to *device, typ string, c map[string]any) {
	b, _ := json.Marshal(c)
	w.receive(from, to, sas.Event{Type: typ, Content: b, Sender: from.user, SenderDevice: from.id})
	w.pump()
}

// TestUnknownTransaction: a to-device event for an unknown transaction is
// answered with m.unknown_transaction, except start and cancel; in a room
// it is ignored.
func TestUnknownTransaction(t *testing.T) {
	p := newScripted(t)
	for _, typ := range []string{sas.EventReady, sas.EventAccept, sas.EventKey, sas.EventMAC, sas.EventDone} {
		c := map[string]any{"transaction_id": "nope", "from_device": p.dev, "methods": []string{"m.sas.v1"},
			"key": p.sas.PublicKey().String(), "mac": map[string]string{}, "keys": "x",
			"key_agreement_protocol": "curve25519-hkdf-sha256", "hash": "sha256", "message_authentication_code": "hkdf-hmac-sha256.v2",
			"short_authentication_string": []string{"decimal"}, "commitment": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
		p.send(typ, c)
		if code := p.lastCancel(); code != sas.CancelUnknownTransaction || p.last[0].ToUser != p.user || p.last[0].ToDevice != p.dev {
			t.Errorf("%s: %s to %s/%s", typ, code, p.last[0].ToUser, p.last[0].ToDevice)
		}
	}
	p.send(sas.EventCancel, map[string]any{"transaction_id": "nope", "code": "m.user", "reason": "x"})
	if len(p.last) != 0 {
		t.Errorf("a cancel was answered: %v", p.last)
	}
	b, _ := json.Marshal(map[string]any{"key": p.sas.PublicKey().String(), "m.relates_to": map[string]string{"rel_type": "m.reference", "event_id": "$nope"}})
	_, out, err := p.engine.Receive(sas.Event{Type: sas.EventKey, Content: b, Sender: p.user, RoomID: "!r:x", EventID: "$e"})
	if len(out) != 0 || !errors.Is(err, sas.ErrUnknownTransaction) {
		t.Errorf("in room: %v %v", out, err)
	}
}

// TestUserMismatch: an event from a third user with the transaction ID of
// a verification is answered with m.user_mismatch to that user only, and
// the verification goes on.
func TestUserMismatch(t *testing.T) {
	w, a, b, va, vb := twoEngines(t)
	carol := w.addDevice("@carol:example.org", "CAROLDEV")
	w.inject(carol, a, sas.EventCancel, map[string]any{"transaction_id": va.FlowID(), "code": "m.user", "reason": "x"})
	w.inject(carol, a, sas.EventReady, map[string]any{"transaction_id": va.FlowID(), "from_device": carol.id, "methods": []string{"m.sas.v1"}})
	if !errorsContain(a.errs, sas.ErrUserMismatch) {
		t.Fatalf("errors %v", a.errs)
	}
	found := false
	for _, l := range w.log {
		if l == "@alice:example.org/ALICEDEV>@carol:example.org/CAROLDEV cancel" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no cancel to carol: %q", w.log)
	}
	w.send(a, w.must(va.StartSAS())...)
	w.pump()
	w.compareAndConfirm(a, va, b, vb)
	requireDone(t, va, ptr(b.key), ptr(w.masters[b.user]))

	// In a room, a third user's events are ignored without an answer.
	w2 := newWorld(t)
	a2 := w2.addDevice("@alice:example.org", "A")
	b2 := w2.addDevice("@bob:example.org", "B")
	c2 := w2.addDevice("@carol:example.org", "C")
	va2, vb2 := w2.requestInRoom("!room:x", a2, b2)
	ev := sas.Event{Type: sas.EventCancel, RoomID: "!room:x"}
	ev.Content, _ = json.Marshal(map[string]any{"code": "m.user", "reason": "x", "m.relates_to": map[string]string{"rel_type": "m.reference", "event_id": va2.FlowID()}})
	w2.send(c2, ev)
	w2.pump()
	if va2.State() != sas.StateReady || vb2.State() != sas.StateReady {
		t.Fatalf("a third user's cancel changed the verification: %s %s", va2.State(), vb2.State())
	}
	if !errorsContain(a2.errs, sas.ErrUserMismatch) {
		t.Errorf("errors %v", a2.errs)
	}
}

// TestInvalidMessages: malformed contents of a known flow cancel with
// m.invalid_message (or m.unknown_method for an unknown start method).
func TestInvalidMessages(t *testing.T) {
	cases := []struct {
		name    string
		typ     string
		content string
		code    sas.CancelCode
	}{
		{"key not base64", sas.EventKey, `{"transaction_id":"scripted-txn","key":"!!!"}`, sas.CancelInvalidMessage},
		{"key too short", sas.EventKey, `{"transaction_id":"scripted-txn","key":"AAAA"}`, sas.CancelInvalidMessage},
		{"key wrong type", sas.EventKey, `{"transaction_id":"scripted-txn","key":7}`, sas.CancelInvalidMessage},
		{"start with a float", sas.EventStart, `{"transaction_id":"scripted-txn","from_device":"MALLORYDEV","method":"m.sas.v1","key_agreement_protocols":["curve25519-hkdf-sha256"],"hashes":["sha256"],"message_authentication_codes":["hkdf-hmac-sha256.v2"],"short_authentication_string":["decimal"],"x":1.5}`, sas.CancelInvalidMessage},
		{"start missing hashes", sas.EventStart, `{"transaction_id":"scripted-txn","from_device":"MALLORYDEV","method":"m.sas.v1","key_agreement_protocols":["curve25519-hkdf-sha256"],"message_authentication_codes":["hkdf-hmac-sha256.v2"],"short_authentication_string":["decimal"]}`, sas.CancelInvalidMessage},
		{"start unknown method", sas.EventStart, `{"transaction_id":"scripted-txn","from_device":"MALLORYDEV","method":"m.sas.v2"}`, sas.CancelUnknownMethod},
		{"start not an object", sas.EventStart, `["transaction_id","scripted-txn"]`, ""},
		{"mac missing keys", sas.EventMAC, `{"transaction_id":"scripted-txn","mac":{}}`, sas.CancelInvalidMessage},
		{"accept bad commitment", sas.EventAccept, `{"transaction_id":"scripted-txn","key_agreement_protocol":"curve25519-hkdf-sha256","hash":"sha256","message_authentication_code":"hkdf-hmac-sha256.v2","short_authentication_string":["decimal"],"commitment":"short"}`, sas.CancelInvalidMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newScripted(t)
			p.requested()
			p.sendRaw(c.typ, []byte(c.content))
			if c.code == "" {
				if len(p.last) != 0 || p.lastErr == nil {
					t.Fatalf("%v %v", p.last, p.lastErr)
				}
				return
			}
			if code := p.lastCancel(); code != c.code {
				t.Fatalf("cancel %s, want %s (%v)", code, c.code, p.lastErr)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		big := `{"transaction_id":"scripted-txn","key":"` + strings.Repeat("A", sas.MaxEventSize) + `"}`
		p.sendRaw(sas.EventKey, []byte(big))
		if len(p.last) != 0 || !errors.Is(p.lastErr, sas.ErrEventTooLarge) {
			t.Fatalf("%v %v", p.last, p.lastErr)
		}
	})
}

// TestUnknownMethod: no common method cancels with m.unknown_method.
func TestUnknownMethod(t *testing.T) {
	tamper := map[string]func(map[string]any){
		"hash":          func(c map[string]any) { c["hashes"] = []string{"sha512"} },
		"key agreement": func(c map[string]any) { c["key_agreement_protocols"] = []string{"curve25519"} },
		"mac":           func(c map[string]any) { c["message_authentication_codes"] = []string{"hmac-sha256"} },
		"sas":           func(c map[string]any) { c["short_authentication_string"] = []string{"emoji"} },
	}
	for name, f := range tamper {
		t.Run(name, func(t *testing.T) {
			p := newScripted(t)
			p.requested()
			c := p.startContent()
			f(c)
			p.send(sas.EventStart, c)
			if code := p.lastCancel(); code != sas.CancelUnknownMethod {
				t.Fatal(code)
			}
		})
	}
	t.Run("accept outside the offer", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.v.StartSAS()
		p.send(sas.EventAccept, map[string]any{"key_agreement_protocol": "curve25519-hkdf-sha256", "hash": "sha256",
			"message_authentication_code": sas.MACHKDFHMACSHA256, "short_authentication_string": []string{"decimal"},
			"commitment": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
		if code := p.lastCancel(); code != sas.CancelUnknownMethod {
			t.Fatal(code)
		}
	})
	t.Run("request with no common method", func(t *testing.T) {
		p := newScripted(t)
		p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{"org.example.other"}, "timestamp": p.clock.Now().UnixMilli()})
		v := p.engine.Verification("", p.txn)
		if len(p.last) != 0 || v.State() != sas.StateRequestReceived {
			t.Fatal("a request with unknown methods must not be cancelled on receipt")
		}
		out, err := v.Accept()
		if !errors.Is(err, sas.ErrUnknownMethod) || len(cancelCodes(t, out)) != 1 || cancelCodes(t, out)[0] != sas.CancelUnknownMethod {
			t.Fatalf("%v %v", out, err)
		}
	})
	t.Run("ready with no common method", func(t *testing.T) {
		w, _, _, va, _ := func() (*world, *device, *device, *sas.Verification, *sas.Verification) {
			w := newWorld(t)
			a := w.addDevice("@a:x", "A")
			b := w.addDevice("@b:x", "B")
			va, out, _ := a.m.RequestToDevice(b.user, b.id)
			w.inject(b, a, sas.EventReady, map[string]any{"transaction_id": va.FlowID(), "from_device": b.id, "methods": []string{"m.qr_code.scan.v1"}})
			_ = out
			return w, a, b, va, nil
		}()
		_ = w
		requireCancelled(t, va, sas.CancelUnknownMethod, true)
	})
}

// TestLegacyMACPeer: a peer that offers only hkdf-hmac-sha256 is verified
// with it when AllowLegacyMAC is set, refused with m.unknown_method
// otherwise; a peer offering both gets v2.
func TestLegacyMACPeer(t *testing.T) {
	t.Run("refused by default", func(t *testing.T) {
		p := newScripted(t)
		p.macMethod = sas.MACHKDFHMACSHA256
		p.requested()
		p.send(sas.EventStart, p.startContent())
		if code := p.lastCancel(); code != sas.CancelUnknownMethod {
			t.Fatal(code)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		p := newScripted(t, withLegacyMAC())
		p.macMethod = sas.MACHKDFHMACSHA256
		p.requested()
		p.startAndExchange()
		p.send(sas.EventMAC, p.honestMAC())
		out, err := p.v.Confirm()
		if err != nil || len(out) != 2 {
			t.Fatal(out, err)
		}
		var mc sas.MACContent
		json.Unmarshal(out[0].Content, &mc)
		want, _ := p.est.MAC(sas.MACHKDFHMACSHA256, p.engKey.String(), sas.MACInfo(p.engParty(), p.me(), p.txn, "ed25519:"+p.engDev))
		if mc.MAC["ed25519:"+p.engDev] != want {
			t.Fatalf("engine MAC %q, want legacy %q", mc.MAC["ed25519:"+p.engDev], want)
		}
		p.send(sas.EventDone, map[string]any{})
		requireDone(t, p.v, &p.key, &p.master)
	})
	t.Run("v2 preferred", func(t *testing.T) {
		p := newScripted(t, withLegacyMAC())
		p.requested()
		c := p.startContent()
		c["message_authentication_codes"] = []string{sas.MACHKDFHMACSHA256, sas.MACHKDFHMACSHA256V2}
		p.send(sas.EventStart, c)
		var ac sas.AcceptContent
		json.Unmarshal(p.last[0].Content, &ac)
		if ac.MessageAuthenticationCode != sas.MACHKDFHMACSHA256V2 {
			t.Fatal(ac.MessageAuthenticationCode)
		}
	})
}

// TestTimeouts covers the 10-minute limit, the request prompt and the
// request timestamp window.
func TestTimeouts(t *testing.T) {
	t.Run("tick mid-flow", func(t *testing.T) {
		w, a, b, va, vb := twoEngines(t)
		w.send(a, w.must(va.StartSAS())...)
		w.pump()
		w.clock.Advance(sas.Timeout + time.Second)
		out := a.m.Tick()
		if codes := cancelCodes(t, out); len(codes) != 1 || codes[0] != sas.CancelTimeout {
			t.Fatalf("tick sent %v", codes)
		}
		w.send(a, out...)
		w.pump()
		requireCancelled(t, va, sas.CancelTimeout, true)
		requireCancelled(t, vb, sas.CancelTimeout, false)
		if _, err := va.Confirm(); err == nil {
			t.Error("confirm after timeout")
		}
		_ = b
	})
	t.Run("late event", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.clock.Advance(sas.Timeout + time.Second)
		p.send(sas.EventStart, p.startContent())
		if code := p.lastCancel(); code != sas.CancelTimeout {
			t.Fatal(code)
		}
	})
	t.Run("just in time", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.clock.Advance(sas.Timeout - time.Second)
		p.startAndExchange()
	})
	t.Run("request prompt", func(t *testing.T) {
		p := newScripted(t)
		p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()})
		p.clock.Advance(sas.RequestPromptTimeout - time.Second)
		if out := p.engine.Tick(); len(out) != 0 {
			t.Fatal("early timeout")
		}
		p.clock.Advance(2 * time.Second)
		if codes := cancelCodes(t, p.engine.Tick()); len(codes) != 1 || codes[0] != sas.CancelTimeout {
			t.Fatal(codes)
		}
		if _, err := p.engine.Verification("", p.txn).Accept(); err == nil {
			t.Fatal("accepted an expired request")
		}
	})
	t.Run("old request prompt", func(t *testing.T) {
		// Sent 9 minutes ago: it expires 10 minutes after its timestamp,
		// before the 2-minute prompt limit.
		p := newScripted(t)
		p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().Add(-9 * time.Minute).UnixMilli()})
		p.clock.Advance(61 * time.Second)
		if codes := cancelCodes(t, p.engine.Tick()); len(codes) != 1 {
			t.Fatal(codes)
		}
	})
	for name, ts := range map[string]time.Duration{"request too old": -sas.RequestMaxAge - time.Second, "request from the future": sas.RequestMaxFuture + time.Second} {
		t.Run(name, func(t *testing.T) {
			p := newScripted(t)
			p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().Add(ts).UnixMilli()})
			if len(p.last) != 0 || !errors.Is(p.lastErr, sas.ErrTimeout) || p.engine.Verification("", p.txn) != nil {
				t.Fatalf("%v %v", p.last, p.lastErr)
			}
		})
	}
	t.Run("finished verifications are forgotten", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.v.Cancel()
		p.clock.Advance(time.Hour)
		p.engine.Tick()
		if p.engine.Verification("", p.txn) != nil {
			t.Fatal("still remembered")
		}
	})
}

// TestUserCancels covers m.user, m.mismatched_sas and received cancels,
// which are never answered.
func TestUserCancels(t *testing.T) {
	t.Run("mismatch", func(t *testing.T) {
		w, a, _, va, vb := twoEngines(t)
		w.send(a, w.must(va.StartSAS())...)
		w.pump()
		w.send(a, w.must(va.Mismatch())...)
		w.pump()
		requireCancelled(t, va, sas.CancelMismatchedSAS, true)
		requireCancelled(t, vb, sas.CancelMismatchedSAS, false)
	})
	t.Run("cancel", func(t *testing.T) {
		w, _, b, va, vb := twoEngines(t)
		w.send(b, vb.Cancel()...)
		w.pump()
		requireCancelled(t, vb, sas.CancelUser, true)
		requireCancelled(t, va, sas.CancelUser, false)
		if len(vb.Cancel()) != 0 {
			t.Error("second cancel sent events")
		}
	})
	t.Run("decline", func(t *testing.T) {
		w := newWorld(t)
		a := w.addDevice("@a:x", "A")
		b := w.addDevice("@b:x", "B")
		va, out, _ := a.m.RequestToDevice(b.user, b.id)
		w.send(a, out...)
		w.pump()
		w.send(b, b.m.Verification("", va.FlowID()).Cancel()...)
		w.pump()
		requireCancelled(t, va, sas.CancelUser, false)
	})
	t.Run("state errors", func(t *testing.T) {
		_, _, _, va, _ := twoEngines(t)
		for name, f := range map[string]func() ([]sas.Event, error){"confirm": va.Confirm, "mismatch": va.Mismatch, "accept": va.Accept} {
			if _, err := f(); !errors.Is(err, sas.ErrState) {
				t.Errorf("%s in ready: %v", name, err)
			}
		}
	})
}

// TestMultiDeviceRequest: a to-device request to several devices; the
// first ready wins and the others get m.accepted, or a decline cancels
// everywhere with m.user.
func TestMultiDeviceRequest(t *testing.T) {
	setup := func(t *testing.T) (*world, *device, *device, *device, *sas.Verification, *sas.Verification, *sas.Verification) {
		w := newWorld(t)
		a := w.addDevice("@alice:example.org", "A")
		b1 := w.addDevice("@bob:example.org", "B1")
		b2 := w.addDevice("@bob:example.org", "B2")
		va, out, err := a.m.RequestToDevice(b1.user, b1.id, b2.id)
		if err != nil || len(out) != 2 {
			t.Fatal(out, err)
		}
		w.send(a, out...)
		w.pump()
		return w, a, b1, b2, va, b1.m.Verification("", va.FlowID()), b2.m.Verification("", va.FlowID())
	}
	t.Run("accepted", func(t *testing.T) {
		w, a, b1, b2, va, v1, v2 := setup(t)
		w.send(b1, w.must(v1.Accept())...)
		w.pump()
		requireCancelled(t, v2, sas.CancelAccepted, false)
		if va.OtherDevice() != "B1" {
			t.Fatal(va.OtherDevice())
		}
		// A late ready from B2 is told the request went elsewhere.
		w.inject(b2, a, sas.EventReady, map[string]any{"transaction_id": va.FlowID(), "from_device": "B2", "methods": []string{"m.sas.v1"}})
		if va.State() != sas.StateReady {
			t.Fatal(va.State())
		}
		w.send(a, w.must(va.StartSAS())...)
		w.pump()
		w.compareAndConfirm(a, va, b1, v1)
		requireDone(t, va, ptr(b1.key), ptr(w.masters[b1.user]))
	})
	t.Run("declined", func(t *testing.T) {
		w, _, _, b2, va, v1, v2 := setup(t)
		w.send(b2, v2.Cancel()...)
		w.pump()
		requireCancelled(t, va, sas.CancelUser, false)
		requireCancelled(t, v1, sas.CancelUser, false)
	})
}

// TestInRoomAcceptedElsewhere: when another device of the same user
// answers an in-room request, this device's copy ends with m.accepted and
// sends nothing.
func TestInRoomAcceptedElsewhere(t *testing.T) {
	w := newWorld(t)
	a := w.addDevice("@alice:example.org", "A")
	b1 := w.addDevice("@bob:example.org", "B1")
	b2 := w.addDevice("@bob:example.org", "B2")
	va, ev, _ := a.m.RequestInRoom("!dm:x", b1.user)
	id := w.sendRoomRequest(a, ev)
	va.RequestSent(id)
	v1, v2 := b1.m.Verification("!dm:x", id), b2.m.Verification("!dm:x", id)
	w.send(b1, w.must(v1.Accept())...)
	w.pump()
	requireCancelled(t, v2, sas.CancelAccepted, false)
	w.send(b1, w.must(v1.StartSAS())...)
	w.pump()
	w.compareAndConfirm(a, va, b1, v1)
	requireDone(t, va, ptr(b1.key), ptr(w.masters[b1.user]))
	if len(b2.errs) != 0 {
		t.Errorf("b2 errors: %v", b2.errs)
	}
}

// TestUnrequestedStart: a to-device start without request (deprecated but
// allowed) waits for Accept, then completes.
func TestUnrequestedStart(t *testing.T) {
	p := newScripted(t)
	start, _ := json.Marshal(p.startContent())
	p.start = start
	p.sendRaw(sas.EventStart, start)
	if len(p.last) != 0 {
		t.Fatal(p.last)
	}
	p.v = p.engine.Verification("", p.txn)
	if p.v == nil || p.v.State() != sas.StateStartReceived {
		t.Fatal(p.lastErr)
	}
	out, err := p.v.Accept()
	if err != nil || len(out) != 1 || out[0].Type != sas.EventAccept {
		t.Fatal(out, err)
	}
	var ac sas.AcceptContent
	json.Unmarshal(out[0].Content, &ac)
	kout := p.send(sas.EventKey, map[string]any{"key": p.sas.PublicKey().String()})
	var kc sas.KeyContent
	json.Unmarshal(kout[0].Content, &kc)
	theirs, _ := sas.ParsePublicKey(kc.Key)
	if c, _ := sas.Commitment(theirs, start); c != ac.Commitment {
		t.Fatal("commitment")
	}
	p.est, _ = p.sas.Establish(theirs)
	p.send(sas.EventMAC, p.honestMAC())
	p.v.Confirm()
	p.send(sas.EventDone, map[string]any{})
	requireDone(t, p.v, &p.key, &p.master)
	t.Run("unknown method", func(t *testing.T) {
		p := newScripted(t)
		p.send(sas.EventStart, map[string]any{"from_device": p.dev, "method": "org.example.v9"})
		if code := p.lastCancel(); code != sas.CancelUnknownMethod {
			t.Fatal(code)
		}
	})
}

// TestMaxVerifications: a flood of requests from many users costs bounded
// state (MaxPendingRequests), and never keeps this device from starting
// verifications of its own, up to MaxVerifications.
func TestMaxVerifications(t *testing.T) {
	p := newScripted(t)
	refused := 0
	for i := range sas.MaxVerifications + 10 {
		_, _, err := p.engine.Receive(sas.Event{Type: sas.EventRequest, Sender: "@u" + string(rune('a'+i%26)) + hex.EncodeToString([]byte{byte(i)}) + ":x",
			Content: []byte(`{"from_device":"D","methods":["m.sas.v1"],"timestamp":` + jsonInt(p.clock.Now().UnixMilli()) + `,"transaction_id":"t` + hex.EncodeToString([]byte{byte(i)}) + `"}`)})
		if errors.Is(err, sas.ErrTooManyRequests) {
			refused++
		}
	}
	if n := len(p.engine.Verifications()); n != sas.MaxPendingRequests || refused != sas.MaxVerifications+10-sas.MaxPendingRequests {
		t.Fatalf("%d verifications, %d refused", n, refused)
	}
	for i := range sas.MaxVerifications {
		if _, _, err := p.engine.RequestToDevice("@bob:x", "B"+jsonInt(int64(i))); err != nil {
			t.Fatalf("own request %d: %v", i, err)
		}
	}
	if _, _, err := p.engine.RequestToDevice("@bob:x", "ONEMORE"); !errors.Is(err, sas.ErrState) {
		t.Fatalf("request beyond MaxVerifications: %v", err)
	}
}

// TestRequestFloodOneUser: one user sending 64 unsolicited requests from
// distinct device IDs fills only MaxPendingRequestsPerUser slots; other
// users and this device's own requests are unaffected (SECURITY 39).
func TestRequestFloodOneUser(t *testing.T) {
	p := newScripted(t)
	request := func(user, dev string, i int) error {
		_, _, err := p.engine.Receive(sas.Event{Type: sas.EventRequest, Sender: user,
			Content: []byte(`{"from_device":"` + dev + `","methods":["m.sas.v1"],"timestamp":` + jsonInt(p.clock.Now().UnixMilli()) + `,"transaction_id":"t` + jsonInt(int64(i)) + `"}`)})
		return err
	}
	for i := range 64 {
		err := request("@mallory:x", "DEV"+jsonInt(int64(i)), i)
		if i < sas.MaxPendingRequestsPerUser && err != nil || i >= sas.MaxPendingRequestsPerUser && !errors.Is(err, sas.ErrTooManyRequests) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := len(p.engine.Verifications()); n != sas.MaxPendingRequestsPerUser {
		t.Fatalf("%d verifications kept", n)
	}
	if err := request("@carol:x", "C", 1000); err != nil {
		t.Fatalf("another user's request: %v", err)
	}
	if _, _, err := p.engine.RequestToDevice("@bob:x", "B"); err != nil {
		t.Fatalf("own request: %v", err)
	}
	if _, _, err := p.engine.RequestInRoom("!r:x", "@bob:x"); err != nil {
		t.Fatalf("own in-room request: %v", err)
	}
	// When a pending request is accepted or ends, its slot frees up.
	p.engine.Verification("", "t0").Cancel()
	if err := request("@mallory:x", "DEV100", 100); err != nil {
		t.Fatalf("after a cancel: %v", err)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestSenderDeviceMismatch: an Olm-authenticated device that claims
// another device in from_device is refused.
func TestSenderDeviceMismatch(t *testing.T) {
	p := newScripted(t)
	p.send(sas.EventRequest, map[string]any{"from_device": "OTHERDEV", "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()})
	if len(p.last) != 0 || !errors.Is(p.lastErr, sas.ErrInvalidEvent) || p.engine.Verification("", p.txn) != nil {
		t.Fatalf("request: %v %v", p.last, p.lastErr)
	}
	p.requested()
	c := p.startContent()
	c["from_device"] = "OTHERDEV"
	p.send(sas.EventStart, c)
	if code := p.lastCancel(); code != sas.CancelInvalidMessage {
		t.Fatal(code)
	}
}

// TestRememberedBound: requests that are cancelled at once still cost
// bounded memory.
func TestRememberedBound(t *testing.T) {
	p := newScripted(t)
	for i := range 1000 {
		txn := "t" + jsonInt(int64(i))
		p.send(sas.EventRequest, map[string]any{"transaction_id": txn, "from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()})
		p.send(sas.EventCancel, map[string]any{"transaction_id": txn, "code": "m.user", "reason": "x"})
	}
	if n := len(p.engine.Verifications()); n > 4*sas.MaxVerifications {
		t.Fatalf("%d verifications remembered", n)
	}
	if p.engine.Verification("", "t999") == nil {
		t.Fatal("the newest was forgotten")
	}
}

// TestInRoomOwnUser: a user's own devices verify each other to-device;
// an in-room request to oneself is refused.
func TestInRoomOwnUser(t *testing.T) {
	p := newScripted(t)
	if _, _, err := p.engine.RequestInRoom("!r:x", p.engUser); !errors.Is(err, sas.ErrState) {
		t.Fatal(err)
	}
}
