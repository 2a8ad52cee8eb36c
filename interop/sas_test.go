package interop_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// sasPair is one key agreement between souverain and libolm.
type sasPair struct {
	ours   *sas.EstablishedSAS
	lib    *libolm.SAS
	ourPub string
	libPub string
}

// newSASPair creates a SAS on each side and exchanges the public keys as
// the flow does, in base64.
func newSASPair(t *testing.T) sasPair {
	t.Helper()
	ours, err := sas.New()
	if err != nil {
		t.Fatal(err)
	}
	lib, err := libolm.NewSASRand()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lib.Free)
	libPub, err := lib.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := sas.ParsePublicKey(libPub)
	if err != nil {
		t.Fatalf("libolm's public key %q: %v", libPub, err)
	}
	est, err := ours.Establish(theirs)
	if err != nil {
		t.Fatal(err)
	}
	ourPub := ours.PublicKey().String()
	if err := lib.SetTheirKey(ourPub); err != nil {
		t.Fatalf("libolm refused our key %q: %v", ourPub, err)
	}
	return sasPair{ours: est, lib: lib, ourPub: ourPub, libPub: libPub}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// sasInfo builds the curve25519-hkdf-sha256 info by hand, independently of
// sas.SASInfo.
func sasInfo(startUser, startDevice, startKey, acceptUser, acceptDevice, acceptKey, txn string) string {
	return "MATRIX_KEY_VERIFICATION_SAS|" + startUser + "|" + startDevice + "|" + startKey + "|" +
		acceptUser + "|" + acceptDevice + "|" + acceptKey + "|" + txn
}

// TestSASBytesMatchLibolm: after the key exchange both implementations
// derive the same bytes for any info and length, hence the same emojis
// and decimals, with souverain as the starting and as the accepting side.
func TestSASBytesMatchLibolm(t *testing.T) {
	for _, oursStarts := range []bool{true, false} {
		name := map[bool]string{true: "souverain starts", false: "libolm starts"}[oursStarts]
		t.Run(name, func(t *testing.T) {
			for i := range 20 {
				p := newSASPair(t)
				txn := fmt.Sprintf("txn%d-%x", i, randomBytes(4))
				info := sasInfo("@alice:example.org", "ALICE", p.ourPub, "@bob:example.org", "BOB", p.libPub, txn)
				if !oursStarts {
					info = sasInfo("@bob:example.org", "BOB", p.libPub, "@alice:example.org", "ALICE", p.ourPub, txn)
				}
				// The info string the package builds is the one built here.
				ourKey, _ := sas.ParsePublicKey(p.ourPub)
				libKey, _ := sas.ParsePublicKey(p.libPub)
				built := sas.SASInfo(sas.Party{UserID: "@alice:example.org", DeviceID: "ALICE"}, ourKey,
					sas.Party{UserID: "@bob:example.org", DeviceID: "BOB"}, libKey, txn)
				if oursStarts && built != info {
					t.Fatalf("SASInfo = %q, want %q", built, info)
				}
				for _, n := range []int{5, 6, 1, 32, 33, 100, 255} {
					want, err := p.lib.GenerateBytes(info, n)
					if err != nil {
						t.Fatal(err)
					}
					got, err := p.ours.Bytes(info, n)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("%d bytes: ours %x, libolm %x", n, got, want)
					}
				}
				libSix, _ := p.lib.GenerateBytes(info, 6)
				var libShort sas.ShortAuthString
				copy(libShort[:], libSix)
				ours := p.ours.ShortAuthString(info)
				if ours != libShort {
					t.Fatalf("short string %x, libolm %x", ours, libShort)
				}
				// libolm has no emoji or decimal function; the spec's
				// bit arithmetic on libolm's bytes, done here
				// independently, gives what the package shows.
				if got, want := ours.EmojiIndices(), emojiIndicesByHand(libSix); got != want {
					t.Fatalf("emoji indices %v, by hand from libolm's bytes %v", got, want)
				}
				libFive, _ := p.lib.GenerateBytes(info, 5)
				if got, want := ours.Decimals(), decimalsByHand(libFive); got != want {
					t.Fatalf("decimals %v, by hand from libolm's 5 bytes %v", got, want)
				}
			}
		})
	}
}

