package qrlogin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/souverain/e2ee/internal/b64"
)

// MaxQRCodeDataSize is the longest QR code data accepted or built: 2,953
// bytes, what the largest QR code (version 40, low error correction) holds
// in byte mode. Longer data cannot come from a QR code.
const MaxQRCodeDataSize = 2953

// Format is the layout of QR code data.
type Format int

const (
	// FormatMSC4108 is MSC4108's layout, used with the ECIES channel:
	//
	//	"MATRIX" ‖ 0x02 ‖ intent (0x03 login, 0x04 reciprocate) ‖ key (32)
	//	‖ len (u16 BE) ‖ rendezvous URL
	//	‖ [reciprocate only] len (u16 BE) ‖ server name
	FormatMSC4108 Format = iota + 1
	// FormatMSC4388 is MSC4388's layout (unstable prefix), used with the
	// HPKE channel:
	//
	//	"IO_ELEMENT_MSC4388" ‖ 0x03 ‖ intent (0x00 login, 0x01 reciprocate)
	//	‖ key (32) ‖ len (u16 BE) ‖ rendezvous ID ‖ len (u16 BE) ‖ base URL
	FormatMSC4388
)

// String returns "MSC4108" or "MSC4388".
func (f Format) String() string {
	switch f {
	case FormatMSC4108:
		return "MSC4108"
	case FormatMSC4388:
		return "MSC4388"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Intent says which device shows the QR code.
type Intent int

const (
	// IntentLogin: the new device shows the code and wants to log in.
	IntentLogin Intent = iota + 1
	// IntentReciprocate: the existing device shows the code to log the new
	// one in.
	IntentReciprocate
)

// String returns "login" or "reciprocate".
func (i Intent) String() string {
	switch i {
	case IntentLogin:
		return "login"
	case IntentReciprocate:
		return "reciprocate"
	}
	return fmt.Sprintf("Intent(%d)", int(i))
}

const (
	prefixMSC4108  = "MATRIX"
	versionMSC4108 = 0x02
	prefixMSC4388  = "IO_ELEMENT_MSC4388"
	typeMSC4388    = 0x03
)

// QRCodeData is the content of a login QR code (Element's QrCodeData):
// format, intent, the public key to open a channel to, and where to meet.
// Build one with NewQRCodeDataMSC4108 or NewQRCodeDataMSC4388, read one
// with ParseQRCodeData; values are immutable.
//
// Decoding is strict where Element's stack is lenient: trailing bytes, an
// empty server name or rendezvous ID, strings with control characters,
// and URLs that are not absolute http(s) URLs with a host are refused.
// Strings are kept as they were read, so Bytes gives back the decoded
// bytes exactly.
type QRCodeData struct {
	format        Format
	intent        Intent
	key           PublicKey
	rendezvousURL string // MSC4108
	serverName    string // MSC4108, reciprocate
	rendezvousID  string // MSC4388
	baseURL       string // MSC4388
}

// NewQRCodeDataMSC4108 builds MSC4108 QR code data. serverName is the
// homeserver of the existing device and must be given exactly when intent
// is IntentReciprocate. Errors wrap ErrBadQRCode or ErrBadPublicKey.
func NewQRCodeDataMSC4108(key PublicKey, intent Intent, rendezvousURL, serverName string) (*QRCodeData, error) {
	q := &QRCodeData{format: FormatMSC4108, intent: intent, key: key, rendezvousURL: rendezvousURL, serverName: serverName}
	if intent == IntentLogin && serverName != "" {
		return nil, fmt.Errorf("qrlogin: QR code data: a login QR code carries no server name: %w", ErrBadQRCode)
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	return q, nil
}

// NewQRCodeDataMSC4388 builds MSC4388 QR code data. baseURL is the
// homeserver's client API base URL; as Element's stack does, a base URL
// whose path is "/" is written without its trailing slash. Errors wrap
// ErrBadQRCode or ErrBadPublicKey.
func NewQRCodeDataMSC4388(key PublicKey, intent Intent, rendezvousID, baseURL string) (*QRCodeData, error) {
	if u, err := url.Parse(baseURL); err == nil && u.Path == "/" && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery {
		baseURL = strings.TrimSuffix(baseURL, "/")
	}
	q := &QRCodeData{format: FormatMSC4388, intent: intent, key: key, rendezvousID: rendezvousID, baseURL: baseURL}
	if err := q.check(); err != nil {
		return nil, err
	}
	return q, nil
}

// check validates the fields of q for its format.
func (q *QRCodeData) check() error {
	if !q.key.set {
		return fmt.Errorf("qrlogin: QR code data: zero public key: %w", ErrBadPublicKey)
	}
	if q.intent != IntentLogin && q.intent != IntentReciprocate {
		return fmt.Errorf("qrlogin: QR code data: unknown intent %d: %w", int(q.intent), ErrBadQRCode)
	}
	switch q.format {
	case FormatMSC4108:
		if err := checkURL("rendezvous URL", q.rendezvousURL); err != nil {
			return err
		}
		if q.intent == IntentReciprocate {
			if err := checkText("server name", q.serverName); err != nil {
				return err
			}
		}
	case FormatMSC4388:
		if err := checkText("rendezvous ID", q.rendezvousID); err != nil {
			return err
		}
		if err := checkURL("base URL", q.baseURL); err != nil {
			return err
		}
	default:
		return fmt.Errorf("qrlogin: QR code data: unknown format: %w", ErrBadQRCode)
	}
	if n := len(q.Bytes()); n > MaxQRCodeDataSize {
		return fmt.Errorf("qrlogin: QR code data of %d bytes: %w", n, ErrMessageTooLarge)
	}
	return nil
}

// checkText requires a non-empty UTF-8 string without control characters
// that fits a 16-bit length.
func checkText(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("qrlogin: QR code data: empty %s: %w", what, ErrBadQRCode)
	case len(s) > 0xffff:
		return fmt.Errorf("qrlogin: QR code data: %s longer than 65535 bytes: %w", what, ErrBadQRCode)
	case !utf8.ValidString(s):
		return fmt.Errorf("qrlogin: QR code data: %s is not UTF-8: %w", what, ErrBadQRCode)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("qrlogin: QR code data: %s has a control character: %w", what, ErrBadQRCode)
	}
	return nil
}

// checkURL requires checkText and an absolute http or https URL with a
// host and no user information.
func checkURL(what, s string) error {
	if err := checkText(what, s); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" ||
		strings.ContainsAny(s, " \\") {
		return fmt.Errorf("qrlogin: QR code data: %s is not an absolute http(s) URL: %w", what, ErrBadQRCode)
	}
	return nil
}

// ParseQRCodeData decodes QR code data in either format, strictly (see
// QRCodeData). Errors wrap ErrBadQRCode, or ErrMessageTooLarge for more
// than MaxQRCodeDataSize bytes.
func ParseQRCodeData(b []byte) (*QRCodeData, error) {
	if len(b) > MaxQRCodeDataSize {
		return nil, fmt.Errorf("qrlogin: QR code data of %d bytes: %w", len(b), ErrMessageTooLarge)
	}
	r := qrReader{b: b}
	q := &QRCodeData{}
	switch {
	case bytes.HasPrefix(b, []byte(prefixMSC4108)):
		r.b = b[len(prefixMSC4108):]
		if v := r.byte(); v != versionMSC4108 {
			return nil, fmt.Errorf("qrlogin: QR code data: MSC4108 version 0x%02x, want 0x02: %w", v, ErrBadQRCode)
		}
		q.format = FormatMSC4108
		switch r.byte() {
		case 0x03:
			q.intent = IntentLogin
		case 0x04:
			q.intent = IntentReciprocate
		default:
			return nil, fmt.Errorf("qrlogin: QR code data: unknown MSC4108 intent: %w", ErrBadQRCode)
		}
		q.key = r.key()
		q.rendezvousURL = r.string()
		if q.intent == IntentReciprocate {
			q.serverName = r.string()
		}
	case bytes.HasPrefix(b, []byte(prefixMSC4388)):
		r.b = b[len(prefixMSC4388):]
		if t := r.byte(); t != typeMSC4388 {
			return nil, fmt.Errorf("qrlogin: QR code data: MSC4388 type 0x%02x, want 0x03: %w", t, ErrBadQRCode)
		}
		q.format = FormatMSC4388
		switch r.byte() {
		case 0x00:
			q.intent = IntentLogin
		case 0x01:
			q.intent = IntentReciprocate
		default:
			return nil, fmt.Errorf("qrlogin: QR code data: unknown MSC4388 intent: %w", ErrBadQRCode)
		}
		q.key = r.key()
		q.rendezvousID = r.string()
		q.baseURL = r.string()
	default:
		return nil, fmt.Errorf("qrlogin: QR code data: unknown prefix: %w", ErrBadQRCode)
	}
	if r.short {
		return nil, fmt.Errorf("qrlogin: QR code data: truncated: %w", ErrBadQRCode)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("qrlogin: QR code data: %d trailing bytes: %w", len(r.b), ErrBadQRCode)
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	return q, nil
}

// ParseQRCodeDataBase64 decodes QR code data from unpadded base64 (Element's
// QrCodeData.fromBase64, a form for logs and tests).
func ParseQRCodeDataBase64(s string) (*QRCodeData, error) {
	if len(s) > b64.EncodedLen(MaxQRCodeDataSize) {
		return nil, fmt.Errorf("qrlogin: QR code data of %d base64 characters: %w", len(s), ErrMessageTooLarge)
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("qrlogin: QR code data is not unpadded base64: %w", ErrBadQRCode)
	}
	return ParseQRCodeData(b)
}

// qrReader reads big-endian fields, noting when the input runs out.
type qrReader struct {
	b     []byte
	short bool
}

func (r *qrReader) take(n int) []byte {
	if r.short || len(r.b) < n {
		r.short = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *qrReader) byte() byte {
	b := r.take(1)
	if b == nil {
		return 0xff
	}
	return b[0]
}

func (r *qrReader) key() PublicKey {
	k, _ := NewPublicKey(r.take(KeySize))
	return k
}

func (r *qrReader) string() string {
	l := r.take(2)
	if l == nil {
		return ""
	}
	return string(r.take(int(binary.BigEndian.Uint16(l))))
}

// Bytes returns the binary content to put in the QR code.
func (q *QRCodeData) Bytes() []byte {
	var out []byte
	putString := func(s string) {
		out = binary.BigEndian.AppendUint16(out, uint16(len(s)))
		out = append(out, s...)
	}
	switch q.format {
	case FormatMSC4108:
		out = append(out, prefixMSC4108...)
		out = append(out, versionMSC4108)
		if q.intent == IntentReciprocate {
			out = append(out, 0x04)
		} else {
			out = append(out, 0x03)
		}
		out = append(out, q.key.b[:]...)
		putString(q.rendezvousURL)
		if q.intent == IntentReciprocate {
			putString(q.serverName)
		}
	case FormatMSC4388:
		out = append(out, prefixMSC4388...)
		out = append(out, typeMSC4388)
		if q.intent == IntentReciprocate {
			out = append(out, 0x01)
		} else {
			out = append(out, 0x00)
		}
		out = append(out, q.key.b[:]...)
		putString(q.rendezvousID)
		putString(q.baseURL)
	}
	return out
}

// String returns Bytes in unpadded base64 (Element's toBase64).
func (q *QRCodeData) String() string { return b64.Encode(q.Bytes()) }

// Format returns the layout the data was read or built in.
func (q *QRCodeData) Format() Format { return q.format }

// Intent returns which device shows the QR code.
func (q *QRCodeData) Intent() Intent { return q.intent }

// PublicKey returns the key to open the channel to: ECIES
// (EstablishOutbound) for MSC4108, HPKE (EstablishHPKESender) for MSC4388.
func (q *QRCodeData) PublicKey() PublicKey { return q.key }

// RendezvousURL returns the MSC4108 rendezvous session URL ("" for MSC4388).
func (q *QRCodeData) RendezvousURL() string { return q.rendezvousURL }

// ServerName returns the homeserver of an MSC4108 reciprocate code ("" otherwise).
func (q *QRCodeData) ServerName() string { return q.serverName }

// RendezvousID returns the MSC4388 rendezvous session ID ("" for MSC4108).
func (q *QRCodeData) RendezvousID() string { return q.rendezvousID }

// BaseURL returns the MSC4388 homeserver base URL ("" for MSC4108).
func (q *QRCodeData) BaseURL() string { return q.baseURL }
