package mautrix

import (
	"encoding/json"
	"fmt"
	"sync"

	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	solm "github.com/souverain/e2ee/olm"
)

// LibolmMaxOneTimeKeys is what Account.MaxNumberOfOneTimeKeys reports:
// libolm's MAX_ONE_TIME_KEYS. mautrix-go keeps half of it on the server, so
// a device on this driver uploads as many one-time keys as on libolm or
// goolm. (The souverain account itself holds up to 5000, its package's
// MaxOneTimeKeys; libolm pickles, which mautrix-go stores, carry the newest
// 100.)
const LibolmMaxOneTimeKeys = 100

// Account is a device's Olm account, mautrix-go's olm.Account backed by
// souverain's olm.Account. It is secret. The zero value, like
// NewBlankAccount, is blank: it holds no keys until Unpickle fills it.
//
// An Account is safe for concurrent use: its methods take turns on a
// mutex of its own, since mautrix-go calls the account of an OlmMachine
// from Olm decryption (under its olmLock), from key upload (under
// otkUploadLock) and for signing (under no lock) at the same time. Calls
// made on the souverain account returned by Inner bypass that mutex.
type Account struct {
	mu  sync.Mutex
	acc *solm.Account // nil while blank
}

var _ olm.Account = (*Account)(nil)

// NewAccount creates an account with fresh identity keys from crypto/rand.
func NewAccount() (*Account, error) {
	a, err := solm.NewAccount()
	if err != nil {
		return nil, mapError("new account", err)
	}
	return &Account{acc: a}, nil
}

// NewBlankAccount returns a blank account, to be filled by Unpickle.
func NewBlankAccount() *Account { return &Account{} }

// AccountFromPickled decrypts an account pickled in libolm's format, by
// libolm, goolm or this driver. Errors wrap olm.ErrEmptyInput,
// olm.ErrNoKeyProvided, olm.ErrLibolmBadAccountKey (wrong key),
// olm.ErrLibolmCorruptedPickle or olm.ErrUnknownOlmPickleVersion.
func AccountFromPickled(pickled, key []byte) (*Account, error) {
	a := NewBlankAccount()
	if err := a.Unpickle(pickled, key); err != nil {
		return nil, err
	}
	return a, nil
}

// Inner returns the souverain account, or nil while the account is blank.
// Changes made through it are seen by a. Its methods do not take a's
// mutex: the caller must not use it while a is in use elsewhere, and
// Unpickle replaces it with another.
func (a *Account) Inner() *solm.Account {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acc
}

// Pickle encrypts the account under key in libolm's pickle format (version
// 4), byte for byte what libolm writes for the same account, with at most
// the newest 100 one-time keys. It returns the base64 text.
func (a *Account) Pickle(key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, errorf("pickle account", olm.ErrNoKeyProvided)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acc == nil {
		return nil, fmt.Errorf("souverain: pickle account: %w", ErrBlank)
	}
	text, err := a.acc.PickleLibolm(key)
	if err != nil {
		return nil, mapError("pickle account", err)
	}
	return []byte(text), nil
}

// Unpickle replaces the account with one decrypted from a libolm pickle
// (versions 2 to 4, as written by libolm, goolm or this driver). On error
// the account is unchanged.
func (a *Account) Unpickle(pickled, key []byte) error {
	if len(key) == 0 {
		return errorf("unpickle account", olm.ErrNoKeyProvided)
	}
	if len(pickled) == 0 {
		return errorf("unpickle account", olm.ErrEmptyInput)
	}
	acc, err := solm.UnpickleLibolmAccount(string(pickled), key)
	if err != nil {
		return mapError("unpickle account", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acc = acc
	return nil
}

// IdentityKeysJSON returns the public identity keys as libolm writes them:
// {"curve25519":"…","ed25519":"…"}.
func (a *Account) IdentityKeysJSON() ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ed, curve, err := a.identityKeys()
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Curve25519 id.Curve25519 `json:"curve25519"`
		Ed25519    id.Ed25519    `json:"ed25519"`
	}{curve, ed})
}

// IdentityKeys returns the Ed25519 and Curve25519 identity keys in unpadded
// base64.
func (a *Account) IdentityKeys() (id.Ed25519, id.Curve25519, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.identityKeys()
}

