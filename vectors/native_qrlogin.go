package vectors

import (
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/qrlogin"
)

// The qrlogin family's operations (QR-login secure channels, MSC4108 and
// MSC4388), registered here so that the family lives in files of its own.
// README.md describes their arguments and results.
func init() {
	for _, op := range []string{"qrlogin.qr_decode", "qrlogin.qr_encode", "qrlogin.ecies", "qrlogin.hpke",
		"qrlogin.check_code", "qrlogin.verify_check_code"} {
		operations[op] = struct {
			derive func(args, result map[string]json.RawMessage) error
		}{}
	}
	nativeOps["qrlogin.qr_decode"] = op(nativeQRDecode)
	nativeOps["qrlogin.qr_encode"] = op(nativeQREncode)
	nativeOps["qrlogin.ecies"] = op2(native.qrECIES)
	nativeOps["qrlogin.hpke"] = op2(native.qrHPKE)
	nativeOps["qrlogin.check_code"] = op(nativeCheckCode)
	nativeOps["qrlogin.verify_check_code"] = op(nativeVerifyCheckCode)
}

// qrFields are the fields of QR code data, as arguments and results.
type qrFields struct {
	Format        string `json:"format"`
	Intent        string `json:"intent"`
	PublicKey     string `json:"public_key"`
	RendezvousURL string `json:"rendezvous_url,omitempty"`
	ServerName    string `json:"server_name,omitempty"`
	RendezvousID  string `json:"rendezvous_id,omitempty"`
	BaseURL       string `json:"base_url,omitempty"`
}

func nativeQRDecode(a struct {
	Bytes hexBytes `json:"bytes_hex"`
}) (any, error) {
	q, err := qrlogin.ParseQRCodeData(a.Bytes)
	if err != nil {
		return nil, err
	}
	return struct {
		qrFields
		Bytes hexBytes `json:"bytes_hex"`
	}{qrFields{
		Format: q.Format().String(), Intent: q.Intent().String(), PublicKey: q.PublicKey().String(),
		RendezvousURL: q.RendezvousURL(), ServerName: q.ServerName(), RendezvousID: q.RendezvousID(), BaseURL: q.BaseURL(),
	}, q.Bytes()}, nil
}

func nativeQREncode(a qrFields) (any, error) {
	key, err := qrlogin.ParsePublicKey(a.PublicKey)
	if err != nil {
		return nil, err
	}
	var intent qrlogin.Intent
	switch a.Intent {
	case "login":
		intent = qrlogin.IntentLogin
	case "reciprocate":
		intent = qrlogin.IntentReciprocate
	default:
		return nil, fmt.Errorf("%w: bad arguments: intent %q", ErrFault, a.Intent)
	}
	var q *qrlogin.QRCodeData
	switch a.Format {
	case "MSC4108":
		q, err = qrlogin.NewQRCodeDataMSC4108(key, intent, a.RendezvousURL, a.ServerName)
	case "MSC4388":
		q, err = qrlogin.NewQRCodeDataMSC4388(key, intent, a.RendezvousID, a.BaseURL)
	default:
		return nil, fmt.Errorf("%w: bad arguments: format %q", ErrFault, a.Format)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"bytes_hex": hexBytes(q.Bytes())}, nil
}

// channelStep is one step after the handshake: encrypt (seal) a plaintext
// or decrypt (open) a message, with associated data for HPKE.
type channelStep struct {
	Encrypt *hexBytes `json:"encrypt_hex,omitempty"`
	Decrypt *string   `json:"decrypt,omitempty"`
	AAD     hexBytes  `json:"aad_hex,omitempty"`
}

type stepOutput struct {
	Message   string    `json:"message,omitempty"`
	Plaintext *hexBytes `json:"plaintext_hex,omitempty"`
}

// runSteps performs the steps in order; the first failure fails the
// operation.
func runSteps(steps []channelStep, encrypt func(pt, aad []byte) (string, error), decrypt func(m string, aad []byte) ([]byte, error)) ([]stepOutput, error) {
	out := []stepOutput{}
	for i, s := range steps {
		switch {
		case s.Encrypt != nil && s.Decrypt == nil:
			m, err := encrypt(*s.Encrypt, s.AAD)
			if err != nil {
				return nil, fmt.Errorf("step %d: %w", i, err)
			}
			out = append(out, stepOutput{Message: m})
		case s.Decrypt != nil && s.Encrypt == nil:
			pt, err := decrypt(*s.Decrypt, s.AAD)
			if err != nil {
				return nil, fmt.Errorf("step %d: %w", i, err)
			}
			p := hexBytes(pt)
			out = append(out, stepOutput{Plaintext: &p})
		default:
			return nil, fmt.Errorf("%w: bad arguments: step %d needs exactly one of encrypt_hex and decrypt", ErrFault, i)
		}
	}
	return out, nil
}

