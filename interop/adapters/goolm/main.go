// Command goolm is a souverain conformance adapter for goolm, the pure-Go
// Olm and Megolm of maunium.net/go/mautrix/crypto/goolm (the version the
// interop module pins, v0.33.0).
//
// It speaks the JSON-lines protocol of vectors/README.md on standard input
// and output, through vectors.Serve. Every operation goes through goolm's
// own packages (account, session, megolm, aessha2, crypto, goolmbase64);
// what goolm does not offer (canonical JSON, SAS, PK decryption, recovery
// keys, secret storage, key exports) is answered "unsupported", never
// reimplemented here.
//
// goolm draws its random input from crypto/rand; for an operation whose
// vector gives that input (an outbound session's base and ratchet keys)
// the adapter replaces crypto/rand.Reader for the length of the call.
// The adapter is a single-threaded program, so nothing else reads it then.
//
// Run it from the interop module:
//
//	go build -o /tmp/goolm-adapter ./adapters/goolm
//	souverain conformance -exec /tmp/goolm-adapter
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/crypto/goolm/aessha2"
	"maunium.net/go/mautrix/crypto/goolm/crypto"
	"maunium.net/go/mautrix/crypto/goolm/goolmbase64"
	"maunium.net/go/mautrix/crypto/goolm/session"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/vectors"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: goolm < requests > responses (see vectors/README.md)")
		os.Exit(2)
	}
	if err := vectors.Serve(impl{}, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "goolm adapter:", err)
		os.Exit(1)
	}
}

type impl struct{}

// missing says, per operation family, what goolm lacks.
var missing = map[string]string{
	"json":           "goolm has no canonical JSON or JSON signing",
	"sas":            "goolm has no SAS (mautrix keeps it outside goolm)",
	"pk":             "goolm has no PK encryption (mautrix's backup package is outside goolm)",
	"recovery_key":   "goolm has no recovery keys",
	"passphrase":     "goolm has no passphrase derivation",
	"secret_storage": "goolm has no secret storage",
	"key_export":     "goolm has no key export files",
	"qrlogin":        "goolm has no QR login: no ECIES or HPKE channel, no QR code data (vodozemac only)",
	"vodozemac":      "goolm reads no vodozemac pickles",
	"dehydrated":     "goolm has no dehydrated devices (MSC3814)",
}

func (impl) Do(op string, args json.RawMessage) (json.RawMessage, error) {
	h, ok := handlers[op]
	if !ok {
		reason := missing[strings.Split(op, ".")[0]]
		if reason == "" {
			reason = "goolm does not offer " + op
		}
		return nil, fmt.Errorf("%w: %s", vectors.ErrUnsupported, reason)
	}
	var a map[string]json.RawMessage
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, fmt.Errorf("%w: bad arguments: %v", vectors.ErrFault, err)
	}
	res, err := h(argReader(a))
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// argReader reads arguments; a missing or mistyped argument is a fault.
type argReader map[string]json.RawMessage

func (a argReader) has(name string) bool { _, ok := a[name]; return ok }

func (a argReader) str(name string) string {
	var s string
	if err := json.Unmarshal(a[name], &s); err != nil {
		panic(fmt.Sprintf("%v: argument %q is not a string", vectors.ErrFault, name))
	}
	return s
}

func (a argReader) hex(name string) []byte {
	b, err := hex.DecodeString(a.str(name))
	if err != nil {
		panic(fmt.Sprintf("%v: argument %q is not hex", vectors.ErrFault, name))
	}
	return b
}

func (a argReader) int(name string) int {
	var n int
	if err := json.Unmarshal(a[name], &n); err != nil {
		panic(fmt.Sprintf("%v: argument %q is not an integer", vectors.ErrFault, name))
	}
	return n
}

type obj = map[string]any

// withRandom runs f with crypto/rand.Reader giving exactly random.
func withRandom(random []byte, f func() (obj, error)) (obj, error) {
	saved := rand.Reader
	r := bytes.NewReader(random)
	rand.Reader = r
	defer func() { rand.Reader = saved }()
	res, err := f()
	if err == nil && r.Len() != 0 {
		return nil, fmt.Errorf("%w: goolm read %d of the %d random bytes", vectors.ErrFault, len(random)-r.Len(), len(random))
	}
	return res, err
}

