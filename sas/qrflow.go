package sas

import (
	"crypto/subtle"
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/olm"
)

// QRCode returns the payload of the QR code this device shows, once the
// request is ready and this device can show a code the other can scan.
// The mode follows from who is verified: another user (both master keys;
// needs a trusted master key here and a pinned one for the other user),
// or this user's other device, shown by a device that trusts the master key
// (mode 0x01) or does not yet (mode 0x02). The same payload is returned on
// every call; it holds a fresh secret, so show it only on screen.
func (v *Verification) QRCode() ([]byte, error) {
	if err := v.lock(); err != nil {
		return nil, fmt.Errorf("sas: QR code: %w", err)
	}
	defer v.m.mu.Unlock()
	if v.state != StateReady {
		return nil, fmt.Errorf("sas: QR code: %w", ErrState)
	}
	if !v.can(MethodQRShow) {
		return nil, fmt.Errorf("sas: QR code: %w: the other device cannot scan", ErrUnknownMethod)
	}
	if v.qr == nil {
		q, err := v.newQRCode()
		if err != nil {
			return nil, fmt.Errorf("sas: QR code: %w", err)
		}
		v.qr = q
	}
	return v.qr.MarshalBinary()
}

func (v *Verification) newQRCode() (*QRCode, error) {
	cfg := v.m.cfg
	cfg.MasterKey, cfg.MasterKeyTrusted = v.ownMaster, v.ownMasterTrusted // as pinned
	var zero olm.Ed25519PublicKey
	q := &QRCode{FlowID: v.flowID, Secret: v.m.randomBytes(QRSecretSize)}
	switch {
	case v.peerUser != cfg.UserID:
		if !cfg.MasterKeyTrusted {
			return nil, fmt.Errorf("%w: no trusted master key of our own", ErrState)
		}
		if v.peerKeys.MasterKey == zero {
			return nil, fmt.Errorf("%w: %s has no master key", ErrUnknownDevice, v.peerUser)
		}
		q.Mode, q.FirstKey, q.SecondKey = QRModeCrossSigning, cfg.MasterKey, v.peerKeys.MasterKey
	case cfg.MasterKeyTrusted:
		q.Mode, q.FirstKey, q.SecondKey = QRModeSelfTrusted, cfg.MasterKey, v.peerDeviceKey
	default:
		if cfg.MasterKey == zero {
			return nil, fmt.Errorf("%w: no master key to show", ErrState)
		}
		q.Mode, q.FirstKey, q.SecondKey = QRModeSelfUntrusted, cfg.DeviceKey, cfg.MasterKey
	}
	return q, nil
}

// ScanQRCode takes the payload of the other device's QR code, scanned by
// this device. If the code is for this verification and its keys are the
// ones pinned here, the other side's keys count as verified and the
// m.reciprocate.v1 start is returned for the other device to confirm. A
// code whose keys do not match cancels the verification (m.key_mismatch,
// or m.user_mismatch for a mode meant for another kind of verification). A
// payload that is not a verification QR code returns an error wrapping
// ErrBadQRCode and changes nothing, so the user can scan again.
func (v *Verification) ScanQRCode(payload []byte) ([]Event, error) {
	if err := v.lock(); err != nil {
		return nil, fmt.Errorf("sas: scan QR code: %w", err)
	}
	defer v.m.mu.Unlock()
	out, err := v.scan(payload)
	if err != nil {
		err = fmt.Errorf("sas: scan QR code: %w", err)
	}
	return out, err
}

func (v *Verification) scan(payload []byte) ([]Event, error) {
	if v.state != StateReady {
		return nil, ErrState
	}
	if !v.can(MethodQRScan) {
		return nil, fmt.Errorf("%w: the other device shows no QR code", ErrUnknownMethod)
	}
	q, err := parseQRCode(payload)
	if err != nil {
		return nil, err
	}
	if v.m.now().After(v.deadline()) {
		return v.fail(ErrTimeout)
	}
	cfg := v.m.cfg
	cfg.MasterKey, cfg.MasterKeyTrusted = v.ownMaster, v.ownMasterTrusted // as pinned
	var zero olm.Ed25519PublicKey
	same := v.peerUser == cfg.UserID
	var res Result
	switch q.Mode {
	case QRModeCrossSigning:
		if same {
			return v.fail(fmt.Errorf("%w: cross-signing QR code in a self-verification", ErrUserMismatch))
		}
		theirs := v.peerKeys.MasterKey
		if theirs == zero || q.FirstKey != theirs || !cfg.MasterKeyTrusted || q.SecondKey != cfg.MasterKey {
			return v.fail(fmt.Errorf("%w: the QR code's master keys are not the ones pinned", ErrKeyMismatch))
		}
		res.MasterKey = &theirs
	case QRModeSelfTrusted:
		if !same {
			return v.fail(fmt.Errorf("%w: self-verification QR code from %s", ErrUserMismatch, v.peerUser))
		}
		master := v.peerKeys.MasterKey
		if master == zero || q.FirstKey != master || q.SecondKey != cfg.DeviceKey {
			return v.fail(fmt.Errorf("%w: the QR code's keys are not the ones pinned", ErrKeyMismatch))
		}
		res.MasterKey = &master
	case QRModeSelfUntrusted:
		if !same {
			return v.fail(fmt.Errorf("%w: self-verification QR code from %s", ErrUserMismatch, v.peerUser))
		}
		dev := v.peerDeviceKey
		if !cfg.MasterKeyTrusted || q.FirstKey != dev || q.SecondKey != cfg.MasterKey {
			return v.fail(fmt.Errorf("%w: the QR code's keys are not the ones pinned", ErrKeyMismatch))
		}
		res.DeviceKey = &dev
	}
	if q.FlowID != v.flowID {
		return v.fail(fmt.Errorf("%w: the QR code is for flow %q", ErrKeyMismatch, q.FlowID))
	}
	res.UserID, res.DeviceID = v.peerUser, v.peerDevice
	start := &StartContent{
		FromDevice: cfg.DeviceID,
		Method:     MethodReciprocate,
		Secret:     b64.Encode(q.Secret), // constant time: the secret is secret
	}
	ev := v.event(EventStart, start)
	v.ourStart = start
	v.startRaw = ev.Content
	v.weStarted = true
	v.result = res
	v.state = StateQRScanned
	v.lastActivity = v.m.now()
	return []Event{ev}, nil
}

// onReciprocate handles m.reciprocate.v1: the other device scanned our
// code and returns its secret.
func (v *Verification) onReciprocate(c *StartContent) ([]Event, error) {
	if !v.can(MethodQRShow) {
		return v.fail(fmt.Errorf("%w: no QR code was offered", ErrUnknownMethod))
	}
	if v.qr == nil {
		return v.fail(fmt.Errorf("%w: no QR code was shown", ErrKeyMismatch))
	}
	secret, err := b64.Decode(c.Secret)
	if err != nil || subtle.ConstantTimeCompare(secret, v.qr.Secret) != 1 {
		return v.fail(fmt.Errorf("%w: the QR code secret does not match", ErrKeyMismatch))
	}
	res := Result{UserID: v.peerUser, DeviceID: v.peerDevice}
	switch v.qr.Mode {
	case QRModeCrossSigning, QRModeSelfUntrusted:
		k := v.qr.SecondKey // their master key, or ours as we saw it
		res.MasterKey = &k
	case QRModeSelfTrusted:
		k := v.peerDeviceKey
		res.DeviceKey = &k
	}
	v.result = res
	v.theirStart = c
	v.weStarted = false
	v.state = StateReciprocated
	return nil, nil
}