func (a *Account) identityKeys() (id.Ed25519, id.Curve25519, error) {
	if a.acc == nil {
		return "", "", fmt.Errorf("souverain: identity keys: %w", ErrBlank)
	}
	curve, ed := a.acc.IdentityKeys()
	return id.Ed25519(ed.String()), id.Curve25519(curve.String()), nil
}

// Sign signs message with the Ed25519 identity key and returns the
// signature in unpadded base64, the same signature libolm makes. An empty
// message gives an error wrapping olm.ErrEmptyInput, as with goolm (libolm's
// driver panics).
func (a *Account) Sign(message []byte) ([]byte, error) {
	if len(message) == 0 {
		return nil, errorf("sign", olm.ErrEmptyInput)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acc == nil {
		return nil, fmt.Errorf("souverain: sign: %w", ErrBlank)
	}
	sig := a.acc.Sign(message)
	return []byte(sig.String()), nil
}

// OneTimeKeys returns the one-time keys not yet marked as published, by key
// ID in libolm's encoding (unpadded base64 of the ID as 4 bytes big-endian).
// A blank account has none.
func (a *Account) OneTimeKeys() (map[string]id.Curve25519, error) {
	out := make(map[string]id.Curve25519)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acc == nil {
		return out, nil
	}
	for keyID, key := range a.acc.OneTimeKeys() {
		out[keyID.String()] = id.Curve25519(key.String())
	}
	return out, nil
}

// MarkKeysAsPublished marks the one-time keys and the current fallback key
// as published.
func (a *Account) MarkKeysAsPublished() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acc != nil {
		a.acc.MarkKeysAsPublished()
	}
}

// MaxNumberOfOneTimeKeys returns LibolmMaxOneTimeKeys, as libolm and goolm
// do: mautrix-go keeps half that many on the server.
func (a *Account) MaxNumberOfOneTimeKeys() uint { return LibolmMaxOneTimeKeys }

// GenOneTimeKeys generates num one-time keys from crypto/rand. num may be at
// most 5000 (MaxOneTimeKeys of souverain's olm package), the number of keys
// the account holds; beyond that it drops its oldest keys. A larger num
// gives an error wrapping olm.ErrBadInput.
func (a *Account) GenOneTimeKeys(num uint) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acc == nil {
		return fmt.Errorf("souverain: generate one-time keys: %w", ErrBlank)
	}
	if num > solm.MaxOneTimeKeys {
		return fmt.Errorf("souverain: generate %d one-time keys, more than %d: %w", num, solm.MaxOneTimeKeys, olm.ErrBadInput)
	}
	return mapError("generate one-time keys", a.acc.GenerateOneTimeKeys(int(num)))
}

// parseCurveKey decodes a Curve25519 key given by mautrix-go. A key that is
// not 32 bytes of base64 gives olm.ErrLibolmInvalidBase64, as in libolm.
func parseCurveKey(op string, k string) (solm.Curve25519PublicKey, error) {
	key, err := solm.ParseCurve25519PublicKey(k)
	if err != nil {
		return key, fmt.Errorf("souverain: %s: %w: %w", op, olm.ErrLibolmInvalidBase64, err)
	}
	return key, nil
}

