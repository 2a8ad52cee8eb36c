package sas_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/souverain/e2ee/sas"
)

var eventTypes = []string{
	sas.EventRequest, sas.EventReady, sas.EventStart, sas.EventAccept, sas.EventKey,
	sas.EventMAC, sas.EventDone, sas.EventCancel, sas.EventRoomMessage,
}

// FuzzParseContent checks that ParseContent never panics, is
// deterministic, and that what it accepts names its flow and survives a
// re-encoding.
func FuzzParseContent(f *testing.F) {
	f.Add(sas.EventKey, []byte(`{"transaction_id":"t","key":"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"}`))
	f.Fuzz(func(t *testing.T, typ string, content []byte) {
		c, err := sas.ParseContent(typ, content)
		c2, err2 := sas.ParseContent(typ, content)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(c, c2) {
			t.Fatal("not deterministic")
		}
		if err != nil {
			if c != nil {
				t.Fatal("content with an error")
			}
			return
		}
		re, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if typ == sas.EventStart || typ == sas.EventAccept {
			return // omitempty may drop empty lists the parse accepted
		}
		if _, err := sas.ParseContent(typ, re); err != nil {
			t.Fatalf("re-encoded %s does not parse: %v\n%s\n%s", typ, err, content, re)
		}
	})
}

// FuzzParseQRCode checks that ParseQRCode never panics and that what it
// accepts encodes back to the same bytes.
func FuzzParseQRCode(f *testing.F) {
	f.Add([]byte("MATRIX\x02\x00\x00\x01t0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := sas.ParseQRCode(b)
		if err != nil {
			return
		}
		out, err := q.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted code does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip changed the payload:\n%x\n%x", b, out)
		}
	})
}

// FuzzReceive feeds one arbitrary event to an engine at each stage of a
// verification with a scripted peer. The engine must not panic, must
// never answer a cancel, and must send only verification events to the
// peer.
func FuzzReceive(f *testing.F) {
	f.Add(uint8(1), uint8(4), []byte(`{"transaction_id":"scripted-txn","key":"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"}`), false)
	f.Fuzz(func(t *testing.T, stage, typ uint8, content []byte, inRoom bool) {
		p := newScripted(t)
		switch stage % 4 {
		case 1:
			p.requested()
		case 2:
			p.requested()
			p.startAndExchange()
		case 3:
			p.requested()
			p.startAndExchange()
			p.send(sas.EventMAC, p.honestMAC())
		}
		ev := sas.Event{Type: eventTypes[int(typ)%len(eventTypes)], Content: content, Sender: p.user, SenderDevice: p.dev}
		if inRoom {
			ev.RoomID, ev.EventID, ev.SenderDevice = "!r:x", "$e", ""
		}
		_, out, _ := p.engine.Receive(ev)
		for _, o := range out {
			if ev.Type == sas.EventCancel {
				t.Fatalf("a cancel was answered with %s", o.Type)
			}
			if _, err := sas.ParseContent(o.Type, o.Content); err != nil {
				t.Fatalf("engine sent an invalid %s: %v", o.Type, err)
			}
		}
		if p.v != nil {
			p.v.Confirm()
			p.v.Result()
		}
	})
}