// emojiIndicesByHand reads the bits one by one.
func emojiIndicesByHand(b []byte) [7]int {
	var bits []int
	for _, x := range b {
		for i := 7; i >= 0; i-- {
			bits = append(bits, int(x>>i)&1)
		}
	}
	var out [7]int
	for k := range out {
		for _, bit := range bits[6*k : 6*k+6] {
			out[k] = out[k]<<1 | bit
		}
	}
	return out
}

func decimalsByHand(b []byte) [3]int {
	var bits []int
	for _, x := range b {
		for i := 7; i >= 0; i-- {
			bits = append(bits, int(x>>i)&1)
		}
	}
	var out [3]int
	for k := range out {
		for _, bit := range bits[13*k : 13*k+13] {
			out[k] = out[k]<<1 | bit
		}
		out[k] += 1000
	}
	return out
}

// TestSASMACsMatchLibolm: both MAC methods give libolm's exact strings,
// hkdf-hmac-sha256.v2 as olm_sas_calculate_mac_fixed_base64 and the
// deprecated hkdf-hmac-sha256 as olm_sas_calculate_mac with its faulty
// base64; VerifyMAC accepts libolm's MACs and refuses altered ones. Both
// directions: each side MACs as the sender and is checked by the other.
func TestSASMACsMatchLibolm(t *testing.T) {
	p := newSASPair(t)
	alice := sas.Party{UserID: "@alice:example.org", DeviceID: "ALICEDEV"}
	bob := sas.Party{UserID: "@bob:example.org", DeviceID: "BOBDEV"}
	deviceKey := base64.RawStdEncoding.EncodeToString(randomBytes(32))
	masterKey := base64.RawStdEncoding.EncodeToString(randomBytes(32))
	type input struct{ name, input, info string }
	var inputs []input
	for _, dir := range []struct {
		name             string
		sender, receiver sas.Party
	}{{"souverain sends", alice, bob}, {"libolm sends", bob, alice}} {
		inputs = append(inputs,
			input{dir.name + "/device key", deviceKey, sas.MACInfo(dir.sender, dir.receiver, "txn1", "ed25519:"+dir.sender.DeviceID)},
			input{dir.name + "/master key", masterKey, sas.MACInfo(dir.sender, dir.receiver, "txn1", "ed25519:"+masterKey)},
			input{dir.name + "/key IDs", sas.KeyIDList([]string{"ed25519:" + masterKey, "ed25519:" + dir.sender.DeviceID}), sas.MACInfo(dir.sender, dir.receiver, "txn1", sas.KeyIDsInfo)},
		)
	}
	for n := range 70 {
		inputs = append(inputs, input{fmt.Sprintf("random/%d", n), string(randomBytes(n)), string(randomBytes(n % 13))})
	}
	for _, in := range inputs {
		want := map[string]string{}
		var err error
		if want[sas.MACHKDFHMACSHA256V2], err = p.lib.CalculateMACFixedBase64(in.input, in.info); err != nil {
			t.Fatal(err)
		}
		if want[sas.MACHKDFHMACSHA256], err = p.lib.CalculateMAC(in.input, in.info); err != nil {
			t.Fatal(err)
		}
		for method, libMAC := range want {
			got, err := p.ours.MAC(method, in.input, in.info)
			if err != nil {
				t.Fatal(err)
			}
			if got != libMAC {
				t.Fatalf("%s %s: ours %q, libolm %q", in.name, method, got, libMAC)
			}
			if err := p.ours.VerifyMAC(method, in.input, in.info, libMAC); err != nil {
				t.Fatalf("%s %s: VerifyMAC refused libolm's MAC: %v", in.name, method, err)
			}
			bad := []byte(libMAC)
			bad[len(bad)/2] ^= 1
			if err := p.ours.VerifyMAC(method, in.input, in.info, string(bad)); !errors.Is(err, sas.ErrMACMismatch) {
				t.Fatalf("%s %s: altered MAC: %v", in.name, method, err)
			}
			if err := p.ours.VerifyMAC(method, in.input+"x", in.info, libMAC); !errors.Is(err, sas.ErrMACMismatch) {
				t.Fatalf("%s %s: other input: %v", in.name, method, err)
			}
		}
		if want[sas.MACHKDFHMACSHA256] == want[sas.MACHKDFHMACSHA256V2] {
			t.Fatalf("%s: the two encodings agree, so the legacy path is not exercised", in.name)
		}
	}
}

