package sas_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

func seqKey(start byte) olm.Ed25519PublicKey {
	var k olm.Ed25519PublicKey
	for i := range k {
		k[i] = start + byte(i)
	}
	return k
}

// TestQRCodeSpecExample encodes the example of the specification's "QR
// code format" section and decodes it back.
func TestQRCodeSpecExample(t *testing.T) {
	flow := "$ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr" // 45 bytes
	q := &sas.QRCode{Mode: sas.QRModeCrossSigning, FlowID: flow, FirstKey: seqKey(0x00), SecondKey: seqKey(0x10),
		Secret: []byte{0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27}}
	b, err := q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b[:10]); got != "4d415452495802"+"00"+"002d" {
		t.Errorf("header %s", got)
	}
	if string(b[10:10+45]) != flow || len(b) != 10+45+64+8 {
		t.Errorf("layout: %d bytes", len(b))
	}
	if !strings.HasPrefix(q.FirstKey.String(), "AAECAwQFBg") || !strings.HasPrefix(q.SecondKey.String(), "EBESExQVFh") ||
		base64.RawStdEncoding.EncodeToString(q.Secret) != "ICEiIyQlJic" {
		t.Error("keys or secret do not match the spec's base64")
	}
	back, err := sas.ParseQRCode(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Mode != q.Mode || back.FlowID != q.FlowID || back.FirstKey != q.FirstKey || back.SecondKey != q.SecondKey || !bytes.Equal(back.Secret, q.Secret) {
		t.Errorf("round trip: %v", back)
	}
}

func TestParseQRCodeRejects(t *testing.T) {
	good, _ := (&sas.QRCode{Mode: sas.QRModeSelfTrusted, FlowID: "txn", FirstKey: seqKey(1), SecondKey: seqKey(2), Secret: bytes.Repeat([]byte{7}, 8)}).MarshalBinary()
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":          nil,
		"header only":    good[:6],
		"wrong header":   mutate(func(b []byte) []byte { b[0] = 'm'; return b }),
		"version 1":      mutate(func(b []byte) []byte { b[6] = 1; return b }),
		"version 3":      mutate(func(b []byte) []byte { b[6] = 3; return b }),
		"mode 3":         mutate(func(b []byte) []byte { b[7] = 3; return b }),
		"length too big": mutate(func(b []byte) []byte { b[8], b[9] = 0xff, 0xff; return b }),
		"empty flow ID":  mutate(func(b []byte) []byte { b[9] = 0; return append(b[:10], b[13:]...) }),
		"bad UTF-8":      mutate(func(b []byte) []byte { b[10] = 0xff; return b }),
		"short secret":   good[:len(good)-1],
		"no secret":      good[:len(good)-8],
		"truncated keys": good[:10+3+40],
	}
	for name, b := range cases {
		if _, err := sas.ParseQRCode(b); !errors.Is(err, sas.ErrBadQRCode) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for n := range len(good) {
		if _, err := sas.ParseQRCode(good[:n]); err == nil {
			t.Errorf("prefix of %d bytes accepted", n)
		}
	}
	for name, q := range map[string]*sas.QRCode{
		"mode":     {Mode: 9, FlowID: "t", Secret: make([]byte, 8)},
		"no flow":  {FlowID: "", Secret: make([]byte, 8)},
		"long":     {FlowID: strings.Repeat("x", 70000), Secret: make([]byte, 8)},
		"secret 7": {FlowID: "t", Secret: make([]byte, 7)},
	} {
		if _, err := q.MarshalBinary(); !errors.Is(err, sas.ErrBadQRCode) {
			t.Errorf("marshal %s: %v", name, err)
		}
	}
}

var qrMethods = withMethods(sas.MethodQRShow, sas.MethodQRScan)

