package machine

import (
	"encoding/json"
	"fmt"
	"slices"
)

// algorithmSignedCurve25519 is the one-time key algorithm of Olm.
const algorithmSignedCurve25519 = "signed_curve25519"

// keyCounts are the one-time and fallback key facts of a /sync or
// /keys/upload response.
type keyCounts struct {
	otk      *int
	fallback []string // nil: the server has no fallback key support
	sawFB    bool     // fallback is meaningful
}

// topUp generates one-time keys for what the server lacks, and a fallback
// key when the server says the current one was used, unless keys are
// already waiting for upload. A fallback key is not generated while an
// upload is in flight (its response marks every key published).
func (t *txn) topUp(kc *keyCounts) error {
	a, err := t.account()
	if err != nil {
		return err
	}
	st := &t.m.c.acct
	if kc != nil && kc.otk != nil && *kc.otk != st.OTKCount {
		st.OTKCount = *kc.otk
		t.accountDirty = true
	}
	if t.m.uploadInFlight() {
		return nil
	}
	if kc != nil && kc.sawFB && kc.fallback != nil && !slices.Contains(kc.fallback, algorithmSignedCurve25519) {
		if _, _, pending := a.FallbackKey(); !pending {
			if err := a.GenerateFallbackKey(); err != nil {
				return err
			}
			t.accountDirty = true
		}
	}
	if !st.Shared {
		return nil // the first upload carries the keys made by New
	}
	max := a.MaxNumberOfOneTimeKeys()
	if len(a.OneTimeKeys()) == 0 && st.OTKCount < max {
		if err := a.GenerateOneTimeKeys(max - max0(st.OTKCount)); err != nil {
			return err
		}
		t.accountDirty = true
	}
	return nil
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

func (m *Machine) uploadInFlight() bool {
	for _, f := range m.inflight {
		if f.req.Kind == KindKeysUpload {
			return true
		}
	}
	return false
}

// uploadRequest returns the /keys/upload request if anything is to upload:
// the device keys (once), unpublished one-time keys and fallback key.
func (t *txn) uploadRequest() (*Request, error) {
	for _, f := range t.m.inflight {
		if f.req.Kind == KindKeysUpload {
			r := f.req
			return &r, nil
		}
	}
	a, err := t.account()
	if err != nil {
		return nil, err
	}
	st := &t.m.c.acct
	body := map[string]any{}
	if !st.Shared {
		dk, err := a.DeviceKeys(t.m.userID, t.m.deviceID)
		if err != nil {
			return nil, err
		}
		body["device_keys"] = json.RawMessage(dk)
	}
	otks, err := a.SignedOneTimeKeys(t.m.userID, t.m.deviceID)
	if err != nil {
		return nil, err
	}
	if len(otks) > 0 {
		body["one_time_keys"] = otks
	}
	fbs, err := a.SignedFallbackKeys(t.m.userID, t.m.deviceID)
	if err != nil {
		return nil, err
	}
	if len(fbs) > 0 {
		body["fallback_keys"] = fbs
	}
	if len(body) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	// The keys count as published from now on, committed before the
	// request leaves: if the upload then fails or its response is lost in a
	// crash, the keys are never offered again (the server's count shows
	// what is missing, and fresh keys replace them). Offering them again
	// after a crash could publish a one-time key a second time after it
	// was claimed, and two senders would use it.
	a.MarkKeysAsPublished()
	t.accountDirty = true
	r := Request{ID: newID(), Kind: KindKeysUpload, Method: "POST", Path: "/_matrix/client/v3/keys/upload", Body: b}
	t.addInflight(&inflight{req: r})
	return &r, nil
}

// handleUpload marks the uploaded keys published and applies the counts.
func (t *txn) handleUpload(body []byte) error {
	var resp struct {
		Counts map[string]int `json:"one_time_key_counts"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("%w: keys/upload: %v", ErrBadResponse, err)
	}
	if _, err := t.account(); err != nil {
		return err
	}
	t.m.c.acct.Shared = true
	t.accountDirty = true
	n := resp.Counts[algorithmSignedCurve25519]
	return t.topUp(&keyCounts{otk: &n})
}
