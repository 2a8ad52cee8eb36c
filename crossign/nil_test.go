package crossign_test

import (
	"crypto"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// TestNilAndZero calls the exported functions and methods that can fail
// with nil arguments and nil or zero receivers: each returns an error
// wrapping ErrNil, never panics.
func TestNilAndZero(t *testing.T) {
	w := newWorld(t)
	resp := w.resp.parse(t)
	bobMaster, err := resp.CrossSigningKey(bobID, crossign.UsageMaster)
	if err != nil {
		t.Fatal(err)
	}
	var nilKeys *crossign.PrivateKeys
	var nilVerifier *crossign.Verifier
	var nilResp *crossign.QueryResponse
	var nilPriv *crossign.PrivateKey
	zeroSet := &crossign.PrivateKeys{UserID: aliceID, Master: &crossign.PrivateKey{}, SelfSigning: &crossign.PrivateKey{}, UserSigning: &crossign.PrivateKey{}}
	acc, _ := olm.NewAccount()
	tests := []struct {
		name string
		call func() error
	}{
		{"SignDevice(nil)", func() error { _, err := w.alice.SignDevice(nil); return err }},
		{"SignDevice(zero)", func() error { _, err := w.alice.SignDevice(&crossign.Device{}); return err }},
		{"SignUser(nil)", func() error { _, err := w.alice.SignUser(nil); return err }},
		{"SignUser(zero)", func() error { _, err := w.alice.SignUser(&crossign.Key{}); return err }},
		{"nil PrivateKeys.SignUser", func() error { _, err := nilKeys.SignUser(bobMaster); return err }},
		{"nil PrivateKeys.PublicKey", func() error { _, err := nilKeys.PublicKey(crossign.UsageMaster); return err }},
		{"nil PrivateKeys.DeviceSigningUpload", func() error { _, err := nilKeys.DeviceSigningUpload(); return err }},
		{"zero PrivateKey in set: SignUser", func() error { _, err := zeroSet.SignUser(bobMaster); return err }},
		{"zero PrivateKey in set: PublicKey", func() error { _, err := zeroSet.PublicKey(crossign.UsageSelfSigning); return err }},
		{"zero PrivateKey.Sign", func() error {
			_, err := (&crossign.PrivateKey{}).Sign(nil, []byte("m"), crypto.Hash(0))
			return err
		}},
		{"nil PrivateKey.Sign", func() error { _, err := nilPriv.Sign(nil, []byte("m"), crypto.Hash(0)); return err }},
		{"signedjson.Sign(zero PrivateKey)", func() error {
			_, err := signedjson.Sign([]byte(`{}`), "e", "ed25519:k", &crossign.PrivateKey{})
			return err
		}},
		{"SignMasterKeyWithDevice(nil account)", func() error {
			_, err := crossign.SignMasterKeyWithDevice(nil, aliceID, "D", bobMaster)
			return err
		}},
		{"SignMasterKeyWithDevice(nil key)", func() error { _, err := crossign.SignMasterKeyWithDevice(acc, aliceID, "D", nil); return err }},
		{"Verifier.Evaluate(nil)", func() error { _, err := w.verifier().Evaluate(nil); return err }},
		{"nil Verifier.Evaluate", func() error { _, err := nilVerifier.Evaluate(resp); return err }},
		{"Verifier with zero MasterKey", func() error {
			_, err := (&crossign.Verifier{UserID: aliceID, MasterKey: &crossign.PrivateKey{}}).Evaluate(resp)
			return err
		}},
		{"nil QueryResponse.Device", func() error { _, err := nilResp.Device(aliceID, "ALICE1"); return err }},
		{"nil QueryResponse.CrossSigningKey", func() error { _, err := nilResp.CrossSigningKey(aliceID, crossign.UsageMaster); return err }},
		{"zero Key.MarshalJSON", func() error { _, err := (&crossign.Key{}).MarshalJSON(); return err }},
		{"nil Key.UnmarshalJSON", func() error { var k *crossign.Key; return k.UnmarshalJSON([]byte(`{}`)) }},
		{"nil Device.UnmarshalJSON", func() error { var d *crossign.Device; return d.UnmarshalJSON([]byte(`{}`)) }},
		{"zero Device.MarshalJSON", func() error { _, err := (&crossign.Device{}).MarshalJSON(); return err }},
		{"DeviceSigningUpload with zero Key", func() error {
			_, err := (&crossign.DeviceSigningUpload{MasterKey: &crossign.Key{}}).MarshalJSON()
			return err
		}},
		{"nil getters", func() error {
			_ = nilPriv.Usage()
			_ = nilPriv.PublicKey()
			_ = nilPriv.KeyID()
			_ = nilPriv.Seed()
			_ = nilPriv.Secret()
			_ = nilPriv.Public()
			nilPriv.Close()
			nilKeys.Close()
			_ = nilResp.UserIDs()
			_ = nilResp.DeviceIDs(aliceID)
			var r *crossign.Report
			_, _, _, _ = r.UserIDs(), r.User(aliceID), r.Device(aliceID, "A"), r.Pins()
			for _, k := range []*crossign.Key{nil, {}} {
				_, _, _, _, _, _, _ = k.UserID(), k.Usage(), k.PublicKey(), k.KeyID(), k.Object(), k.Bytes(), k.String()
			}
			for _, d := range []*crossign.Device{nil, {}} {
				_, _, _, _, _ = d.UserID(), d.DeviceID(), d.Algorithms(), d.Ed25519Key(), d.Curve25519Key()
				_, _, _, _ = d.DisplayName(), d.Object(), d.Bytes(), d.String()
			}
			return crossign.ErrNil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				err = tt.call()
			}()
			if !errors.Is(err, crossign.ErrNil) {
				t.Errorf("err = %v, want ErrNil", err)
			}
		})
	}
}