func checkCodeHex(c qrlogin.CheckCode) string {
	b := c.Bytes()
	return hex.EncodeToString(b[:])
}

func (n native) qrECIES(a struct {
	Role             string        `json:"role"`
	PrivateKey       hexBytes      `json:"private_key_hex"`
	TheirPublicKey   string        `json:"their_public_key"`
	InitialPlaintext *hexBytes     `json:"initial_plaintext_hex"`
	InitialMessage   string        `json:"initial_message"`
	Steps            []channelStep `json:"steps"`
}) (any, error) {
	return n.withRandom("qrlogin.ecies", a.PrivateKey, func() (any, error) {
		e, err := qrlogin.GenerateECIES()
		if err != nil {
			return nil, err
		}
		res := map[string]any{"public_key": e.PublicKey().String()}
		var ch *qrlogin.ECIESChannel
		switch a.Role {
		case "initiator":
			theirs, err := qrlogin.ParsePublicKey(a.TheirPublicKey)
			if err != nil {
				return nil, err
			}
			if a.InitialPlaintext == nil {
				return nil, fmt.Errorf("%w: bad arguments: no initial_plaintext_hex", ErrFault)
			}
			c, first, err := e.EstablishOutbound(theirs, *a.InitialPlaintext)
			if err != nil {
				return nil, err
			}
			ch = c
			res["initial_message"] = first.String()
		case "recipient":
			m, err := qrlogin.ParseECIESInitialMessage(a.InitialMessage)
			if err != nil {
				return nil, err
			}
			c, pt, err := e.EstablishInbound(m)
			if err != nil {
				return nil, err
			}
			ch = c
			res["initial_plaintext_hex"] = hexBytes(pt)
		default:
			return nil, fmt.Errorf("%w: bad arguments: role %q", ErrFault, a.Role)
		}
		defer ch.Close()
		res["check_code_hex"] = checkCodeHex(ch.CheckCode())
		out, err := runSteps(a.Steps,
			func(pt, aad []byte) (string, error) {
				if len(aad) != 0 {
					return "", fmt.Errorf("%w: bad arguments: ECIES takes no associated data", ErrFault)
				}
				m, err := ch.Encrypt(pt)
				if err != nil {
					return "", err
				}
				return m.String(), nil
			},
			func(s string, aad []byte) ([]byte, error) {
				if len(aad) != 0 {
					return nil, fmt.Errorf("%w: bad arguments: ECIES takes no associated data", ErrFault)
				}
				m, err := qrlogin.ParseECIESMessage(s)
				if err != nil {
					return nil, err
				}
				return ch.Decrypt(m)
			})
		if err != nil {
			return nil, err
		}
		res["outputs"] = out
		return res, nil
	})
}

func (n native) qrHPKE(a struct {
	Role              string        `json:"role"`
	EphemeralKey      hexBytes      `json:"ephemeral_private_key_hex"`
	PrivateKey        hexBytes      `json:"private_key_hex"`
	ResponseNonce     hexBytes      `json:"response_nonce_hex"`
	TheirPublicKey    string        `json:"their_public_key"`
	InitialPlaintext  *hexBytes     `json:"initial_plaintext_hex"`
	InitialMessage    string        `json:"initial_message"`
	ResponsePlaintext *hexBytes     `json:"response_plaintext_hex"`
	InitialResponse   string        `json:"initial_response"`
	AAD               hexBytes      `json:"aad_hex"`
	Steps             []channelStep `json:"steps"`
}) (any, error) {
	var random []byte
	switch a.Role {
	case "sender":
		random = a.EphemeralKey
	case "recipient":
		random = append(append([]byte(nil), a.PrivateKey...), a.ResponseNonce...)
	default:
		return nil, fmt.Errorf("%w: bad arguments: role %q", ErrFault, a.Role)
	}
	return n.withRandom("qrlogin.hpke", random, func() (any, error) {
		res := map[string]any{}
		var ch *qrlogin.HPKEChannel
		if a.Role == "sender" {
			theirs, err := qrlogin.ParsePublicKey(a.TheirPublicKey)
			if err != nil {
				return nil, err
			}
			if a.InitialPlaintext == nil {
				return nil, fmt.Errorf("%w: bad arguments: no initial_plaintext_hex", ErrFault)
			}
			s, first, err := qrlogin.EstablishHPKESender(theirs, *a.InitialPlaintext, a.AAD)
			if err != nil {
				return nil, err
			}
			res["public_key"] = s.PublicKey().String()
			res["initial_message"] = first.String()
			r, err := qrlogin.ParseHPKEInitialResponse(a.InitialResponse)
			if err != nil {
				return nil, err
			}
			c, pt, err := s.Establish(r, a.AAD)
			if err != nil {
				return nil, err
			}
			ch = c
			res["response_plaintext_hex"] = hexBytes(pt)
		} else {
			r, err := qrlogin.GenerateHPKERecipient()
			if err != nil {
				return nil, err
			}
			res["public_key"] = r.PublicKey().String()
			m, err := qrlogin.ParseHPKEInitialMessage(a.InitialMessage)
			if err != nil {
				return nil, err
			}
			half, pt, err := r.Establish(m, a.AAD)
			if err != nil {
				return nil, err
			}
			res["initial_plaintext_hex"] = hexBytes(pt)
			if a.ResponsePlaintext == nil {
				return nil, fmt.Errorf("%w: bad arguments: no response_plaintext_hex", ErrFault)
			}
			c, resp, err := half.Respond(*a.ResponsePlaintext, a.AAD)
			if err != nil {
				return nil, err
			}
			ch = c
			res["initial_response"] = resp.String()
		}
		defer ch.Close()
		res["check_code_hex"] = checkCodeHex(ch.CheckCode())
		out, err := runSteps(a.Steps,
			func(pt, aad []byte) (string, error) {
				m, err := ch.Seal(pt, aad)
				if err != nil {
					return "", err
				}
				return m.String(), nil
			},
			func(s string, aad []byte) ([]byte, error) {
				m, err := qrlogin.ParseHPKEMessage(s)
				if err != nil {
					return nil, err
				}
				return ch.Open(m, aad)
			})
		if err != nil {
			return nil, err
		}
		res["outputs"] = out
		return res, nil
	})
}