var handlers = map[string]func(argReader) (obj, error){
	"base64.encode": func(a argReader) (obj, error) {
		return obj{"base64": string(goolmbase64.Encode(a.hex("bytes_hex")))}, nil
	},
	"base64.decode": func(a argReader) (obj, error) {
		b, err := goolmbase64.Decode([]byte(a.str("base64")))
		if err != nil {
			return nil, err
		}
		return obj{"bytes_hex": hex.EncodeToString(b)}, nil
	},
	"ed25519.verify": func(a argReader) (obj, error) {
		key, err := goolmbase64.Decode([]byte(a.str("public_key")))
		if err != nil {
			return nil, err
		}
		sig, err := goolmbase64.Decode([]byte(a.str("signature")))
		if err != nil {
			return nil, err
		}
		if len(key) != 32 {
			return nil, errors.New("public key is not 32 bytes")
		}
		if !crypto.Ed25519PublicKey(key).Verify(a.hex("message_hex"), sig) {
			return nil, errors.New("bad signature")
		}
		return obj{}, nil
	},
	"x25519": func(a argReader) (obj, error) {
		kp, err := crypto.Curve25519GenerateFromPrivate(crypto.Curve25519PrivateKey(a.hex("private_key_hex")))
		if err != nil {
			return nil, err
		}
		their, err := goolmbase64.Decode([]byte(a.str("their_public_key")))
		if err != nil {
			return nil, err
		}
		s, err := kp.SharedSecret(crypto.Curve25519PublicKey(their))
		if err != nil {
			return nil, err
		}
		return obj{"public_key": string(kp.B64Encoded()), "shared_secret_hex": hex.EncodeToString(s)}, nil
	},
	"cipher.encrypt": func(a argReader) (obj, error) {
		c, err := aessha2.NewAESSHA2(a.hex("secret_hex"), []byte(a.str("info")))
		if err != nil {
			return nil, err
		}
		ct, err := c.Encrypt(a.hex("plaintext_hex"))
		if err != nil {
			return nil, err
		}
		mac, err := c.MAC(ct)
		if err != nil {
			return nil, err
		}
		return obj{"ciphertext_hex": hex.EncodeToString(ct), "mac_hex": hex.EncodeToString(mac)}, nil
	},
	"cipher.decrypt": func(a argReader) (obj, error) {
		c, err := aessha2.NewAESSHA2(a.hex("secret_hex"), []byte(a.str("info")))
		if err != nil {
			return nil, err
		}
		ct, mac := a.hex("ciphertext_hex"), a.hex("mac_hex")
		ok, err := c.VerifyMAC(ct, mac, len(mac))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.New("bad MAC")
		}
		pt, err := c.Decrypt(ct)
		if err != nil {
			return nil, err
		}
		return obj{"plaintext_hex": hex.EncodeToString(pt)}, nil
	},
	"olm.account": func(a argReader) (obj, error) {
		acc, err := account.AccountFromPickled([]byte(a.str("pickle")), []byte(a.str("pickle_key")))
		if err != nil {
			return nil, err
		}
		ed, curve, err := acc.IdentityKeys()
		if err != nil {
			return nil, err
		}
		otks, err := acc.OneTimeKeys()
		if err != nil {
			return nil, err
		}
		sig, err := acc.Sign(a.hex("message_hex"))
		if err != nil {
			return nil, err
		}
		return obj{"curve25519": curve, "ed25519": ed, "one_time_keys": otks, "fallback_key": acc.FallbackKeyUnpublished(), "signature": string(sig)}, nil
	},
	"olm.session": func(a argReader) (obj, error) {
		s, err := session.OlmSessionFromPickled([]byte(a.str("pickle")), []byte(a.str("pickle_key")))
		if err != nil {
			return nil, err
		}
		return obj{"session_id": s.ID(), "has_received_message": s.HasReceivedMessage()}, nil
	},
	"olm.outbound_session": func(a argReader) (obj, error) {
		key := []byte(a.str("pickle_key"))
		acc, err := account.AccountFromPickled([]byte(a.str("account_pickle")), key)
		if err != nil {
			return nil, err
		}
		their, otk := id.Curve25519(a.str("their_identity_key")), id.Curve25519(a.str("their_one_time_key"))
		return withRandom(a.hex("random_hex"), func() (obj, error) {
			s, err := acc.NewOutboundSession(their, otk)
			if err != nil {
				return nil, err
			}
			p, err := s.Pickle(key)
			if err != nil {
				return nil, err
			}
			return obj{"session_id": s.ID(), "session_pickle": string(p)}, nil
		})
	},
	"olm.inbound_session": func(a argReader) (obj, error) {
		key := []byte(a.str("pickle_key"))
		acc, err := account.AccountFromPickled([]byte(a.str("account_pickle")), key)
		if err != nil {
			return nil, err
		}
		var their *id.Curve25519
		if t := a.str("their_identity_key"); t != "" {
			k := id.Curve25519(t)
			their = &k
		}
		msg := a.str("message")
		s, err := acc.NewInboundSessionFrom(their, msg)
		if err != nil {
			return nil, err
		}
		pt, err := s.Decrypt(msg, id.OlmMsgTypePreKey)
		if err != nil {
			return nil, err
		}
		p, err := s.Pickle(key)
		if err != nil {
			return nil, err
		}
		return obj{"session_id": s.ID(), "plaintext_hex": hex.EncodeToString(pt), "session_pickle": string(p)}, nil
	},
	"olm.encrypt": func(a argReader) (obj, error) {
		s, err := session.OlmSessionFromPickled([]byte(a.str("session_pickle")), []byte(a.str("pickle_key")))
		if err != nil {
			return nil, err
		}
		t, m, err := s.Encrypt(a.hex("plaintext_hex"))
		if err != nil {
			return nil, err
		}
		return obj{"message_type": int(t), "message": string(m)}, nil
	},
	"olm.decrypt": func(a argReader) (obj, error) {
		s, err := session.OlmSessionFromPickled([]byte(a.str("session_pickle")), []byte(a.str("pickle_key")))
		if err != nil {
			return nil, err
		}
		pt, err := s.Decrypt(a.str("message"), id.OlmMsgType(a.int("message_type")))
		if err != nil {
			return nil, err
		}
		return obj{"plaintext_hex": hex.EncodeToString(pt)}, nil
	},
	"megolm.session_key": func(a argReader) (obj, error) {
		s, err := inboundGroup(a)
		if err != nil {
			return nil, err
		}
		return obj{"session_id": s.ID(), "first_known_index": s.FirstKnownIndex()}, nil
	},
	"megolm.export": func(a argReader) (obj, error) {
		s, err := inboundGroup(a)
		if err != nil {
			return nil, err
		}
		k, err := s.Export(uint32(a.int("index")))
		if err != nil {
			return nil, err
		}
		return obj{"exported_session_key": string(k)}, nil
	},
	"megolm.decrypt": func(a argReader) (obj, error) {
		s, err := inboundGroup(a)
		if err != nil {
			return nil, err
		}
		pt, i, err := s.Decrypt([]byte(a.str("message")))
		if err != nil {
			return nil, err
		}
		return obj{"plaintext_hex": hex.EncodeToString(pt), "message_index": i}, nil
	},
	"megolm.inbound": func(a argReader) (obj, error) {
		s, err := session.MegolmInboundSessionFromPickled([]byte(a.str("pickle")), []byte(a.str("pickle_key")))
		if err != nil {
			return nil, err
		}
		k, err := s.Export(s.FirstKnownIndex())
		if err != nil {
			return nil, err
		}
		return obj{"session_id": s.ID(), "first_known_index": s.FirstKnownIndex(), "exported_session_key": string(k)}, nil
	},
	"megolm.outbound": func(a argReader) (obj, error) {
		s, err := session.MegolmOutboundSessionFromPickled([]byte(a.str("pickle")), []byte(a.str("pickle_key")))
		if err != nil {
			return nil, err
		}
		return obj{"session_id": s.ID(), "message_index": s.MessageIndex(), "session_key": s.Key()}, nil
	},
	"megolm.encrypt": func(a argReader) (obj, error) {
		s, err := session.MegolmOutboundSessionFromPickled([]byte(a.str("pickle")), []byte(a.str("pickle_key")))
		if err != nil {
			return nil, err
		}
		m, err := s.Encrypt(a.hex("plaintext_hex"))
		if err != nil {
			return nil, err
		}
		return obj{"message": string(m)}, nil
	},
}

// inboundGroup makes an inbound group session from a session key or an
// exported key.
func inboundGroup(a argReader) (*session.MegolmInboundSession, error) {
	switch {
	case a.has("session_key") == a.has("exported_session_key"):
		panic(fmt.Sprintf("%v: want exactly one of session_key and exported_session_key", vectors.ErrFault))
	case a.has("session_key"):
		return session.NewMegolmInboundSession([]byte(a.str("session_key")))
	default:
		return session.NewMegolmInboundSessionFromExport([]byte(a.str("exported_session_key")))
	}
}
