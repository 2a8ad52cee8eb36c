package vectors

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/x25519"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// Do performs one operation with the library.
func (n native) Do(op string, args json.RawMessage) (json.RawMessage, error) {
	h, ok := nativeOps[op]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, op)
	}
	res, err := h(n, args)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFault, err)
	}
	return out, nil
}

// nativeOps maps each operation to its handler.
var nativeOps = map[string]func(native, json.RawMessage) (any, error){
	"base64.encode":       op(nativeBase64Encode),
	"base64.decode":       op(nativeBase64Decode),
	"json.canonicalize":   op(nativeCanonicalize),
	"json.sign":           op2(native.jsonSign),
	"json.verify":         op(nativeJSONVerify),
	"ed25519.verify":      op(nativeEd25519Verify),
	"x25519":              op(nativeX25519),
	"cipher.encrypt":      op(nativeCipherEncrypt),
	"cipher.decrypt":      op(nativeCipherDecrypt),
	"olm.account":         op(nativeOlmAccount),
	"olm.session":         op(nativeOlmSession),
	"olm.inbound_session": op(nativeOlmInbound),
	"olm.encrypt":         op(nativeOlmEncrypt),
	"olm.decrypt":         op(nativeOlmDecrypt),
	"megolm.session_key":  op(nativeMegolmSessionKey),
	"megolm.export":       op(nativeMegolmExport),
	"megolm.decrypt":      op(nativeMegolmDecrypt),
	"megolm.inbound":      op(nativeMegolmInbound),
	"megolm.outbound":     op(nativeMegolmOutbound),
	"megolm.encrypt":      op(nativeMegolmEncrypt),
}

// op adapts a handler taking decoded arguments. Arguments that do not
// decode are a fault, not a failed operation: a must-fail vector must not
// pass because its test data is unreadable.
func op[A any](f func(A) (any, error)) func(native, json.RawMessage) (any, error) {
	return op2(func(_ native, a A) (any, error) { return f(a) })
}

func op2[A any](f func(native, A) (any, error)) func(native, json.RawMessage) (any, error) {
	return func(n native, raw json.RawMessage) (any, error) {
		var a A
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			return nil, fmt.Errorf("%w: bad arguments: %v", ErrFault, err)
		}
		return f(n, a)
	}
}

// hexBytes is a byte string written in lowercase hex in the protocol.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = d
	return nil
}

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func nativeBase64Encode(a struct {
	Bytes hexBytes `json:"bytes_hex"`
}) (any, error) {
	return map[string]string{"base64": b64.Encode(a.Bytes)}, nil
}

func nativeBase64Decode(a struct {
	Base64 string `json:"base64"`
}) (any, error) {
	b, err := b64.Decode(a.Base64)
	if err != nil {
		return nil, err
	}
	return map[string]hexBytes{"bytes_hex": b}, nil
}

func nativeCanonicalize(a struct {
	JSONText string `json:"json_text"`
}) (any, error) {
	out, err := canonicaljson.Canonicalize([]byte(a.JSONText))
	if err != nil {
		return nil, err
	}
	return map[string]string{"canonical_json": string(out)}, nil
}

func (n native) jsonSign(a struct {
	Seed     hexBytes `json:"seed_hex"`
	Entity   string   `json:"entity"`
	KeyID    string   `json:"key_id"`
	JSONText string   `json:"json_text"`
}) (any, error) {
	out, err := n.SignJSON(a.Seed, a.Entity, a.KeyID, []byte(a.JSONText))
	if err != nil {
		return nil, err
	}
	return map[string]json.RawMessage{"signed_json": out}, nil
}