// TestSASRFC7748Vectors pins what libolm computes for the RFC 7748 key
// pair (the keys of libolm's own tests), from both sides. The sas
// package's unit tests check souverain against the same constants with
// the same private keys, so the chain libolm = pinned = souverain holds
// without cgo there.
func TestSASRFC7748Vectors(t *testing.T) {
	alicePriv, _ := hex.DecodeString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	bobPriv, _ := hex.DecodeString("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
	alice, err := libolm.NewSAS(alicePriv)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Free()
	bob, err := libolm.NewSAS(bobPriv)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Free()
	alicePub, _ := alice.PublicKey()
	bobPub, _ := bob.PublicKey()
	if alicePub != "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo" || bobPub != "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08" {
		t.Fatalf("public keys %s %s", alicePub, bobPub)
	}
	if err := alice.SetTheirKey(bobPub); err != nil {
		t.Fatal(err)
	}
	if err := bob.SetTheirKey(alicePub); err != nil {
		t.Fatal(err)
	}
	info := sasInfo("@alice:example.org", "ALICEDEV", alicePub, "@bob:example.org", "BOBDEV", bobPub, "txn-7748")
	macInfo := "MATRIX_KEY_VERIFICATION_MAC@alice:example.orgALICEDEV@bob:example.orgBOBDEVtxn-7748ed25519:ALICEDEV"
	const macInput = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"
	for name, s := range map[string]*libolm.SAS{"alice": alice, "bob": bob} {
		b, _ := s.GenerateBytes(info, 6)
		v2, _ := s.CalculateMACFixedBase64(macInput, macInfo)
		v1, _ := s.CalculateMAC(macInput, macInfo)
		t.Logf("%s: bytes %x mac v2 %s mac v1 %s", name, b, v2, v1)
		if hex.EncodeToString(b) != rfc7748SASBytes || v2 != rfc7748MACv2 || v1 != rfc7748MACv1 {
			t.Errorf("%s: libolm gives %x %s %s, pinned %s %s %s", name, b, v2, v1, rfc7748SASBytes, rfc7748MACv2, rfc7748MACv1)
		}
	}
}

// Values libolm 3.2.13 computes in TestSASRFC7748Vectors; the same
// constants are in sas/sas_test.go.
const (
	rfc7748SASBytes = "e5e2d737ff61"
	rfc7748MACv2    = "ibprB71wWGPfEW97eGcWscBDa7OIrgakPqka80SgS+M"
	rfc7748MACv1    = "ibprcr1wMXffWGZmV0dabVYwZGFiVll3WkdGaVZsbDM"
)

// TestSASLowOrderKeys: souverain refuses the peer keys that give the
// all-zero shared secret; libolm accepts them (and would show a SAS any
// observer can compute), which is why the flow must not rely on it.
func TestSASLowOrderKeys(t *testing.T) {
	lowOrder := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	for _, h := range lowOrder {
		raw, _ := hex.DecodeString(h)
		key, _ := sas.NewPublicKey(raw)
		s, _ := sas.New()
		if _, err := s.Establish(key); !errors.Is(err, sas.ErrBadPublicKey) {
			t.Errorf("%s: souverain: %v, want ErrBadPublicKey", h, err)
		}
		lib, err := libolm.NewSASRand()
		if err != nil {
			t.Fatal(err)
		}
		if err := lib.SetTheirKey(key.String()); err != nil {
			t.Errorf("%s: libolm refused it (%v); update this test's claim", h, err)
		}
		lib.Free()
	}
}

// canonical re-encodes JSON with sorted keys: encoding/json sorts map
// keys, and verification contents hold no floats or characters it would
// escape. It is independent of the package's canonical JSON.
func canonical(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// libolmPeer is a device whose SAS crypto is libolm's: it builds its
// verification events by hand, as an older libolm-based client would, and
// talks to a souverain flow engine.
type libolmPeer struct {
	t         *testing.T
	user, dev string
	account   *libolm.Account
	edKey     string
	master    string
	macMethod string
	sas       *libolm.SAS
}

func newLibolmPeer(t *testing.T, user, dev, macMethod string) *libolmPeer {
	a, err := libolm.NewAccountRand()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Free)
	keys, _ := a.IdentityKeys()
	s, err := libolm.NewSASRand()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Free)
	return &libolmPeer{t: t, user: user, dev: dev, account: a, edKey: keys.Ed25519,
		master: base64.RawStdEncoding.EncodeToString(randomBytes(32)), macMethod: macMethod, sas: s}
}

