package vectors

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// DeterministicNative returns Native extended to the operations that take
// random input in their arguments: olm.outbound_session (random_hex),
// sas.bytes, sas.mac and sas.verify_mac (private_key_hex), pk.encrypt
// (ephemeral_private_key_hex), secret_storage.encrypt (iv_hex) and
// key_export.encrypt (salt_hex, iv_hex). The library takes its randomness
// from crypto/rand and offers no way to choose it, so for the length of such
// an operation this Impl replaces crypto/rand.Reader with a reader of those
// bytes, and checks that the library read exactly them.
//
// That is a global change: use DeterministicNative only where nothing else
// reads crypto/rand at the same time, as in this package's tests and the
// souverain conformance command. Operations are serialised with each other.
func DeterministicNative() Impl { return native{deterministic: true} }

// randMu serialises the replacements of crypto/rand.Reader.
var randMu sync.Mutex

// fixedReader hands out its bytes, then zeros, counting what was asked.
type fixedReader struct {
	b    []byte
	read int
}

func (r *fixedReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[min(r.read, len(r.b)):])
	clear(p[n:])
	r.read += len(p)
	return len(p), nil
}

// withRandom runs f with crypto/rand.Reader giving random, or returns
// ErrUnsupported if n is not deterministic.
func (n native) withRandom(op string, random []byte, f func() (any, error)) (any, error) {
	if !n.deterministic {
		return nil, fmt.Errorf("%w: %s takes caller-chosen random input, which the library's API does not accept (vectors.DeterministicNative runs it)", ErrUnsupported, op)
	}
	randMu.Lock()
	defer randMu.Unlock()
	saved := rand.Reader
	r := &fixedReader{b: random}
	rand.Reader = r
	defer func() { rand.Reader = saved }()
	res, err := f()
	if err == nil && r.read != len(random) {
		return nil, fmt.Errorf("%w: %s: the library read %d random bytes, the vector gives %d", ErrFault, op, r.read, len(random))
	}
	return res, err
}

func init() {
	for op, h := range map[string]func(native, json.RawMessage) (any, error){
		"olm.outbound_session":   op2(native.olmOutbound),
		"sas.bytes":              op2(native.sasBytes),
		"sas.mac":                op2(native.sasMAC),
		"sas.verify_mac":         op2(native.sasVerifyMAC),
		"sas.decimals":           op(nativeSASDecimals),
		"sas.emojis":             op(nativeSASEmojis),
		"pk.encrypt":             op2(native.pkEncrypt),
		"pk.decrypt":             op(nativePKDecrypt),
		"recovery_key.encode":    op(nativeRecoveryEncode),
		"recovery_key.decode":    op(nativeRecoveryDecode),
		"passphrase.key":         op(nativePassphraseKey),
		"secret_storage.encrypt": op2(native.secretEncrypt),
		"secret_storage.decrypt": op(nativeSecretDecrypt),
		"secret_storage.check":   op(nativeSecretCheck),
		"key_export.encrypt":     op2(native.exportEncrypt),
		"key_export.decrypt":     op(nativeExportDecrypt),
	} {
		nativeOps[op] = h
	}
}

func (n native) olmOutbound(a struct {
	AccountPickle    string   `json:"account_pickle"`
	PickleKey        string   `json:"pickle_key"`
	TheirIdentityKey string   `json:"their_identity_key"`
	TheirOneTimeKey  string   `json:"their_one_time_key"`
	Random           hexBytes `json:"random_hex"`
}) (any, error) {
	acc, err := olm.UnpickleLibolmAccount(a.AccountPickle, []byte(a.PickleKey))
	if err != nil {
		return nil, err
	}
	id, err := olm.ParseCurve25519PublicKey(a.TheirIdentityKey)
	if err != nil {
		return nil, err
	}
	otk, err := olm.ParseCurve25519PublicKey(a.TheirOneTimeKey)
	if err != nil {
		return nil, err
	}
	return n.withRandom("olm.outbound_session", a.Random, func() (any, error) {
		s, err := acc.NewOutboundSession(id, otk)
		if err != nil {
			return nil, err
		}
		p, err := s.PickleLibolm([]byte(a.PickleKey))
		if err != nil {
			return nil, err
		}
		return map[string]any{"session_id": s.SessionID(), "session_pickle": p}, nil
	})
}

