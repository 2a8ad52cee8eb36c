package sas_test

import (
	"errors"
	"testing"

	"github.com/souverain/e2ee/sas"
)

// TestReceiveReturnsVerification: Receive names the verification each
// event belongs to: the new one for a request, the same one for the rest
// of the flow, nil for an event of no flow.
func TestReceiveReturnsVerification(t *testing.T) {
	w := newWorld(t)
	a := w.addDevice("@alice:example.org", "A")
	b := w.addDevice("@bob:example.org", "B")
	va, out, err := a.m.RequestToDevice(b.user, b.id)
	if err != nil {
		t.Fatal(err)
	}
	vb, reply, err := b.m.Receive(sas.Event{Type: out[0].Type, Content: out[0].Content, Sender: a.user})
	if err != nil || len(reply) != 0 {
		t.Fatalf("request: %v %v", reply, err)
	}
	if vb == nil || vb != b.m.Verification("", va.FlowID()) || vb.State() != sas.StateRequestReceived {
		t.Fatalf("request gave %v", vb)
	}
	ready, err := vb.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := a.m.Receive(sas.Event{Type: ready[0].Type, Content: ready[0].Content, Sender: b.user, SenderDevice: b.id})
	if err != nil || got != va {
		t.Fatalf("ready gave %v, %v; want the request's verification", got, err)
	}
	got, out, err = a.m.Receive(sas.Event{Type: sas.EventKey, Content: []byte(`{"transaction_id":"nope","key":"x"}`), Sender: b.user, SenderDevice: b.id})
	if got != nil || !errors.Is(err, sas.ErrUnknownTransaction) {
		t.Fatalf("unknown transaction gave %v, %v", got, err)
	}
	got, _, err = a.m.Receive(sas.Event{Type: "m.room.message", Content: []byte(`{}`), Sender: b.user})
	if got != nil || err != nil {
		t.Fatalf("other event gave %v, %v", got, err)
	}
}
