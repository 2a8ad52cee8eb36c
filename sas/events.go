package sas

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/canonicaljson"
)

// Event types of the key verification framework.
const (
	EventRequest = "m.key.verification.request"
	EventReady   = "m.key.verification.ready"
	EventStart   = "m.key.verification.start"
	EventAccept  = "m.key.verification.accept"
	EventKey     = "m.key.verification.key"
	EventMAC     = "m.key.verification.mac"
	EventDone    = "m.key.verification.done"
	EventCancel  = "m.key.verification.cancel"
	// EventRoomMessage is the type of an in-room request, which has
	// msgtype EventRequest.
	EventRoomMessage = "m.room.message"
)

// Verification methods, as listed in methods and method.
const (
	MethodSAS         = "m.sas.v1"
	MethodQRShow      = "m.qr_code.show.v1"
	MethodQRScan      = "m.qr_code.scan.v1"
	MethodReciprocate = "m.reciprocate.v1"
)

// Parameters of m.sas.v1 other than the MAC methods.
const (
	// KeyAgreementCurve25519HKDFSHA256 is the key agreement protocol this
	// package speaks. The deprecated "curve25519" is not offered or
	// accepted.
	KeyAgreementCurve25519HKDFSHA256 = "curve25519-hkdf-sha256"
	// HashSHA256 is the commitment hash.
	HashSHA256 = "sha256"
	// SASDecimal and SASEmoji are the short authentication string methods.
	SASDecimal = "decimal"
	SASEmoji   = "emoji"
)

// CancelCode is the code of m.key.verification.cancel.
type CancelCode string

// The cancel codes of the specification.
const (
	CancelUser                 CancelCode = "m.user"
	CancelTimeout              CancelCode = "m.timeout"
	CancelUnknownTransaction   CancelCode = "m.unknown_transaction"
	CancelUnknownMethod        CancelCode = "m.unknown_method"
	CancelUnexpectedMessage    CancelCode = "m.unexpected_message"
	CancelKeyMismatch          CancelCode = "m.key_mismatch"
	CancelUserMismatch         CancelCode = "m.user_mismatch"
	CancelInvalidMessage       CancelCode = "m.invalid_message"
	CancelAccepted             CancelCode = "m.accepted"
	CancelMismatchedCommitment CancelCode = "m.mismatched_commitment"
	CancelMismatchedSAS        CancelCode = "m.mismatched_sas"
)

// MaxEventSize bounds the content of a verification event this package
// parses. The specification limits a whole event to 65,536 bytes.
const MaxEventSize = 64 << 10

// Event is a verification event as the transport carries it, in either
// direction.
//
// An incoming to-device event sets Type, Content and Sender, and
// SenderDevice when the event was Olm-decrypted and the sending device is
// therefore known. An incoming room event sets Type, Content, Sender,
// RoomID, EventID and OriginServerTS. An outgoing event has Type and
// Content, and either ToUser and ToDevice (send to-device) or RoomID (send
// in that room).
type Event struct {
	Type    string
	Content json.RawMessage

	Sender         string
	SenderDevice   string
	RoomID         string
	EventID        string
	OriginServerTS int64

	ToUser   string
	ToDevice string
}

// RelatesTo is the m.relates_to of an in-room verification event: an
// m.reference to the request event.
type RelatesTo struct {
	RelType string `json:"rel_type"`
	EventID string `json:"event_id"`
}

// RequestContent is the content of m.key.verification.request (to-device)
// or of an m.room.message with msgtype m.key.verification.request.
type RequestContent struct {
	FromDevice    string   `json:"from_device"`
	Methods       []string `json:"methods"`
	TransactionID string   `json:"transaction_id,omitempty"`
	Timestamp     int64    `json:"timestamp,omitempty"`
	// In-room only.
	MsgType string `json:"msgtype,omitempty"`
	Body    string `json:"body,omitempty"`
	To      string `json:"to,omitempty"`
}

// ReadyContent is the content of m.key.verification.ready.
type ReadyContent struct {
	FromDevice    string     `json:"from_device"`
	Methods       []string   `json:"methods"`
	TransactionID string     `json:"transaction_id,omitempty"`
	RelatesTo     *RelatesTo `json:"m.relates_to,omitempty"`
}

// StartContent is the content of m.key.verification.start with method
// m.sas.v1 or m.reciprocate.v1. The field set is exactly what the
// specification defines, because the commitment covers the canonical JSON
// of the content and some implementations recompute it from their own
// typed copy.
type StartContent struct {
	FromDevice    string     `json:"from_device"`
	Method        string     `json:"method"`
	TransactionID string     `json:"transaction_id,omitempty"`
	RelatesTo     *RelatesTo `json:"m.relates_to,omitempty"`
	// m.sas.v1 only.
	KeyAgreementProtocols      []string `json:"key_agreement_protocols,omitempty"`
	Hashes                     []string `json:"hashes,omitempty"`
	MessageAuthenticationCodes []string `json:"message_authentication_codes,omitempty"`
	ShortAuthenticationString  []string `json:"short_authentication_string,omitempty"`
	// m.reciprocate.v1 only: the QR code's shared secret, unpadded base64.
	Secret string `json:"secret,omitempty"`
}