func (p *libolmPeer) event(typ string, content map[string]any) sas.Event {
	b, err := json.Marshal(content)
	if err != nil {
		p.t.Fatal(err)
	}
	return sas.Event{Type: typ, Content: b, Sender: p.user, SenderDevice: p.dev}
}

func (p *libolmPeer) pub() string {
	k, err := p.sas.PublicKey()
	if err != nil {
		p.t.Fatal(err)
	}
	return k
}

func (p *libolmPeer) mac(input, info string) string {
	var m string
	var err error
	if p.macMethod == sas.MACHKDFHMACSHA256 {
		m, err = p.sas.CalculateMAC(input, info)
	} else {
		m, err = p.sas.CalculateMACFixedBase64(input, info)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

// macEvent is the peer's m.key.verification.mac for the engine device.
func (p *libolmPeer) macEvent(txn, toUser, toDev string) sas.Event {
	base := "MATRIX_KEY_VERIFICATION_MAC" + p.user + p.dev + toUser + toDev + txn
	devID, masterID := "ed25519:"+p.dev, "ed25519:"+p.master
	ids := []string{devID, masterID}
	if masterID < devID {
		ids = []string{masterID, devID}
	}
	return p.event(sas.EventMAC, map[string]any{
		"transaction_id": txn,
		"mac": map[string]string{
			devID:    p.mac(p.edKey, base+devID),
			masterID: p.mac(p.master, base+masterID),
		},
		"keys": p.mac(strings.Join(ids, ","), base+"KEY_IDS"),
	})
}

// checkMAC checks the engine's MAC of its device key with libolm.
func (p *libolmPeer) checkMAC(ev sas.Event, txn, fromUser, fromDev, fromKey string) {
	p.t.Helper()
	var c sas.MACContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		p.t.Fatal(err)
	}
	base := "MATRIX_KEY_VERIFICATION_MAC" + fromUser + fromDev + p.user + p.dev + txn
	id := "ed25519:" + fromDev
	if got, want := c.MAC[id], p.mac(fromKey, base+id); got != want {
		p.t.Fatalf("engine MAC of %s = %q, libolm computes %q", id, got, want)
	}
	var ids []string
	for k := range c.MAC {
		ids = append(ids, k)
	}
	if got, want := c.Keys, p.mac(sas.KeyIDList(ids), base+"KEY_IDS"); got != want {
		p.t.Fatalf("engine key-ID MAC = %q, libolm computes %q", got, want)
	}
}

func onlyEvent(t *testing.T, out []sas.Event, err error, typ string) sas.Event {
	t.Helper()
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	if len(out) != 1 || out[0].Type != typ {
		t.Fatalf("engine sent %d events %v, want one %s", len(out), out, typ)
	}
	return out[0]
}

// TestSASFlowWithLibolmPeer runs a whole verification between the flow
// engine and a device whose SAS is libolm's, in both roles and with both
// MAC methods (the deprecated one with a peer that offers only it, which
// the engine allows only when told to).
func TestSASFlowWithLibolmPeer(t *testing.T) {
	for _, method := range []string{sas.MACHKDFHMACSHA256V2, sas.MACHKDFHMACSHA256} {
		for _, peerStarts := range []bool{false, true} {
			name := fmt.Sprintf("%s/peer-starts=%v", method, peerStarts)
			t.Run(name, func(t *testing.T) {
				runLibolmPeerFlow(t, method, peerStarts)
			})
		}
	}
}

func runLibolmPeerFlow(t *testing.T, method string, peerStarts bool) {
	peer := newLibolmPeer(t, "@libolm:example.org", "LIBOLMDEV", method)
	peerDevKey, _ := olm.ParseEd25519PublicKey(peer.edKey)
	peerMaster, _ := olm.ParseEd25519PublicKey(peer.master)
	me, _ := olm.NewAccount()
	now := time.Now()
	engine, err := sas.NewMachine(sas.Config{
		UserID: "@go:example.org", DeviceID: "GODEV", DeviceKey: me.Ed25519Key(),
		AllowLegacyMAC: method == sas.MACHKDFHMACSHA256,
		Keys: func(u string) (sas.UserKeys, bool) {
			if u != peer.user {
				return sas.UserKeys{}, false
			}
			return sas.UserKeys{Devices: map[string]olm.Ed25519PublicKey{peer.dev: peerDevKey}, MasterKey: peerMaster}, true
		},
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	const engUser, engDev = "@go:example.org", "GODEV"
	engKey := me.Ed25519Key().String()
	var v *sas.Verification
	var txn string
	if peerStarts {
		// The libolm peer requests and starts.
		txn = "libolm-txn-1"
		_, _, err := engine.Receive(peer.event(sas.EventRequest, map[string]any{
			"from_device": peer.dev, "methods": []string{sas.MethodSAS}, "transaction_id": txn, "timestamp": now.UnixMilli(),
		}))
		if err != nil {
			t.Fatal(err)
		}
		v = engine.Verification("", txn)
		out, err := v.Accept()
		onlyEvent(t, out, err, sas.EventReady)
		// A hand-written start, canonical as sent.
		start := []byte(fmt.Sprintf(`{"from_device":%q,"hashes":["sha256"],"key_agreement_protocols":["curve25519-hkdf-sha256"],"message_authentication_codes":[%q],"method":"m.sas.v1","short_authentication_string":["decimal","emoji"],"transaction_id":%q}`, peer.dev, method, txn))
		_, out, err = engine.Receive(sas.Event{Type: sas.EventStart, Content: start, Sender: peer.user, SenderDevice: peer.dev})
		accept := onlyEvent(t, out, err, sas.EventAccept)
		var ac sas.AcceptContent
		json.Unmarshal(accept.Content, &ac)
		if ac.MessageAuthenticationCode != method {
			t.Fatalf("engine chose %q", ac.MessageAuthenticationCode)
		}
		_, out, err = engine.Receive(peer.event(sas.EventKey, map[string]any{"transaction_id": txn, "key": peer.pub()}))
		key := onlyEvent(t, out, err, sas.EventKey)
		var kc sas.KeyContent
		json.Unmarshal(key.Content, &kc)
		// The libolm peer checks the commitment with libolm's SHA-256.
		sum, err := libolm.SHA256(append([]byte(kc.Key), start...))
		if err != nil {
			t.Fatal(err)
		}
		if sum != ac.Commitment {
			t.Fatalf("commitment %q, libolm computes %q", ac.Commitment, sum)
		}
		if err := peer.sas.SetTheirKey(kc.Key); err != nil {
			t.Fatal(err)
		}
		checkSAS(t, v, peer, sasInfo(peer.user, peer.dev, peer.pub(), engUser, engDev, kc.Key, txn))
	} else {
		var out []sas.Event
		v, out, err = engine.RequestToDevice(peer.user, peer.dev)
		req := onlyEvent(t, out, err, sas.EventRequest)
		txn = v.FlowID()
		if req.ToUser != peer.user || req.ToDevice != peer.dev {
			t.Fatalf("request to %s %s", req.ToUser, req.ToDevice)
		}
		_, _, err = engine.Receive(peer.event(sas.EventReady, map[string]any{"from_device": peer.dev, "methods": []string{sas.MethodSAS}, "transaction_id": txn}))
		if err != nil {
			t.Fatal(err)
		}
		out, err = v.StartSAS()
		start := onlyEvent(t, out, err, sas.EventStart)
		macMethod := method
		if method == sas.MACHKDFHMACSHA256 {
			// An old client that only knows the deprecated method picks it
			// from the engine's list.
			var sc sas.StartContent
			json.Unmarshal(start.Content, &sc)
			if len(sc.MessageAuthenticationCodes) != 2 || sc.MessageAuthenticationCodes[0] != sas.MACHKDFHMACSHA256V2 {
				t.Fatalf("engine offered %q", sc.MessageAuthenticationCodes)
			}
		}
		sum, err := libolm.SHA256(append([]byte(peer.pub()), canonical(t, start.Content)...))
		if err != nil {
			t.Fatal(err)
		}
		_, out, err = engine.Receive(peer.event(sas.EventAccept, map[string]any{
			"transaction_id": txn, "method": sas.MethodSAS, "key_agreement_protocol": "curve25519-hkdf-sha256",
			"hash": "sha256", "message_authentication_code": macMethod, "short_authentication_string": []string{"decimal", "emoji"},
			"commitment": sum,
		}))
		key := onlyEvent(t, out, err, sas.EventKey)
		var kc sas.KeyContent
		json.Unmarshal(key.Content, &kc)
		if err := peer.sas.SetTheirKey(kc.Key); err != nil {
			t.Fatal(err)
		}
		_, out, err = engine.Receive(peer.event(sas.EventKey, map[string]any{"transaction_id": txn, "key": peer.pub()}))
		if err != nil || len(out) != 0 {
			t.Fatalf("engine after key: %v %v", out, err)
		}
		checkSAS(t, v, peer, sasInfo(engUser, engDev, kc.Key, peer.user, peer.dev, peer.pub(), txn))
	}
	// MAC phase: the peer's MAC arrives first, then the user confirms.
	if _, _, err := engine.Receive(peer.macEvent(txn, engUser, engDev)); err != nil {
		t.Fatal(err)
	}
	out, err := v.Confirm()
	if err != nil || len(out) != 2 || out[0].Type != sas.EventMAC || out[1].Type != sas.EventDone {
		t.Fatalf("confirm: %v %v", out, err)
	}
	peer.checkMAC(out[0], txn, engUser, engDev, engKey)
	if _, _, err := engine.Receive(peer.event(sas.EventDone, map[string]any{"transaction_id": txn})); err != nil {
		t.Fatal(err)
	}
	r, ok := v.Result()
	if !ok || r.DeviceKey == nil || *r.DeviceKey != peerDevKey || r.MasterKey == nil || *r.MasterKey != peerMaster {
		t.Fatalf("result %+v %v, state %s", r, ok, v.State())
	}
}

// checkSAS compares the engine's short authentication string with the
// bytes libolm derives.
func checkSAS(t *testing.T, v *sas.Verification, peer *libolmPeer, info string) {
	t.Helper()
	s, _, ok := v.ShortAuthString()
	if !ok {
		t.Fatalf("no SAS; state %s %+v", v.State(), v.Cancellation())
	}
	lib, err := peer.sas.GenerateBytes(info, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s[:], lib) {
		t.Fatalf("engine SAS %x, libolm %x", s[:], lib)
	}
	t.Logf("both show %v (%v)", s.Emojis(), s.Decimals())
}

// TestLibolmSASWrapper checks the cgo wrapper itself: determinism, errors
// and Free.
func TestLibolmSASWrapper(t *testing.T) {
	if n := libolm.SASRandomLength(); n != 32 {
		t.Fatalf("random length %d", n)
	}
	if _, err := libolm.NewSAS(make([]byte, 31)); !errors.Is(err, libolm.ErrNotEnoughRandom) {
		t.Fatalf("short random: %v", err)
	}
	random := randomBytes(32)
	keep := bytes.Clone(random)
	a, _ := libolm.NewSAS(random)
	b, _ := libolm.NewSAS(random)
	if !bytes.Equal(random, keep) {
		t.Fatal("the caller's random bytes were changed")
	}
	ka, _ := a.PublicKey()
	kb, _ := b.PublicKey()
	if ka != kb || len(ka) != 43 {
		t.Fatalf("same random, keys %q %q", ka, kb)
	}
	if a.IsTheirKeySet() {
		t.Fatal("their key set on a new SAS")
	}
	if _, err := a.GenerateBytes("x", 6); !errors.Is(err, libolm.ErrSASTheirKeyNotSet) {
		t.Fatalf("bytes before their key: %v", err)
	}
	if _, err := a.CalculateMAC("x", "y"); !errors.Is(err, libolm.ErrSASTheirKeyNotSet) {
		t.Fatalf("mac before their key: %v", err)
	}
	if err := a.SetTheirKey("short"); err == nil {
		t.Fatal("short key accepted")
	}
	if err := a.SetTheirKey(kb); err != nil || !a.IsTheirKeySet() {
		t.Fatal(err)
	}
	long, err := a.CalculateMACLongKDF("x", "y")
	v1, _ := a.CalculateMAC("x", "y")
	if err != nil || len(long) != 43 || long == v1 {
		t.Fatalf("long-kdf MAC %q %v", long, err)
	}
	a.Free()
	a.Free()
	if _, err := a.PublicKey(); !errors.Is(err, libolm.ErrFreed) {
		t.Fatalf("after Free: %v", err)
	}
	b.Free()
}