// TestQRFlow runs QR verification between two engines in its three modes:
// the scanner verifies from the code, the shower from the reciprocate
// message and the user's confirmation, and each names the right keys.
func TestQRFlow(t *testing.T) {
	cases := []struct {
		name                 string
		showerUser, scanUser string
		showerOpts, scanOpts []devOpt
		mode                 sas.QRMode
		// which keys each side ends up having verified
		showerGetsDevice, showerGetsMaster   bool
		scannerGetsDevice, scannerGetsMaster bool
		inRoom                               bool
	}{
		{name: "other user", showerUser: "@alice:x", scanUser: "@bob:x", mode: sas.QRModeCrossSigning,
			showerGetsMaster: true, scannerGetsMaster: true},
		{name: "other user in room", showerUser: "@alice:x", scanUser: "@bob:x", mode: sas.QRModeCrossSigning,
			showerGetsMaster: true, scannerGetsMaster: true, inRoom: true},
		{name: "self, shower trusts the master key", showerUser: "@alice:x", scanUser: "@alice:x",
			scanOpts: []devOpt{untrustedMaster()}, mode: sas.QRModeSelfTrusted,
			showerGetsDevice: true, scannerGetsMaster: true},
		{name: "self, shower does not trust the master key", showerUser: "@alice:x", scanUser: "@alice:x",
			showerOpts: []devOpt{untrustedMaster()}, mode: sas.QRModeSelfUntrusted,
			showerGetsMaster: true, scannerGetsDevice: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			shower := w.addDevice(c.showerUser, "SHOWER", append([]devOpt{qrMethods}, c.showerOpts...)...)
			scanner := w.addDevice(c.scanUser, "SCANNER", append([]devOpt{qrMethods}, c.scanOpts...)...)
			var vsh, vsc *sas.Verification
			if c.inRoom {
				vsc, vsh = w.requestInRoom("!r:x", scanner, shower)
			} else {
				vsc, vsh = w.requestToDevice(scanner, shower)
			}
			payload, err := vsh.QRCode()
			if err != nil {
				t.Fatal(err)
			}
			again, _ := vsh.QRCode()
			if !bytes.Equal(payload, again) {
				t.Error("QRCode changed between calls")
			}
			q, err := sas.ParseQRCode(payload)
			if err != nil || q.Mode != c.mode || q.FlowID != vsh.FlowID() {
				t.Fatalf("payload %v %v", q, err)
			}
			w.send(scanner, w.must(vsc.ScanQRCode(payload))...)
			w.pump()
			if vsh.State() != sas.StateReciprocated || vsc.State() != sas.StateQRScanned {
				t.Fatalf("states %s %s; errors %v %v", vsh.State(), vsc.State(), shower.errs, scanner.errs)
			}
			w.send(shower, w.must(vsh.Confirm())...)
			w.pump()
			master := ptr(w.masters[c.showerUser])
			scanMaster := ptr(w.masters[c.scanUser])
			pick := func(ok bool, k *olm.Ed25519PublicKey) *olm.Ed25519PublicKey {
				if ok {
					return k
				}
				return nil
			}
			requireDone(t, vsh, pick(c.showerGetsDevice, ptr(scanner.key)), pick(c.showerGetsMaster, scanMaster))
			requireDone(t, vsc, pick(c.scannerGetsDevice, ptr(shower.key)), pick(c.scannerGetsMaster, master))
		})
	}
}

