package sas

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/souverain/e2ee/olm"
)

// QRMode is the verification mode byte of a QR code.
type QRMode byte

// The QR code modes of the specification. The first key and the second key
// of a QRCode depend on the mode:
//
//	mode                  first key                    second key
//	QRModeCrossSigning    shower's own master key      what the shower thinks the scanner's master key is
//	QRModeSelfTrusted     the user's master key        what the shower thinks the scanner device's Ed25519 key is
//	QRModeSelfUntrusted   shower device's Ed25519 key  what the shower thinks the user's master key is
const (
	// QRModeCrossSigning verifies another user with cross-signing.
	QRModeCrossSigning QRMode = 0x00
	// QRModeSelfTrusted is self-verification shown by a device that
	// trusts the master key.
	QRModeSelfTrusted QRMode = 0x01
	// QRModeSelfUntrusted is self-verification shown by a device that
	// does not yet trust the master key.
	QRModeSelfUntrusted QRMode = 0x02
)

// QR code payload limits.
const (
	// QRVersion is the only payload version defined, 0x02.
	QRVersion = 0x02
	// QRMinSecretSize is the shortest shared secret ParseQRCode accepts;
	// a shorter one could be guessed by whoever relays the reciprocate
	// message.
	QRMinSecretSize = 8
	// QRSecretSize is the size of the secrets this package generates.
	QRSecretSize = 16
)

var qrHeader = []byte("MATRIX")

// QRCode is the binary payload of a verification QR code:
//
//	"MATRIX" | version 0x02 | mode | uint16 big-endian length of FlowID | FlowID (UTF-8) | first key (32) | second key (32) | secret (rest)
//
// The QR code itself is one byte-mode segment holding these bytes. Secret
// is the shared secret the scanner returns in m.reciprocate.v1; keep it
// private until shown. Its wire form is MarshalBinary: fmt, encoding/json
// and log/slog never print the secret.
type QRCode struct {
	Mode QRMode
	// FlowID is the to-device transaction ID or the event ID of the
	// in-room request.
	FlowID    string
	FirstKey  olm.Ed25519PublicKey
	SecondKey olm.Ed25519PublicKey
	// Secret is the shared secret. It is secret; encoding/json leaves it
	// out.
	Secret []byte `json:"-"`
}

// MarshalBinary returns the payload to encode in the QR code. It returns an
// error wrapping ErrBadQRCode if the mode is unknown, the flow ID is empty,
// longer than 65535 bytes or not UTF-8, or the secret is shorter than
// QRMinSecretSize.
func (q *QRCode) MarshalBinary() ([]byte, error) {
	if q == nil {
		return nil, fmt.Errorf("sas: marshal QR code: %w", ErrNil)
	}
	if err := q.check(); err != nil {
		return nil, fmt.Errorf("sas: marshal QR code: %w", err)
	}
	b := make([]byte, 0, len(qrHeader)+4+len(q.FlowID)+64+len(q.Secret))
	b = append(b, qrHeader...)
	b = append(b, QRVersion, byte(q.Mode))
	b = binary.BigEndian.AppendUint16(b, uint16(len(q.FlowID)))
	b = append(b, q.FlowID...)
	b = append(b, q.FirstKey[:]...)
	b = append(b, q.SecondKey[:]...)
	b = append(b, q.Secret...)
	return b, nil
}

func (q *QRCode) check() error {
	if q.Mode > QRModeSelfUntrusted {
		return fmt.Errorf("%w: unknown mode %d", ErrBadQRCode, q.Mode)
	}
	if q.FlowID == "" || len(q.FlowID) > 0xffff || !utf8.ValidString(q.FlowID) {
		return fmt.Errorf("%w: flow ID of %d bytes or not UTF-8", ErrBadQRCode, len(q.FlowID))
	}
	if len(q.Secret) < QRMinSecretSize {
		return fmt.Errorf("%w: secret of %d bytes", ErrBadQRCode, len(q.Secret))
	}
	return nil
}

// ParseQRCode decodes a scanned payload. It checks the header, the version
// (0x02), the mode, the flow ID length against the bytes present, and that
// the flow ID is UTF-8 and the secret at least QRMinSecretSize bytes;
// otherwise the error wraps ErrBadQRCode. It does not check the keys: that
// is Verification.ScanQRCode's job.
func ParseQRCode(b []byte) (*QRCode, error) {
	q, err := parseQRCode(b)
	if err != nil {
		return nil, fmt.Errorf("sas: parse QR code: %w", err)
	}
	return q, nil
}

// parseQRCode is ParseQRCode with errors that do not name the package.
func parseQRCode(b []byte) (*QRCode, error) {
	const fixed = 6 + 1 + 1 + 2
	if len(b) < fixed || !bytes.Equal(b[:6], qrHeader) {
		return nil, fmt.Errorf("%w: no MATRIX header", ErrBadQRCode)
	}
	if b[6] != QRVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadQRCode, b[6])
	}
	q := &QRCode{Mode: QRMode(b[7])}
	n := int(binary.BigEndian.Uint16(b[8:10]))
	rest := b[fixed:]
	if len(rest) < n+64 {
		return nil, fmt.Errorf("%w: %d bytes after the header, need %d and a secret", ErrBadQRCode, len(rest), n+64)
	}
	q.FlowID = string(rest[:n])
	copy(q.FirstKey[:], rest[n:n+32])
	copy(q.SecondKey[:], rest[n+32:n+64])
	q.Secret = bytes.Clone(rest[n+64:])
	if err := q.check(); err != nil {
		return nil, err
	}
	return q, nil
}

// LogValue describes the QR code for log/slog without its secret.
func (q QRCode) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("mode", int(q.Mode)),
		slog.String("flow_id", q.FlowID),
		slog.String("first_key", q.FirstKey.String()),
		slog.String("second_key", q.SecondKey.String()),
		slog.Int("secret_bytes", len(q.Secret)))
}

// Format prints the QR code without its secret.
func (q QRCode) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "sas.QRCode{Mode: %d, FlowID: %q, FirstKey: %s, SecondKey: %s, Secret: %d bytes}",
		q.Mode, q.FlowID, q.FirstKey, q.SecondKey, len(q.Secret))
}
