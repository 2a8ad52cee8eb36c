package sas_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// call runs f and turns a panic into an error.
func call(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// TestNilAndZero: the methods of nil and zero values return errors
// wrapping ErrNil (or zero values), never panic.
func TestNilAndZero(t *testing.T) {
	var nilM *sas.Machine
	var nilV *sas.Verification
	var nilSAS *sas.SAS
	var nilEst *sas.EstablishedSAS
	var nilQR *sas.QRCode
	zeroV, zeroM := &sas.Verification{}, &sas.Machine{}
	tests := []struct {
		name string
		call func() error
	}{
		{"zero Verification.Accept", func() error { _, err := zeroV.Accept(); return err }},
		{"zero Verification.StartSAS", func() error { _, err := zeroV.StartSAS(); return err }},
		{"zero Verification.Confirm", func() error { _, err := zeroV.Confirm(); return err }},
		{"zero Verification.Mismatch", func() error { _, err := zeroV.Mismatch(); return err }},
		{"zero Verification.RequestSent", func() error { return zeroV.RequestSent("$e") }},
		{"zero Verification.QRCode", func() error { _, err := zeroV.QRCode(); return err }},
		{"zero Verification.ScanQRCode", func() error { _, err := zeroV.ScanQRCode([]byte("MATRIX")); return err }},
		{"nil Verification.Accept", func() error { _, err := nilV.Accept(); return err }},
		{"nil Verification.Confirm", func() error { _, err := nilV.Confirm(); return err }},
		{"zero Verification getters", func() error {
			for _, v := range []*sas.Verification{zeroV, nilV} {
				_, _, _, _, _ = v.FlowID(), v.RoomID(), v.OtherUser(), v.OtherDevice(), v.WeRequested()
				_, _ = v.State(), v.TheirMethods()
				_, _, _ = v.ShortAuthString()
				_, _ = v.Result()
				_, _ = v.Cancellation(), v.Cancel()
			}
			return sas.ErrNil
		}},
		{"zero Machine.Receive", func() error {
			_, _, err := zeroM.Receive(sas.Event{Type: sas.EventRequest, Sender: "@a:x", Content: []byte(`{}`)})
			return err
		}},
		{"zero Machine.RequestToDevice", func() error { _, _, err := zeroM.RequestToDevice("@a:x", "D"); return err }},
		{"zero Machine.RequestInRoom", func() error { _, _, err := zeroM.RequestInRoom("!r:x", "@a:x"); return err }},
		{"nil Machine.Receive", func() error { _, _, err := nilM.Receive(sas.Event{}); return err }},
		{"zero Machine.SetMasterKey", func() error { return zeroM.SetMasterKey(olm.Ed25519PublicKey{1}, true) }},
		{"zero Machine.MasterKey", func() error {
			for _, m := range []*sas.Machine{zeroM, nilM} {
				_, _ = m.MasterKey()
			}
			return sas.ErrNil
		}},
		{"zero Machine getters", func() error {
			for _, m := range []*sas.Machine{zeroM, nilM} {
				_, _, _ = m.Verification("", "T"), m.Verifications(), m.Tick()
				m.Close()
			}
			return sas.ErrNil
		}},
		{"zero SAS.Establish", func() error { _, err := (&sas.SAS{}).Establish(sas.PublicKey{9}); return err }},
		{"nil SAS.Establish", func() error { _, err := nilSAS.Establish(sas.PublicKey{9}); return err }},
		{"zero EstablishedSAS.Bytes", func() error { _, err := (&sas.EstablishedSAS{}).Bytes("i", 6); return err }},
		{"zero EstablishedSAS.MAC", func() error { _, err := (&sas.EstablishedSAS{}).MAC(sas.MACHKDFHMACSHA256V2, "k", "i"); return err }},
		{"nil EstablishedSAS.VerifyMAC", func() error { return nilEst.VerifyMAC(sas.MACHKDFHMACSHA256V2, "k", "i", "m") }},
		{"nil QRCode.MarshalBinary", func() error { _, err := nilQR.MarshalBinary(); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := call(tt.call); !errors.Is(err, sas.ErrNil) {
				t.Errorf("err = %v, want ErrNil", err)
			}
		})
	}
}

// TestClose: after Close (idempotent) the SAS values and the Machine fail
// with ErrClosed, and the secrets are gone.
func TestClose(t *testing.T) {
	s := fixedSAS(t, alicePrivHex)
	s.Close()
	s.Close()
	if _, err := s.Establish(sas.PublicKey{9}); !errors.Is(err, sas.ErrClosed) {
		t.Errorf("Establish after Close: %v", err)
	}
	e := establish(t, fixedSAS(t, alicePrivHex), bobPubB64)
	mac, _ := e.MAC(sas.MACHKDFHMACSHA256V2, "k", "i")
	e.Close()
	e.Close()
	if _, err := e.Bytes("i", 6); !errors.Is(err, sas.ErrClosed) {
		t.Errorf("Bytes after Close: %v", err)
	}
	if _, err := e.MAC(sas.MACHKDFHMACSHA256V2, "k", "i"); !errors.Is(err, sas.ErrClosed) {
		t.Errorf("MAC after Close: %v", err)
	}
	if err := e.VerifyMAC(sas.MACHKDFHMACSHA256V2, "k", "i", mac); !errors.Is(err, sas.ErrClosed) {
		t.Errorf("VerifyMAC after Close: %v", err)
	}
	if got := e.ShortAuthString("i"); got != (sas.ShortAuthString{}) {
		t.Errorf("ShortAuthString after Close = %v", got)
	}

	w := newWorld(t)
	a := w.addDevice("@alice:example.org", "A")
	b := w.addDevice("@bob:example.org", "B")
	va, _ := w.requestToDevice(a, b)
	a.m.Close()
	a.m.Close()
	if _, err := va.StartSAS(); !errors.Is(err, sas.ErrClosed) {
		t.Errorf("StartSAS after Machine.Close: %v", err)
	}
	if _, _, err := a.m.RequestToDevice(b.user, b.id); !errors.Is(err, sas.ErrClosed) {
		t.Errorf("RequestToDevice after Close: %v", err)
	}
	if _, _, err := a.m.Receive(sas.Event{Type: sas.EventCancel, Sender: b.user, Content: []byte(`{}`)}); !errors.Is(err, sas.ErrClosed) {
		t.Errorf("Receive after Close: %v", err)
	}
}

// TestEstablishedSASCloseRace runs Close against MAC computations; run
// with -race.
func TestEstablishedSASCloseRace(t *testing.T) {
	e := establish(t, fixedSAS(t, alicePrivHex), bobPubB64)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				if _, err := e.MAC(sas.MACHKDFHMACSHA256V2, "k", "i"); err != nil && !errors.Is(err, sas.ErrClosed) {
					t.Error(err)
					return
				}
			}
		}()
	}
	e.Close()
	for range 4 {
		<-done
	}
}