// TestQRHostile: codes that do not carry the pinned keys, or the wrong
// flow, or a reciprocate with the wrong secret, are refused.
func TestQRHostile(t *testing.T) {
	setup := func(t *testing.T, showerUser, scanUser string, scanOpts ...devOpt) (*world, *device, *device, *sas.Verification, *sas.Verification, *sas.QRCode) {
		w := newWorld(t)
		shower := w.addDevice(showerUser, "SHOWER", qrMethods)
		scanner := w.addDevice(scanUser, "SCANNER", append([]devOpt{qrMethods}, scanOpts...)...)
		vsc, vsh := w.requestToDevice(scanner, shower)
		payload, err := vsh.QRCode()
		if err != nil {
			t.Fatal(err)
		}
		q, _ := sas.ParseQRCode(payload)
		return w, shower, scanner, vsh, vsc, q
	}
	scanTampered := []struct {
		name   string
		self   bool
		change func(q *sas.QRCode)
		code   sas.CancelCode
	}{
		{"their master key replaced", false, func(q *sas.QRCode) { q.FirstKey = testKey("evil") }, sas.CancelKeyMismatch},
		{"our master key wrong", false, func(q *sas.QRCode) { q.SecondKey = testKey("evil") }, sas.CancelKeyMismatch},
		{"other flow", false, func(q *sas.QRCode) { q.FlowID = "other" }, sas.CancelKeyMismatch},
		{"self mode with another user", false, func(q *sas.QRCode) { q.Mode = sas.QRModeSelfTrusted }, sas.CancelUserMismatch},
		{"cross-signing mode in self-verification", true, func(q *sas.QRCode) { q.Mode = sas.QRModeCrossSigning }, sas.CancelUserMismatch},
		{"self: master replaced", true, func(q *sas.QRCode) { q.FirstKey = testKey("evil") }, sas.CancelKeyMismatch},
		{"self: our device key wrong", true, func(q *sas.QRCode) { q.SecondKey = testKey("evil") }, sas.CancelKeyMismatch},
	}
	for _, c := range scanTampered {
		t.Run("scan/"+c.name, func(t *testing.T) {
			scanUser := "@bob:x"
			var opts []devOpt
			if c.self {
				scanUser = "@alice:x"
				opts = []devOpt{untrustedMaster()}
			}
			w, _, scanner, vsh, vsc, q := setup(t, "@alice:x", scanUser, opts...)
			c.change(q)
			b, _ := q.MarshalBinary()
			out, err := vsc.ScanQRCode(b)
			if err == nil {
				t.Fatal("tampered code accepted")
			}
			if codes := cancelCodes(t, out); len(codes) != 1 || codes[0] != c.code {
				t.Fatalf("sent %v, want %s (%v)", codes, c.code, err)
			}
			w.send(scanner, out...)
			w.pump()
			requireCancelled(t, vsh, c.code, false)
		})
	}
	t.Run("scan/not a code", func(t *testing.T) {
		_, _, _, _, vsc, _ := setup(t, "@alice:x", "@bob:x")
		if out, err := vsc.ScanQRCode([]byte("https://example.org")); !errors.Is(err, sas.ErrBadQRCode) || len(out) != 0 || vsc.State() != sas.StateReady {
			t.Fatalf("%v %v %s", out, err, vsc.State())
		}
	})
	t.Run("reciprocate/wrong secret", func(t *testing.T) {
		w, _, scanner, vsh, vsc, q := setup(t, "@alice:x", "@bob:x")
		w.tamper = func(from *device, ev *sas.Event) bool {
			if ev.Type == sas.EventStart {
				c := content(t, *ev)
				c["secret"] = base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 16))
				setContent(t, ev, c)
			}
			return true
		}
		b, _ := q.MarshalBinary()
		w.send(scanner, w.must(vsc.ScanQRCode(b))...)
		w.pump()
		requireCancelled(t, vsh, sas.CancelKeyMismatch, true)
		requireCancelled(t, vsc, sas.CancelKeyMismatch, false)
	})
	t.Run("reciprocate/no code shown", func(t *testing.T) {
		w := newWorld(t)
		shower := w.addDevice("@alice:x", "SHOWER", qrMethods)
		scanner := w.addDevice("@bob:x", "SCANNER", qrMethods)
		vsc, vsh := w.requestToDevice(scanner, shower)
		w.inject(scanner, shower, sas.EventStart, map[string]any{"transaction_id": vsc.FlowID(), "from_device": scanner.id,
			"method": sas.MethodReciprocate, "secret": base64.RawStdEncoding.EncodeToString(make([]byte, 16))})
		requireCancelled(t, vsh, sas.CancelKeyMismatch, true)
	})
	t.Run("reciprocate/QR not offered", func(t *testing.T) {
		p := newScripted(t)
		p.requested()
		p.send(sas.EventStart, map[string]any{"from_device": p.dev, "method": sas.MethodReciprocate, "secret": "AAAAAAAAAAA"})
		if code := p.lastCancel(); code != sas.CancelUnknownMethod {
			t.Fatal(code)
		}
	})
	t.Run("no QR without cross-signing", func(t *testing.T) {
		w := newWorld(t)
		shower := w.addDevice("@alice:x", "SHOWER", qrMethods, noMaster())
		scanner := w.addDevice("@bob:x", "SCANNER", qrMethods)
		_, vsh := w.requestToDevice(scanner, shower)
		if _, err := vsh.QRCode(); !errors.Is(err, sas.ErrState) {
			t.Fatal(err)
		}
	})
	t.Run("QR and SAS tie", func(t *testing.T) {
		// One side starts SAS while the other reciprocates a scan: the
		// methods differ, so both cancel with m.unexpected_message.
		w := newWorld(t)
		both := withMethods(sas.MethodSAS, sas.MethodQRShow, sas.MethodQRScan)
		a := w.addDevice("@a:x", "A", both)
		b := w.addDevice("@b:x", "B", both)
		va, vb := w.requestToDevice(a, b)
		code, _ := va.QRCode()
		sasStart := w.must(va.StartSAS())
		scan := w.must(vb.ScanQRCode(code))
		w.send(a, sasStart...)
		w.send(b, scan...)
		w.pump()
		requireCancelled(t, va, sas.CancelUnexpectedMessage, true)
		if vb.State() != sas.StateCancelled {
			t.Fatal(vb.State())
		}
	})
}

// TestReadyMethods: the ready lists the methods that fit both sides.
func TestReadyMethods(t *testing.T) {
	cases := []struct {
		name         string
		requester    []string
		responder    []string
		wantResponse []string
	}{
		{"sas only", []string{sas.MethodSAS}, []string{sas.MethodSAS, sas.MethodQRShow}, []string{sas.MethodSAS}},
		{"show to scanner", []string{sas.MethodQRScan}, []string{sas.MethodSAS, sas.MethodQRShow}, []string{sas.MethodQRShow, sas.MethodReciprocate}},
		{"all", []string{sas.MethodSAS, sas.MethodQRShow, sas.MethodQRScan}, []string{sas.MethodSAS, sas.MethodQRShow, sas.MethodQRScan}, []string{sas.MethodSAS, sas.MethodQRShow, sas.MethodQRScan, sas.MethodReciprocate}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			a := w.addDevice("@a:x", "A", withMethods(c.requester...))
			b := w.addDevice("@b:x", "B", withMethods(c.responder...))
			va, out, _ := a.m.RequestToDevice(b.user, b.id)
			w.send(a, out...)
			w.pump()
			ready := w.must(b.m.Verification("", va.FlowID()).Accept())
			var rc sas.ReadyContent
			json.Unmarshal(ready[0].Content, &rc)
			if strings.Join(rc.Methods, ",") != strings.Join(c.wantResponse, ",") {
				t.Fatalf("ready methods %q, want %q", rc.Methods, c.wantResponse)
			}
		})
	}
}