// AcceptContent is the content of m.key.verification.accept.
type AcceptContent struct {
	TransactionID             string     `json:"transaction_id,omitempty"`
	RelatesTo                 *RelatesTo `json:"m.relates_to,omitempty"`
	Method                    string     `json:"method,omitempty"`
	KeyAgreementProtocol      string     `json:"key_agreement_protocol"`
	Hash                      string     `json:"hash"`
	MessageAuthenticationCode string     `json:"message_authentication_code"`
	ShortAuthenticationString []string   `json:"short_authentication_string"`
	Commitment                string     `json:"commitment"`
}

// KeyContent is the content of m.key.verification.key.
type KeyContent struct {
	TransactionID string     `json:"transaction_id,omitempty"`
	RelatesTo     *RelatesTo `json:"m.relates_to,omitempty"`
	Key           string     `json:"key"`
}

// MACContent is the content of m.key.verification.mac.
type MACContent struct {
	TransactionID string            `json:"transaction_id,omitempty"`
	RelatesTo     *RelatesTo        `json:"m.relates_to,omitempty"`
	MAC           map[string]string `json:"mac"`
	Keys          string            `json:"keys"`
}

// DoneContent is the content of m.key.verification.done.
type DoneContent struct {
	TransactionID string     `json:"transaction_id,omitempty"`
	RelatesTo     *RelatesTo `json:"m.relates_to,omitempty"`
}

// CancelContent is the content of m.key.verification.cancel.
type CancelContent struct {
	TransactionID string     `json:"transaction_id,omitempty"`
	RelatesTo     *RelatesTo `json:"m.relates_to,omitempty"`
	Code          CancelCode `json:"code"`
	Reason        string     `json:"reason"`
}

// ParseContent decodes and checks the content of a verification event of
// the given type (one of the Event* constants; for EventRoomMessage the
// content must have msgtype m.key.verification.request). It returns a
// *RequestContent, *ReadyContent, *StartContent, *AcceptContent,
// *KeyContent, *MACContent, *DoneContent or *CancelContent.
//
// It checks what the specification requires: the required fields are
// present with their types, the content names its flow (a non-empty
// transaction_id, or an m.reference in m.relates_to), keys, commitments
// and MACs are base64, and a start names the fields of its method. The
// error wraps ErrInvalidEvent, ErrEventTooLarge, or ErrUnknownMethod for a
// start with a method other than m.sas.v1 and m.reciprocate.v1. Unknown
// fields are ignored.
func ParseContent(eventType string, content []byte) (any, error) {
	if len(content) > MaxEventSize {
		return nil, fmt.Errorf("sas: parse %s: %d bytes: %w", eventType, len(content), ErrEventTooLarge)
	}
	c, err := parseContent(eventType, content)
	if err != nil {
		return nil, fmt.Errorf("sas: parse %s: %w", eventType, err)
	}
	return c, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
}

// decodeStrict unmarshals an object, refusing anything but a JSON object
// and JSON with trailing data.
func decodeStrict(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return invalid("content is not a JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// checkFlow checks that a non-request content names its flow in exactly
// one way.
func checkFlow(txn string, rel *RelatesTo) error {
	if rel != nil {
		if txn != "" {
			return invalid("both transaction_id and m.relates_to")
		}
		if rel.RelType != "m.reference" || rel.EventID == "" {
			return invalid("m.relates_to is not an m.reference to an event")
		}
		return nil
	}
	if txn == "" {
		return invalid("missing transaction_id")
	}
	return nil
}

// fields reports which of the named top-level fields are present.
func fields(data []byte, names ...string) (map[string]bool, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, invalid("%v", err)
	}
	present := make(map[string]bool, len(names))
	for _, n := range names {
		v, ok := m[n]
		present[n] = ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
	}
	return present, nil
}

func require(data []byte, names ...string) error {
	present, err := fields(data, names...)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !present[n] {
			return invalid("missing %s", n)
		}
	}
	return nil
}