// sasArgs are the arguments shared by the SAS operations.
type sasArgs struct {
	Private hexBytes `json:"private_key_hex"`
	Their   string   `json:"their_public_key"`
}

// establish runs the key agreement with the vector's private key.
func (n native) establish(op string, a sasArgs, f func(*sas.EstablishedSAS) (any, error)) (any, error) {
	their, err := sas.ParsePublicKey(a.Their)
	if err != nil {
		return nil, err
	}
	return n.withRandom(op, a.Private, func() (any, error) {
		s, err := sas.New()
		if err != nil {
			return nil, err
		}
		e, err := s.Establish(their)
		if err != nil {
			return nil, err
		}
		defer e.Close()
		return f(e)
	})
}

func (n native) sasBytes(a struct {
	sasArgs
	Info   string `json:"info"`
	Length int    `json:"length"`
}) (any, error) {
	return n.establish("sas.bytes", a.sasArgs, func(e *sas.EstablishedSAS) (any, error) {
		b, err := e.Bytes(a.Info, a.Length)
		if err != nil {
			return nil, err
		}
		return map[string]any{"public_key": e.OurPublicKey().String(), "bytes_hex": hexBytes(b)}, nil
	})
}

func (n native) sasMAC(a struct {
	sasArgs
	Method string `json:"method"`
	Input  string `json:"input"`
	Info   string `json:"info"`
}) (any, error) {
	return n.establish("sas.mac", a.sasArgs, func(e *sas.EstablishedSAS) (any, error) {
		m, err := e.MAC(a.Method, a.Input, a.Info)
		if err != nil {
			return nil, err
		}
		return map[string]string{"mac": m}, nil
	})
}

func (n native) sasVerifyMAC(a struct {
	sasArgs
	Method string `json:"method"`
	Input  string `json:"input"`
	Info   string `json:"info"`
	MAC    string `json:"mac"`
}) (any, error) {
	return n.establish("sas.verify_mac", a.sasArgs, func(e *sas.EstablishedSAS) (any, error) {
		if err := e.VerifyMAC(a.Method, a.Input, a.Info, a.MAC); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	})
}

func nativeSASDecimals(a struct {
	Bytes hexBytes `json:"bytes_hex"`
}) (any, error) {
	if len(a.Bytes) < 5 {
		return nil, fmt.Errorf("decimals need 5 bytes, got %d", len(a.Bytes))
	}
	var s sas.ShortAuthString
	copy(s[:], a.Bytes)
	return map[string]any{"decimals": s.Decimals()}, nil
}

func nativeSASEmojis(a struct {
	Bytes hexBytes `json:"bytes_hex"`
}) (any, error) {
	if len(a.Bytes) < 6 {
		return nil, fmt.Errorf("emojis need 6 bytes, got %d", len(a.Bytes))
	}
	s := sas.ShortAuthString(a.Bytes[:6])
	type emoji struct {
		Emoji       string `json:"emoji"`
		Description string `json:"description"`
	}
	var emojis []emoji
	for _, e := range s.Emojis() {
		emojis = append(emojis, emoji{e.Symbol, e.Description})
	}
	return map[string]any{"emoji_indices": s.EmojiIndices(), "emojis": emojis}, nil
}

func (n native) pkEncrypt(a struct {
	Recipient string   `json:"recipient_public_key"`
	Plaintext hexBytes `json:"plaintext_hex"`
	Ephemeral hexBytes `json:"ephemeral_private_key_hex"`
}) (any, error) {
	pub, err := keybackup.ParseBackupPublicKey(a.Recipient)
	if err != nil {
		return nil, err
	}
	return n.withRandom("pk.encrypt", a.Ephemeral, func() (any, error) {
		d, err := pub.Encrypt(a.Plaintext)
		if err != nil {
			return nil, err
		}
		out, err := d.MarshalJSON()
		return json.RawMessage(out), err
	})
}

func nativePKDecrypt(a struct {
	Private    hexBytes `json:"private_key_hex"`
	Ciphertext string   `json:"ciphertext"`
	MAC        string   `json:"mac"`
	Ephemeral  string   `json:"ephemeral"`
}) (any, error) {
	k, err := keybackup.NewBackupKey(a.Private)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	raw, _ := json.Marshal(map[string]string{"ciphertext": a.Ciphertext, "mac": a.MAC, "ephemeral": a.Ephemeral})
	d, err := keybackup.ParseSessionData(raw)
	if err != nil {
		return nil, err
	}
	pt, err := k.Decrypt(d)
	if err != nil {
		return nil, err
	}
	return map[string]hexBytes{"plaintext_hex": pt}, nil
}