// NewOutboundSession opens a session to the device with identity key
// theirIdentityKey through one of its one-time (or fallback) keys, whose
// signature the caller has checked. A key that does not decode gives
// olm.ErrLibolmInvalidBase64; a low-order key gives olm.ErrBadInput.
func (a *Account) NewOutboundSession(theirIdentityKey, theirOneTimeKey id.Curve25519) (olm.Session, error) {
	const op = "new outbound session"
	if len(theirIdentityKey) == 0 || len(theirOneTimeKey) == 0 {
		return nil, errorf(op, olm.ErrEmptyInput)
	}
	ik, err := parseCurveKey(op, string(theirIdentityKey))
	if err != nil {
		return nil, err
	}
	otk, err := parseCurveKey(op, string(theirOneTimeKey))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acc == nil {
		return nil, fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	s, err := a.acc.NewOutboundSession(ik, otk)
	if err != nil {
		return nil, mapError(op, err)
	}
	return &Session{sess: s}, nil
}

// NewInboundSession creates a session from a pre-key message (unpadded
// base64), from whichever identity key it names. See NewInboundSessionFrom.
func (a *Account) NewInboundSession(oneTimeKeyMsg string) (olm.Session, error) {
	return a.newInboundSession(nil, oneTimeKeyMsg)
}

// NewInboundSessionFrom creates a session from a pre-key message (unpadded
// base64) sent by the device with identity key theirIdentityKey (nil: any
// identity key, as in goolm).
//
// As with libolm, the one-time key stays in the account until
// RemoveOneTimeKeys. Unlike libolm, the message is authenticated and
// decrypted here, so a forged or damaged message fails now (with
// olm.ErrBadMAC and the like) and changes nothing, rather than failing in
// the session's first Decrypt; the plaintext is kept in the session, and
// Decrypt of the same message returns it once. Also unlike libolm, a
// pre-key message opens one session only: the account records it, and
// refuses it again, before RemoveOneTimeKeys as after, with
// olm.ErrBadMessageKeyID (which is what libolm answers once the key is
// removed). The record is kept in memory only (libolm's pickle format has
// no room for it; mautrix-go's store of message hashes covers replays
// across restarts).
//
// Errors wrap olm.ErrEmptyInput, olm.ErrLibolmInvalidBase64,
// olm.ErrBadMessageFormat, olm.ErrWrongProtocolVersion,
// olm.ErrBadMessageKeyID (unknown one-time key, a message used already,
// or another sender's message), olm.ErrBadMAC or olm.ErrBadInput.
func (a *Account) NewInboundSessionFrom(theirIdentityKey *id.Curve25519, oneTimeKeyMsg string) (olm.Session, error) {
	return a.newInboundSession(theirIdentityKey, oneTimeKeyMsg)
}

func (a *Account) newInboundSession(theirIdentityKey *id.Curve25519, text string) (olm.Session, error) {
	const op = "new inbound session"
	raw, err := decodeBase64(op, []byte(text))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acc == nil {
		return nil, fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	m, err := solm.ParsePreKeyMessage(raw)
	if err != nil {
		return nil, mapError(op, err)
	}
	if theirIdentityKey != nil {
		ik, err := parseCurveKey(op, string(*theirIdentityKey))
		if err != nil {
			return nil, err
		}
		if ik != m.IdentityKey() {
			return nil, errorf(op+": message from another identity key", olm.ErrBadMessageKeyID)
		}
	}
	// souverain checks the message and decrypts it now, so that a forged
	// one fails here; the account keeps the one-time key until
	// RemoveOneTimeKeys, after mautrix-go has stored the session.
	s, plaintext, err := a.acc.NewInboundSessionKeepKey(m.IdentityKey(), m)
	if err != nil {
		return nil, mapError(op, err)
	}
	return &Session{sess: s, pending: &pendingMessage{text: text, plaintext: plaintext}}, nil
}

// RemoveOneTimeKeys removes from the account the one-time key that s, an
// inbound session of this account, was created with. A fallback key stays,
// and removing it is no error, as in libolm. mautrix-go calls it once the
// session's first message has decrypted and the session is stored; the
// session may have been pickled and unpickled since, as with libolm (it
// names its key).
//
// Errors wrap olm.ErrBadMessageKeyID when the account does not hold the key
// (removed already, an outbound session, another account's session, a
// blank session), as libolm's driver returns, and olm.ErrBadInput for a
// session of another driver.
func (a *Account) RemoveOneTimeKeys(s olm.Session) error {
	const op = "remove one-time keys"
	sess, ok := s.(*Session)
	if !ok || sess == nil {
		return fmt.Errorf("souverain: %s: session of type %T, not of this driver: %w", op, s, olm.ErrBadInput)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acc == nil {
		return fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	// Lock order: an account, then a session (no Session method locks an
	// account).
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.sess == nil {
		return errorf(op+": blank session", olm.ErrBadMessageKeyID)
	}
	return mapError(op, a.acc.RemoveOneTimeKeys(sess.sess))
}