func nativeJSONVerify(a struct {
	PublicKey string `json:"public_key"`
	Entity    string `json:"entity"`
	KeyID     string `json:"key_id"`
	JSONText  string `json:"json_text"`
}) (any, error) {
	pub, err := olm.ParseEd25519PublicKey(a.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := signedjson.Verify([]byte(a.JSONText), a.Entity, a.KeyID, ed25519.PublicKey(pub.Bytes())); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func nativeEd25519Verify(a struct {
	PublicKey string   `json:"public_key"`
	Message   hexBytes `json:"message_hex"`
	Signature string   `json:"signature"`
}) (any, error) {
	pub, err := olm.ParseEd25519PublicKey(a.PublicKey)
	if err != nil {
		return nil, err
	}
	sig, err := olm.ParseEd25519Signature(a.Signature)
	if err != nil {
		return nil, err
	}
	if err := pub.Verify(a.Message, sig); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func nativeX25519(a struct {
	Private hexBytes `json:"private_key_hex"`
	Their   string   `json:"their_public_key"`
}) (any, error) {
	if len(a.Private) != x25519.Size {
		return nil, fmt.Errorf("private key of %d bytes", len(a.Private))
	}
	their, err := olm.ParseCurve25519PublicKey(a.Their)
	if err != nil {
		return nil, err
	}
	priv := [x25519.Size]byte(a.Private)
	theirs := [x25519.Size]byte(their)
	pub := x25519.PublicKey(&priv)
	shared, err := x25519.SharedSecret(&priv, &theirs)
	if err != nil {
		return nil, err
	}
	return map[string]any{"public_key": b64.Encode(pub[:]), "shared_secret_hex": hexBytes(shared[:])}, nil
}

func nativeCipherEncrypt(a struct {
	Secret    hexBytes `json:"secret_hex"`
	Info      string   `json:"info"`
	Plaintext hexBytes `json:"plaintext_hex"`
}) (any, error) {
	k := cipher.Derive(a.Secret, a.Info)
	defer k.Clear()
	ct := k.Encrypt(nil, a.Plaintext)
	mac := k.MAC(ct)
	return map[string]hexBytes{"ciphertext_hex": ct, "mac_hex": mac[:]}, nil
}

func nativeCipherDecrypt(a struct {
	Secret     hexBytes `json:"secret_hex"`
	Info       string   `json:"info"`
	Ciphertext hexBytes `json:"ciphertext_hex"`
	MAC        hexBytes `json:"mac_hex"`
}) (any, error) {
	k := cipher.Derive(a.Secret, a.Info)
	defer k.Clear()
	if !k.VerifyMAC(a.Ciphertext, a.MAC) {
		return nil, errors.New("bad MAC")
	}
	pt, err := k.Decrypt(a.Ciphertext)
	if err != nil {
		return nil, err
	}
	return map[string]hexBytes{"plaintext_hex": pt}, nil
}

func nativeOlmAccount(a struct {
	Pickle    string   `json:"pickle"`
	PickleKey string   `json:"pickle_key"`
	Message   hexBytes `json:"message_hex"`
}) (any, error) {
	acc, err := olm.UnpickleLibolmAccount(a.Pickle, []byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	curve, ed := acc.IdentityKeys()
	otks := map[string]string{}
	for id, k := range acc.OneTimeKeys() {
		otks[id.String()] = k.String()
	}
	fallback := map[string]string{}
	if id, k, ok := acc.FallbackKey(); ok {
		fallback[id.String()] = k.String()
	}
	return map[string]any{
		"curve25519":    curve.String(),
		"ed25519":       ed.String(),
		"one_time_keys": otks,
		"fallback_key":  fallback,
		"signature":     acc.Sign(a.Message).String(),
	}, nil
}

func nativeOlmSession(a struct {
	Pickle    string `json:"pickle"`
	PickleKey string `json:"pickle_key"`
}) (any, error) {
	s, err := olm.UnpickleLibolmSession(a.Pickle, []byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	return map[string]any{"session_id": s.SessionID(), "has_received_message": s.HasReceivedMessage()}, nil
}

// decodeOlmMessage decodes the base64 body of an Olm message of type t.
func decodeOlmMessage(t int, body string) (olm.Message, error) {
	b, err := b64.Decode(body)
	if err != nil {
		return nil, err
	}
	return olm.ParseMessage(olm.MessageType(t), b)
}

func nativeOlmInbound(a struct {
	AccountPickle    string `json:"account_pickle"`
	PickleKey        string `json:"pickle_key"`
	TheirIdentityKey string `json:"their_identity_key"`
	Message          string `json:"message"`
}) (any, error) {
	acc, err := olm.UnpickleLibolmAccount(a.AccountPickle, []byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	m, err := decodeOlmMessage(int(olm.MessageTypePreKey), a.Message)
	if err != nil {
		return nil, err
	}
	pre := m.(*olm.PreKeyMessage)
	their := pre.IdentityKey()
	if a.TheirIdentityKey != "" {
		if their, err = olm.ParseCurve25519PublicKey(a.TheirIdentityKey); err != nil {
			return nil, err
		}
	}
	s, pt, err := acc.NewInboundSession(their, pre)
	if err != nil {
		return nil, err
	}
	p, err := s.PickleLibolm([]byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	return map[string]any{"session_id": s.SessionID(), "plaintext_hex": hexBytes(pt), "session_pickle": p}, nil
}

func nativeOlmEncrypt(a struct {
	SessionPickle string   `json:"session_pickle"`
	PickleKey     string   `json:"pickle_key"`
	Plaintext     hexBytes `json:"plaintext_hex"`
}) (any, error) {
	s, err := olm.UnpickleLibolmSession(a.SessionPickle, []byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	m, err := s.Encrypt(a.Plaintext)
	if err != nil {
		return nil, err
	}
	return map[string]any{"message_type": int(m.Type()), "message": b64.Encode(m.Bytes())}, nil
}

func nativeOlmDecrypt(a struct {
	SessionPickle string `json:"session_pickle"`
	PickleKey     string `json:"pickle_key"`
	MessageType   int    `json:"message_type"`
	Message       string `json:"message"`
}) (any, error) {
	s, err := olm.UnpickleLibolmSession(a.SessionPickle, []byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	m, err := decodeOlmMessage(a.MessageType, a.Message)
	if err != nil {
		return nil, err
	}
	pt, err := s.Decrypt(m)
	if err != nil {
		return nil, err
	}
	return map[string]hexBytes{"plaintext_hex": pt}, nil
}

// megolmKeyArgs name an inbound Megolm session by exactly one of a signed
// session key (m.room_key) or an exported one (m.forwarded_room_key).
type megolmKeyArgs struct {
	SessionKey         *string `json:"session_key"`
	ExportedSessionKey *string `json:"exported_session_key"`
}

func (a megolmKeyArgs) session() (*megolm.InboundGroupSession, error) {
	switch {
	case (a.SessionKey == nil) == (a.ExportedSessionKey == nil):
		return nil, fmt.Errorf("%w: want exactly one of session_key and exported_session_key", ErrFault)
	case a.SessionKey != nil:
		k, err := megolm.ParseSessionKey(*a.SessionKey)
		if err != nil {
			return nil, err
		}
		return megolm.NewInboundGroupSession(k)
	default:
		k, err := megolm.ParseExportedSessionKey(*a.ExportedSessionKey)
		if err != nil {
			return nil, err
		}
		return megolm.ImportInboundGroupSession(k)
	}
}

func nativeMegolmSessionKey(a megolmKeyArgs) (any, error) {
	s, err := a.session()
	if err != nil {
		return nil, err
	}
	return map[string]any{"session_id": s.SessionID(), "first_known_index": s.FirstKnownIndex()}, nil
}

func nativeMegolmExport(a struct {
	megolmKeyArgs
	Index uint32 `json:"index"`
}) (any, error) {
	s, err := a.session()
	if err != nil {
		return nil, err
	}
	k, err := s.ExportAt(a.Index)
	if err != nil {
		return nil, err
	}
	return map[string]string{"exported_session_key": k.Encode()}, nil
}

func nativeMegolmDecrypt(a struct {
	megolmKeyArgs
	Message string `json:"message"`
}) (any, error) {
	s, err := a.session()
	if err != nil {
		return nil, err
	}
	b, err := b64.Decode(a.Message)
	if err != nil {
		return nil, err
	}
	pt, i, err := s.Decrypt(b)
	if err != nil {
		return nil, err
	}
	return map[string]any{"plaintext_hex": hexBytes(pt), "message_index": i}, nil
}

func nativeMegolmInbound(a struct {
	Pickle    string `json:"pickle"`
	PickleKey string `json:"pickle_key"`
}) (any, error) {
	s, err := megolm.UnpickleLibolmInboundGroupSession(a.Pickle, []byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"session_id":           s.SessionID(),
		"first_known_index":    s.FirstKnownIndex(),
		"exported_session_key": s.Export().Encode(),
	}, nil
}

func nativeMegolmOutbound(a struct {
	Pickle    string `json:"pickle"`
	PickleKey string `json:"pickle_key"`
}) (any, error) {
	s, err := megolm.UnpickleLibolmGroupSession(a.Pickle, []byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"session_id":    s.SessionID(),
		"message_index": s.MessageIndex(),
		"session_key":   s.SessionKey().Encode(),
	}, nil
}

func nativeMegolmEncrypt(a struct {
	Pickle    string   `json:"pickle"`
	PickleKey string   `json:"pickle_key"`
	Plaintext hexBytes `json:"plaintext_hex"`
}) (any, error) {
	s, err := megolm.UnpickleLibolmGroupSession(a.Pickle, []byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	m, err := s.Encrypt(a.Plaintext)
	if err != nil {
		return nil, err
	}
	return map[string]string{"message": b64.Encode(m)}, nil
}