// TestWriteFuzzCorpus regenerates the checked-in seed corpora under
// testdata/fuzz from real flows when SOUVERAIN_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("SOUVERAIN_WRITE_CORPUS") != "1" {
		t.Skip("set SOUVERAIN_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	write := func(target, name string, values ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(dir, 0o755)
		text := "go test fuzz v1\n"
		for _, v := range values {
			switch v := v.(type) {
			case []byte:
				text += fmt.Sprintf("[]byte(%q)\n", v)
			case string:
				text += fmt.Sprintf("string(%q)\n", v)
			case uint8:
				text += fmt.Sprintf("byte(%q)\n", v)
			case bool:
				text += fmt.Sprintf("bool(%v)\n", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	typeIndex := map[string]uint8{}
	for i, ty := range eventTypes {
		typeIndex[ty] = uint8(i)
	}
	// Record the events of full flows, to-device and in-room, SAS and QR.
	for _, transport := range []string{"todevice", "inroom"} {
		w := newWorld(t)
		both := withMethods(sas.MethodSAS, sas.MethodQRShow, sas.MethodQRScan)
		a := w.addDevice("@alice:example.org", "ALICEDEV", both)
		b := w.addDevice("@bob:example.org", "BOBDEV", both)
		n := 0
		w.tamper = func(from *device, ev *sas.Event) bool {
			n++
			write("FuzzParseContent", fmt.Sprintf("%s-%02d-%s", transport, n, ev.Type[len("m."):]), ev.Type, []byte(ev.Content))
			if transport == "todevice" {
				c := content(t, *ev)
				if _, ok := c["transaction_id"]; ok {
					c["transaction_id"] = "scripted-txn"
				}
				raw, _ := json.Marshal(c)
				for stage := uint8(0); stage < 4; stage++ {
					write("FuzzReceive", fmt.Sprintf("%02d-%s-stage%d", n, ev.Type[len("m."):], stage), stage, typeIndex[ev.Type], raw, false)
				}
			}
			return true
		}
		var va, vb *sas.Verification
		if transport == "todevice" {
			va, vb = w.requestToDevice(a, b)
		} else {
			va, vb = w.requestInRoom("!dm:example.org", a, b)
		}
		code, _ := va.QRCode()
		write("FuzzParseQRCode", transport+"-cross-signing", code)
		w.send(a, w.must(va.StartSAS())...)
		w.pump()
		w.compareAndConfirm(a, va, b, vb)
	}
	write("FuzzParseContent", "float", sas.EventStart, []byte(`{"transaction_id":"t","from_device":"D","method":"m.sas.v1","hashes":[1.5],"key_agreement_protocols":[],"message_authentication_codes":[],"short_authentication_string":[]}`))
	write("FuzzParseContent", "duplicate-keys", sas.EventStart, []byte(`{"transaction_id":"t","transaction_id":"u","from_device":"D","method":"m.reciprocate.v1","secret":"AAAA"}`))
	write("FuzzParseContent", "both-flow-ids", sas.EventDone, []byte(`{"transaction_id":"t","m.relates_to":{"rel_type":"m.reference","event_id":"$e"}}`))
	write("FuzzParseContent", "not-object", sas.EventCancel, []byte(`"m.user"`))
	write("FuzzParseContent", "room-request", sas.EventRoomMessage, []byte(`{"msgtype":"m.key.verification.request","from_device":"D","methods":["m.sas.v1"],"to":"@b:x","body":"x"}`))
	write("FuzzParseContent", "deep", sas.EventMAC, []byte(`{"transaction_id":"t","keys":"x","mac":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`))
	write("FuzzParseQRCode", "self-trusted", mustMarshalQR(t, &sas.QRCode{Mode: sas.QRModeSelfTrusted, FlowID: "txn", FirstKey: seqKey(1), SecondKey: seqKey(2), Secret: make([]byte, 16)}))
	write("FuzzParseQRCode", "huge-length", []byte("MATRIX\x02\x02\xff\xff"))
	write("FuzzParseQRCode", "short-secret", []byte("MATRIX\x02\x00\x00\x01t0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123"))
	write("FuzzParseQRCode", "version-1", []byte("MATRIX\x01\x00\x00\x01t0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"))
	write("FuzzReceive", "cancel-in-sas", uint8(2), typeIndex[sas.EventCancel], []byte(`{"transaction_id":"scripted-txn","code":"m.user","reason":"x"}`), false)
	write("FuzzReceive", "bad-mac-in-room", uint8(2), typeIndex[sas.EventMAC], []byte(`{"m.relates_to":{"rel_type":"m.reference","event_id":"$e"},"mac":{"ed25519:X":"AAAA"},"keys":"AAAA"}`), true)
}

func mustMarshalQR(t *testing.T, q *sas.QRCode) []byte {
	b, err := q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