func parseCheckCode(h hexBytes) (qrlogin.CheckCode, error) {
	if len(h) != 2 {
		return qrlogin.CheckCode{}, fmt.Errorf("%w: bad arguments: check code of %d bytes", ErrFault, len(h))
	}
	return qrlogin.NewCheckCode([2]byte(h)), nil
}

func nativeCheckCode(a struct {
	CheckCode hexBytes `json:"check_code_hex"`
}) (any, error) {
	c, err := parseCheckCode(a.CheckCode)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"digits":                 c.Digits(qrlogin.AllowLeadingZero),
		"digits_no_leading_zero": c.Digits(qrlogin.NoLeadingZero),
	}, nil
}

func nativeVerifyCheckCode(a struct {
	CheckCode hexBytes `json:"check_code_hex"`
	Entered   int      `json:"entered"`
	Mode      string   `json:"mode"`
}) (any, error) {
	c, err := parseCheckCode(a.CheckCode)
	if err != nil {
		return nil, err
	}
	var mode qrlogin.DigitMode
	switch a.Mode {
	case "allow_leading_zero":
		mode = qrlogin.AllowLeadingZero
	case "no_leading_zero":
		mode = qrlogin.NoLeadingZero
	default:
		return nil, fmt.Errorf("%w: bad arguments: mode %q", ErrFault, a.Mode)
	}
	if err := c.Verify(a.Entered, mode); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func init() {
	operations["qrlogin.decode_message"] = struct {
		derive func(args, result map[string]json.RawMessage) error
	}{}
	nativeOps["qrlogin.decode_message"] = op(nativeDecodeMessage)
}

// nativeDecodeMessage decodes one channel message of the given type and
// returns its fields and its text form re-encoded.
func nativeDecodeMessage(a struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}) (any, error) {
	res := map[string]any{}
	switch a.Type {
	case "ecies_initial":
		m, err := qrlogin.ParseECIESInitialMessage(a.Message)
		if err != nil {
			return nil, err
		}
		res["public_key"], res["ciphertext_hex"], res["message"] = m.PublicKey.String(), hexBytes(m.Ciphertext), m.String()
	case "ecies":
		m, err := qrlogin.ParseECIESMessage(a.Message)
		if err != nil {
			return nil, err
		}
		res["ciphertext_hex"], res["message"] = hexBytes(m.Ciphertext), m.String()
	case "hpke_initial":
		m, err := qrlogin.ParseHPKEInitialMessage(a.Message)
		if err != nil {
			return nil, err
		}
		res["public_key"], res["ciphertext_hex"], res["message"] = m.EncapsulatedKey.String(), hexBytes(m.Ciphertext), m.String()
	case "hpke_response":
		m, err := qrlogin.ParseHPKEInitialResponse(a.Message)
		if err != nil {
			return nil, err
		}
		res["response_nonce_hex"], res["ciphertext_hex"], res["message"] = hexBytes(m.ResponseNonce[:]), hexBytes(m.Ciphertext), m.String()
	case "hpke":
		m, err := qrlogin.ParseHPKEMessage(a.Message)
		if err != nil {
			return nil, err
		}
		res["ciphertext_hex"], res["message"] = hexBytes(m.Ciphertext), m.String()
	default:
		return nil, fmt.Errorf("%w: bad arguments: type %q", ErrFault, a.Type)
	}
	return res, nil
}
