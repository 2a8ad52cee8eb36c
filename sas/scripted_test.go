package sas_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// scripted is a hostile or old peer: it speaks to one flow engine with
// events it builds by hand from the package's primitives, so tests can
// send exactly the bytes they want.
type scripted struct {
	t         *testing.T
	user, dev string
	key       olm.Ed25519PublicKey
	master    olm.Ed25519PublicKey
	txn       string
	sas       *sas.SAS
	est       *sas.EstablishedSAS
	macMethod string

	clock   *clock
	keys    map[string]sas.UserKeys
	engine  *sas.Machine
	engUser string
	engDev  string
	engKey  olm.Ed25519PublicKey
	v       *sas.Verification
	start   []byte // the start content that counts
	last    []sas.Event
	lastErr error
}

func newScripted(t *testing.T, opts ...devOpt) *scripted {
	p := &scripted{
		t: t, user: "@mallory:example.org", dev: "MALLORYDEV",
		key: testKey("mallory device"), master: testKey("mallory master"),
		txn: "scripted-txn", macMethod: sas.MACHKDFHMACSHA256V2,
		clock:   &clock{now: time.Date(2026, 7, 22, 12, 0, 0, 0, time.UTC)},
		engUser: "@go:example.org", engDev: "GODEV", engKey: testKey("go device"),
	}
	p.keys = map[string]sas.UserKeys{
		p.user: {Devices: map[string]olm.Ed25519PublicKey{p.dev: p.key}, MasterKey: p.master},
	}
	cfg := sas.Config{
		UserID: p.engUser, DeviceID: p.engDev, DeviceKey: p.engKey,
		MasterKey: testKey("go master"), MasterKeyTrusted: true,
		Keys: func(u string) (sas.UserKeys, bool) { k, ok := p.keys[u]; return k, ok },
		Now:  p.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := sas.NewMachine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.engine = m
	s, err := sas.New()
	if err != nil {
		t.Fatal(err)
	}
	p.sas = s
	return p
}

func (p *scripted) me() sas.Party       { return sas.Party{UserID: p.user, DeviceID: p.dev} }
func (p *scripted) engParty() sas.Party { return sas.Party{UserID: p.engUser, DeviceID: p.engDev} }

// send delivers an event from the peer and keeps the engine's answer.
func (p *scripted) send(typ string, c map[string]any) []sas.Event {
	p.t.Helper()
	if _, ok := c["transaction_id"]; !ok {
		c["transaction_id"] = p.txn
	}
	b, err := json.Marshal(c)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.sendRaw(typ, b)
}

func (p *scripted) sendRaw(typ string, content []byte) []sas.Event {
	_, p.last, p.lastErr = p.engine.Receive(sas.Event{Type: typ, Content: content, Sender: p.user, SenderDevice: p.dev})
	return p.last
}

// requested has the peer request a verification and the engine accept.
func (p *scripted) requested() {
	p.t.Helper()
	p.send(sas.EventRequest, map[string]any{
		"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli(),
	})
	p.v = p.engine.Verification("", p.txn)
	if p.v == nil {
		p.t.Fatalf("no verification: %v", p.lastErr)
	}
	out, err := p.v.Accept()
	if err != nil || len(out) != 1 || out[0].Type != sas.EventReady {
		p.t.Fatalf("accept: %v %v", out, err)
	}
}

// startContent is the peer's hand-written start.
func (p *scripted) startContent() map[string]any {
	return map[string]any{
		"from_device": p.dev, "method": sas.MethodSAS, "transaction_id": p.txn,
		"key_agreement_protocols": []string{sas.KeyAgreementCurve25519HKDFSHA256}, "hashes": []string{sas.HashSHA256},
		"message_authentication_codes": []string{p.macMethod}, "short_authentication_string": []string{sas.SASDecimal, sas.SASEmoji},
	}
}

// startAndExchange has the peer start, and runs the key exchange to the
// point where both sides have the SAS.
func (p *scripted) startAndExchange() {
	p.t.Helper()
	start, _ := json.Marshal(p.startContent())
	p.start = start
	out := p.sendRaw(sas.EventStart, start)
	if len(out) != 1 || out[0].Type != sas.EventAccept {
		p.t.Fatalf("start answered with %v %v", out, p.lastErr)
	}
	var ac sas.AcceptContent
	json.Unmarshal(out[0].Content, &ac)
	out = p.send(sas.EventKey, map[string]any{"key": p.sas.PublicKey().String()})
	if len(out) != 1 || out[0].Type != sas.EventKey {
		p.t.Fatalf("key answered with %v %v", out, p.lastErr)
	}
	var kc sas.KeyContent
	json.Unmarshal(out[0].Content, &kc)
	theirs, _ := sas.ParsePublicKey(kc.Key)
	if c, _ := sas.Commitment(theirs, start); c != ac.Commitment {
		p.t.Fatalf("engine commitment %q, want %q", ac.Commitment, c)
	}
	est, err := p.sas.Establish(theirs)
	if err != nil {
		p.t.Fatal(err)
	}
	p.est = est
	s, _, ok := p.v.ShortAuthString()
	if !ok || s != est.ShortAuthString(sas.SASInfo(p.me(), p.sas.PublicKey(), p.engParty(), theirs, p.txn)) {
		p.t.Fatalf("SAS differ or missing (%v)", ok)
	}
}

// macContent builds a MAC content over the given key ID → public key
// text pairs, with the key ID list MAC over exactly those IDs.
func (p *scripted) macContent(keys map[string]string) map[string]any {
	macs := map[string]string{}
	var ids []string
	for id, input := range keys {
		macs[id], _ = p.est.MAC(p.macMethod, input, sas.MACInfo(p.me(), p.engParty(), p.txn, id))
		ids = append(ids, id)
	}
	keyIDs, _ := p.est.MAC(p.macMethod, sas.KeyIDList(ids), sas.MACInfo(p.me(), p.engParty(), p.txn, sas.KeyIDsInfo))
	return map[string]any{"mac": macs, "keys": keyIDs}
}

// honestMAC is the MAC of the peer's device and master keys.
func (p *scripted) honestMAC() map[string]any {
	return p.macContent(map[string]string{
		"ed25519:" + p.dev:             p.key.String(),
		"ed25519:" + p.master.String(): p.master.String(),
	})
}

// lastCancel returns the code of the single cancel the engine last sent.
func (p *scripted) lastCancel() sas.CancelCode {
	p.t.Helper()
	if len(p.last) != 1 || p.last[0].Type != sas.EventCancel {
		p.t.Fatalf("engine sent %v (err %v), want one cancel", p.last, p.lastErr)
	}
	var c sas.CancelContent
	json.Unmarshal(p.last[0].Content, &c)
	return c.Code
}
