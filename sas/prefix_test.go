package sas_test

import (
	"strings"
	"testing"

	"github.com/souverain/e2ee/sas"
)

// TestErrorPrefixOnce: an error names the package once.
func TestErrorPrefixOnce(t *testing.T) {
	w := newWorld(t)
	a := w.addDevice("@alice:example.org", "A", withMethods(sas.MethodQRScan, sas.MethodQRShow))
	b := w.addDevice("@bob:example.org", "B", withMethods(sas.MethodQRScan, sas.MethodQRShow))
	va, vb := w.requestToDevice(a, b)
	_ = vb
	for name, call := range map[string]func() error{
		"scan garbage": func() error { _, err := va.ScanQRCode([]byte("not a QR code")); return err },
		"receive bad": func() error {
			_, _, err := a.m.Receive(sas.Event{Type: sas.EventRequest, Sender: "@x:y", Content: []byte(`{`)})
			return err
		},
		"receive big": func() error {
			_, _, err := a.m.Receive(sas.Event{Type: sas.EventRequest, Sender: "@x:y", Content: make([]byte, sas.MaxEventSize+1)})
			return err
		},
		"confirm early": func() error { _, err := va.Confirm(); return err },
	} {
		err := call()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if n := strings.Count(err.Error(), "sas:"); n != 1 {
			t.Errorf("%s: %q names the package %d times", name, err, n)
		}
	}
}