func parseContent(eventType string, data []byte) (any, error) {
	switch eventType {
	case EventRequest, EventRoomMessage:
		var c RequestContent
		if err := decodeStrict(data, &c); err != nil {
			return nil, err
		}
		if err := require(data, "from_device", "methods"); err != nil {
			return nil, err
		}
		if c.FromDevice == "" {
			return nil, invalid("empty from_device")
		}
		if eventType == EventRoomMessage {
			if c.MsgType != EventRequest {
				return nil, invalid("msgtype %q is not %s", c.MsgType, EventRequest)
			}
			if c.To == "" {
				return nil, invalid("missing to")
			}
			return &c, nil
		}
		if c.TransactionID == "" {
			return nil, invalid("missing transaction_id")
		}
		if err := require(data, "timestamp"); err != nil {
			return nil, err
		}
		return &c, nil
	case EventReady:
		var c ReadyContent
		if err := decodeStrict(data, &c); err != nil {
			return nil, err
		}
		if err := require(data, "from_device", "methods"); err != nil {
			return nil, err
		}
		if c.FromDevice == "" {
			return nil, invalid("empty from_device")
		}
		return &c, checkFlow(c.TransactionID, c.RelatesTo)
	case EventStart:
		var c StartContent
		if err := decodeStrict(data, &c); err != nil {
			return nil, err
		}
		if err := require(data, "from_device", "method"); err != nil {
			return nil, err
		}
		if err := checkFlow(c.TransactionID, c.RelatesTo); err != nil {
			return nil, err
		}
		if c.FromDevice == "" {
			return nil, invalid("empty from_device")
		}
		switch c.Method {
		case MethodSAS:
			if err := require(data, "key_agreement_protocols", "hashes", "message_authentication_codes", "short_authentication_string"); err != nil {
				return nil, err
			}
			// The commitment covers the canonical JSON of this content,
			// so it must have one (no floats, no duplicate keys).
			if _, err := canonicaljson.Canonicalize(data); err != nil {
				return nil, invalid("no canonical JSON: %v", err)
			}
		case MethodReciprocate:
			if err := require(data, "secret"); err != nil {
				return nil, err
			}
			if _, err := b64.Decode(c.Secret); err != nil {
				return nil, invalid("secret: %v", err)
			}
		default:
			return &c, fmt.Errorf("%w: start method %q", ErrUnknownMethod, c.Method)
		}
		return &c, nil
	case EventAccept:
		var c AcceptContent
		if err := decodeStrict(data, &c); err != nil {
			return nil, err
		}
		if err := require(data, "key_agreement_protocol", "hash", "message_authentication_code", "short_authentication_string", "commitment"); err != nil {
			return nil, err
		}
		if b, err := b64.Decode(c.Commitment); err != nil || len(b) != 32 {
			return nil, invalid("commitment is not 32 bytes of base64")
		}
		return &c, checkFlow(c.TransactionID, c.RelatesTo)
	case EventKey:
		var c KeyContent
		if err := decodeStrict(data, &c); err != nil {
			return nil, err
		}
		if _, err := ParsePublicKey(c.Key); err != nil {
			return nil, invalid("key: %v", err)
		}
		return &c, checkFlow(c.TransactionID, c.RelatesTo)
	case EventMAC:
		var c MACContent
		if err := decodeStrict(data, &c); err != nil {
			return nil, err
		}
		if err := require(data, "mac", "keys"); err != nil {
			return nil, err
		}
		return &c, checkFlow(c.TransactionID, c.RelatesTo)
	case EventDone:
		var c DoneContent
		if err := decodeStrict(data, &c); err != nil {
			return nil, err
		}
		return &c, checkFlow(c.TransactionID, c.RelatesTo)
	case EventCancel:
		var c CancelContent
		if err := decodeStrict(data, &c); err != nil {
			return nil, err
		}
		if c.Code == "" {
			return nil, invalid("missing code")
		}
		return &c, checkFlow(c.TransactionID, c.RelatesTo)
	}
	return nil, invalid("unknown event type %q", eventType)
}

// flowSetter is implemented by the contents that name their flow.
type flowSetter interface {
	setFlow(txn string, rel *RelatesTo)
}

func (c *ReadyContent) setFlow(t string, r *RelatesTo)  { c.TransactionID, c.RelatesTo = t, r }
func (c *StartContent) setFlow(t string, r *RelatesTo)  { c.TransactionID, c.RelatesTo = t, r }
func (c *AcceptContent) setFlow(t string, r *RelatesTo) { c.TransactionID, c.RelatesTo = t, r }
func (c *KeyContent) setFlow(t string, r *RelatesTo)    { c.TransactionID, c.RelatesTo = t, r }
func (c *MACContent) setFlow(t string, r *RelatesTo)    { c.TransactionID, c.RelatesTo = t, r }
func (c *DoneContent) setFlow(t string, r *RelatesTo)   { c.TransactionID, c.RelatesTo = t, r }
func (c *CancelContent) setFlow(t string, r *RelatesTo) { c.TransactionID, c.RelatesTo = t, r }

// peekFlow extracts the flow ID and from_device of a content that may be
// malformed, so that a bad event can still be answered in its flow.
func peekFlow(data []byte) (id, fromDevice string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return "", ""
	}
	str := func(raw json.RawMessage) string {
		var s string
		json.Unmarshal(raw, &s) // "" unless a JSON string
		return s
	}
	fromDevice = str(m["from_device"])
	if rel, ok := m["m.relates_to"]; ok {
		var r map[string]json.RawMessage
		json.Unmarshal(rel, &r)
		return str(r["event_id"]), fromDevice
	}
	return str(m["transaction_id"]), fromDevice
}