func nativeRecoveryEncode(a struct {
	Key hexBytes `json:"key_hex"`
}) (any, error) {
	s, err := keybackup.EncodeRecoveryKey(a.Key)
	if err != nil {
		return nil, err
	}
	return map[string]string{"recovery_key": s}, nil
}

func nativeRecoveryDecode(a struct {
	RecoveryKey string `json:"recovery_key"`
}) (any, error) {
	k, err := keybackup.DecodeRecoveryKeyUnchecked(a.RecoveryKey)
	if err != nil {
		return nil, err
	}
	return map[string]hexBytes{"key_hex": k}, nil
}

func nativePassphraseKey(a struct {
	Pass string `json:"passphrase"`
	keybackup.Passphrase
}) (any, error) {
	k, err := a.Passphrase.DeriveKey(a.Pass)
	if err != nil {
		return nil, err
	}
	return map[string]hexBytes{"key_hex": k}, nil
}

// secretStorageKey unlocks raw key bytes without a key check.
func secretStorageKey(key []byte) (*keybackup.SecretStorageKey, error) {
	d := &keybackup.KeyDescription{Algorithm: keybackup.SecretStorageAlgorithm}
	return d.Unlock("vectors", key)
}

func (n native) secretEncrypt(a struct {
	Key    hexBytes `json:"key_hex"`
	Name   string   `json:"name"`
	Secret string   `json:"secret"`
	IV     hexBytes `json:"iv_hex"`
}) (any, error) {
	k, err := secretStorageKey(a.Key)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	return n.withRandom("secret_storage.encrypt", a.IV, func() (any, error) {
		es, err := k.Encrypt(a.Name, []byte(a.Secret))
		if err != nil {
			return nil, err
		}
		out, err := es.MarshalJSON()
		return json.RawMessage(out), err
	})
}

func nativeSecretDecrypt(a struct {
	Key       hexBytes        `json:"key_hex"`
	Name      string          `json:"name"`
	Encrypted json.RawMessage `json:"encrypted"`
}) (any, error) {
	k, err := secretStorageKey(a.Key)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	es, err := keybackup.ParseEncryptedSecret(a.Encrypted)
	if err != nil {
		return nil, err
	}
	s, err := k.Decrypt(a.Name, es)
	if err != nil {
		return nil, err
	}
	return map[string]string{"secret": string(s)}, nil
}

func nativeSecretCheck(a struct {
	Key hexBytes `json:"key_hex"`
	IV  string   `json:"iv"`
	MAC string   `json:"mac"`
}) (any, error) {
	raw, _ := json.Marshal(map[string]string{"algorithm": keybackup.SecretStorageAlgorithm, "iv": a.IV, "mac": a.MAC})
	d, err := keybackup.ParseKeyDescription(raw)
	if err != nil {
		return nil, err
	}
	if !d.HasCheck() {
		return nil, errors.New("no key check")
	}
	if err := d.CheckKey(a.Key); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (n native) exportEncrypt(a struct {
	Plaintext  hexBytes `json:"plaintext_hex"`
	Passphrase string   `json:"passphrase"`
	Salt       hexBytes `json:"salt_hex"`
	IV         hexBytes `json:"iv_hex"`
	Rounds     int      `json:"rounds"`
}) (any, error) {
	return n.withRandom("key_export.encrypt", append(append([]byte(nil), a.Salt...), a.IV...), func() (any, error) {
		f, err := keybackup.EncryptKeyExportData(a.Plaintext, a.Passphrase, a.Rounds)
		if err != nil {
			return nil, err
		}
		return map[string]string{"file": string(f)}, nil
	})
}

func nativeExportDecrypt(a struct {
	File       string `json:"file"`
	Passphrase string `json:"passphrase"`
}) (any, error) {
	pt, err := keybackup.DecryptKeyExportData([]byte(a.File), a.Passphrase)
	if err != nil {
		return nil, err
	}
	return map[string]hexBytes{"plaintext_hex": pt}, nil
}