// TestErrorPrefixOnce: an error names the package once.
func TestErrorPrefixOnce(t *testing.T) {
	w := newWorld(t)
	bobMaster, _ := w.resp.parse(t).CrossSigningKey(bobID, crossign.UsageMaster)
	noUSK := &crossign.PrivateKeys{UserID: aliceID, Master: w.alice.Master}
	noMaster := &crossign.PrivateKeys{UserID: aliceID, SelfSigning: w.alice.SelfSigning}
	noUser := &crossign.PrivateKeys{Master: w.alice.Master}
	closed := testKeys(t, aliceID)
	closed.Close()
	for _, call := range []func() error{
		func() error { _, err := closed.SignUser(bobMaster); return err },
		func() error { _, err := closed.PublicKey(crossign.UsageSelfSigning); return err },
		func() error { _, err := noUSK.SignUser(bobMaster); return err },
		func() error { _, err := noUSK.PublicKey(crossign.UsageUserSigning); return err },
		func() error { _, err := noMaster.PublicKey(crossign.UsageSelfSigning); return err },
		func() error { _, err := noUser.PublicKey(crossign.UsageMaster); return err },
		func() error { _, err := noMaster.SignDevice(nil); return err },
		func() error { _, err := noMaster.DeviceSigningUpload(); return err },
	} {
		err := call()
		if err == nil {
			t.Fatal("no error")
		}
		if n := strings.Count(err.Error(), "crossign:"); n != 1 {
			t.Errorf("%q names the package %d times", err, n)
		}
	}
}

// TestClose: a closed private key refuses to sign (ErrClosed), forgets its
// seed, and keeps its role and public key; Close is idempotent and safe
// against concurrent signing (run with -race).
func TestClose(t *testing.T) {
	w := newWorld(t)
	bobMaster, _ := w.resp.parse(t).CrossSigningKey(bobID, crossign.UsageMaster)
	ks := testKeys(t, aliceID)
	pub := ks.UserSigning.PublicKey()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			if _, err := ks.SignUser(bobMaster); err != nil && !errors.Is(err, crossign.ErrClosed) {
				t.Error(err)
				return
			}
		}
	}()
	ks.Close()
	ks.Close()
	<-done
	if _, err := ks.SignUser(bobMaster); !errors.Is(err, crossign.ErrClosed) {
		t.Errorf("SignUser after Close: %v", err)
	}
	if _, err := ks.UserSigning.Sign(nil, []byte("m"), crypto.Hash(0)); !errors.Is(err, crossign.ErrClosed) {
		t.Errorf("Sign after Close: %v", err)
	}
	if s, sec := ks.UserSigning.Seed(), ks.UserSigning.Secret(); s != nil || sec != "" {
		t.Errorf("after Close: Seed %x, Secret %q", s, sec)
	}
	if ks.UserSigning.PublicKey() != pub || ks.UserSigning.Usage() != crossign.UsageUserSigning {
		t.Error("public part lost")
	}
}
