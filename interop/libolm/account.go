package libolm

/*
#include <stdlib.h>
#include <olm/olm.h>
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime"
	"unsafe"
)

// Account is a libolm OlmAccount: an identity key pair plus one-time and
// fallback keys. It owns C memory; call Free when done.
type Account struct {
	ptr     *C.OlmAccount
	cleanup runtime.Cleanup
}

// IdentityKeys are an account's public identity keys, unpadded base64.
type IdentityKeys struct {
	Curve25519 string `json:"curve25519"`
	Ed25519    string `json:"ed25519"`
}

func freeAccount(p *C.OlmAccount) {
	live.Add(-1)
	C.olm_clear_account(p)
	C.free(unsafe.Pointer(p))
}

func allocAccount() *Account {
	p := C.olm_account(C.malloc(C.olm_account_size()))
	live.Add(1)
	a := &Account{ptr: p}
	a.cleanup = runtime.AddCleanup(a, freeAccount, p)
	return a
}

// Free wipes and releases the account's C memory. Further calls return
// [ErrFreed] (or panic, for methods without an error result). Free is
// idempotent.
func (a *Account) Free() {
	if a == nil || a.ptr == nil {
		return
	}
	a.cleanup.Stop()
	freeAccount(a.ptr)
	a.ptr = nil
}

func (a *Account) err(op string) error {
	return &Error{Op: op, Code: C.GoString(C.olm_account_last_error(a.ptr))}
}

func (a *Account) mustLive() {
	if a.ptr == nil {
		panic("libolm: Account used after Free")
	}
}

// NewAccountRandomLength returns the number of random bytes [NewAccount]
// needs (64 in libolm 3.2.13).
func NewAccountRandomLength() int {
	a := allocAccount()
	defer a.Free()
	return int(C.olm_create_account_random_length(a.ptr))
}

// NewAccount creates an account with olm_create_account from random, which
// must hold at least [NewAccountRandomLength] bytes (else the error
// matches [ErrNotEnoughRandom]). The same random gives the same account.
func NewAccount(random []byte) (*Account, error) {
	a := allocAccount()
	r := cCopy(random)
	defer r.free()
	if isErr(C.olm_create_account(a.ptr, r.p, r.size())) {
		err := a.err("create account")
		a.Free()
		return nil, err
	}
	return a, nil
}

// NewAccountRand is [NewAccount] with random bytes from crypto/rand.
func NewAccountRand() (*Account, error) {
	random := readRandom(NewAccountRandomLength())
	defer wipe(random)
	return NewAccount(random)
}

// IdentityKeys returns the account's public Curve25519 and Ed25519
// identity keys, parsed from olm_account_identity_keys.
func (a *Account) IdentityKeys() (IdentityKeys, error) {
	var keys IdentityKeys
	b, err := a.IdentityKeysJSON()
	if err != nil {
		return keys, err
	}
	if err := json.Unmarshal(b, &keys); err != nil {
		return keys, fmt.Errorf("libolm: identity keys: %w", err)
	}
	return keys, nil
}

// IdentityKeysJSON returns olm_account_identity_keys's JSON as is.
func (a *Account) IdentityKeysJSON() ([]byte, error) {
	if a.ptr == nil {
		return nil, ErrFreed
	}
	defer runtime.KeepAlive(a)
	o := newCBuf(int(C.olm_account_identity_keys_length(a.ptr)))
	defer o.free()
	r := C.olm_account_identity_keys(a.ptr, o.p, o.size())
	if isErr(r) {
		return nil, a.err("identity keys")
	}
	return o.bytes(int(r)), nil
}

// Sign returns the account's Ed25519 signature of message, unpadded
// base64, from olm_account_sign.
func (a *Account) Sign(message []byte) (string, error) {
	if a.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(a)
	m := cCopy(message)
	defer m.free()
	o := newCBuf(int(C.olm_account_signature_length(a.ptr)))
	defer o.free()
	r := C.olm_account_sign(a.ptr, m.p, m.size(), o.p, o.size())
	if isErr(r) {
		return "", a.err("sign")
	}
	return string(o.bytes(int(r))), nil
}

// MaxNumberOfOneTimeKeys returns how many one-time keys the account keeps
// (100 in libolm 3.2.13); generating more discards the oldest.
func (a *Account) MaxNumberOfOneTimeKeys() int {
	a.mustLive()
	defer runtime.KeepAlive(a)
	return int(C.olm_account_max_number_of_one_time_keys(a.ptr))
}

// OneTimeKeysRandomLength returns the number of random bytes
// [Account.GenerateOneTimeKeys] needs for n keys (32 each).
func (a *Account) OneTimeKeysRandomLength(n int) int {
	a.mustLive()
	defer runtime.KeepAlive(a)
	return int(C.olm_account_generate_one_time_keys_random_length(a.ptr, C.size_t(n)))
}

// GenerateOneTimeKeys generates n one-time keys from random, which must
// hold at least [Account.OneTimeKeysRandomLength](n) bytes.
func (a *Account) GenerateOneTimeKeys(n int, random []byte) error {
	if a.ptr == nil {
		return ErrFreed
	}
	if n < 0 {
		return fmt.Errorf("libolm: generate one-time keys: negative count %d", n)
	}
	defer runtime.KeepAlive(a)
	r := cCopy(random)
	defer r.free()
	if isErr(C.olm_account_generate_one_time_keys(a.ptr, C.size_t(n), r.p, r.size())) {
		return a.err("generate one-time keys")
	}
	return nil
}

// GenerateOneTimeKeysRand is [Account.GenerateOneTimeKeys] with random
// bytes from crypto/rand.
func (a *Account) GenerateOneTimeKeysRand(n int) error {
	if a.ptr == nil {
		return ErrFreed
	}
	random := readRandom(a.OneTimeKeysRandomLength(n))
	defer wipe(random)
	return a.GenerateOneTimeKeys(n, random)
}

// keysJSON is the shape of libolm's one-time and fallback key JSON.
type keysJSON struct {
	Curve25519 map[string]string `json:"curve25519"`
}

func parseKeysJSON(op string, b []byte) (map[string]string, error) {
	var k keysJSON
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("libolm: %s: %w", op, err)
	}
	if k.Curve25519 == nil {
		k.Curve25519 = map[string]string{}
	}
	return k.Curve25519, nil
}

// OneTimeKeysJSON returns olm_account_one_time_keys's JSON as is:
// {"curve25519":{"<key ID>":"<key>",...}} for the unpublished keys.
func (a *Account) OneTimeKeysJSON() ([]byte, error) {
	if a.ptr == nil {
		return nil, ErrFreed
	}
	defer runtime.KeepAlive(a)
	o := newCBuf(int(C.olm_account_one_time_keys_length(a.ptr)))
	defer o.free()
	r := C.olm_account_one_time_keys(a.ptr, o.p, o.size())
	if isErr(r) {
		return nil, a.err("one-time keys")
	}
	return o.bytes(int(r)), nil
}

// OneTimeKeys returns the unpublished one-time keys as a map from key ID
// (see [KeyIDString]) to public key, both unpadded base64.
func (a *Account) OneTimeKeys() (map[string]string, error) {
	b, err := a.OneTimeKeysJSON()
	if err != nil {
		return nil, err
	}
	return parseKeysJSON("one-time keys", b)
}

// MarkKeysAsPublished marks the current one-time keys and fallback key as
// published and returns how many one-time keys it marked.
func (a *Account) MarkKeysAsPublished() int {
	a.mustLive()
	defer runtime.KeepAlive(a)
	return int(C.olm_account_mark_keys_as_published(a.ptr))
}

// FallbackKeyRandomLength returns the number of random bytes
// [Account.GenerateFallbackKey] needs (32).
func (a *Account) FallbackKeyRandomLength() int {
	a.mustLive()
	defer runtime.KeepAlive(a)
	return int(C.olm_account_generate_fallback_key_random_length(a.ptr))
}

// GenerateFallbackKey generates a new fallback key from random; the
// previous one is kept until [Account.ForgetOldFallbackKey].
func (a *Account) GenerateFallbackKey(random []byte) error {
	if a.ptr == nil {
		return ErrFreed
	}
	defer runtime.KeepAlive(a)
	r := cCopy(random)
	defer r.free()
	if isErr(C.olm_account_generate_fallback_key(a.ptr, r.p, r.size())) {
		return a.err("generate fallback key")
	}
	return nil
}

// GenerateFallbackKeyRand is [Account.GenerateFallbackKey] with random
// bytes from crypto/rand.
func (a *Account) GenerateFallbackKeyRand() error {
	if a.ptr == nil {
		return ErrFreed
	}
	random := readRandom(a.FallbackKeyRandomLength())
	defer wipe(random)
	return a.GenerateFallbackKey(random)
}

// UnpublishedFallbackKey returns the current fallback key if it exists and
// is unpublished, as a map of zero or one entries from key ID to key.
func (a *Account) UnpublishedFallbackKey() (map[string]string, error) {
	if a.ptr == nil {
		return nil, ErrFreed
	}
	defer runtime.KeepAlive(a)
	o := newCBuf(int(C.olm_account_unpublished_fallback_key_length(a.ptr)))
	defer o.free()
	r := C.olm_account_unpublished_fallback_key(a.ptr, o.p, o.size())
	if isErr(r) {
		return nil, a.err("unpublished fallback key")
	}
	return parseKeysJSON("unpublished fallback key", o.bytes(int(r)))
}

// FallbackKey returns the current fallback key whether published or not,
// as a map of zero or one entries (libolm's deprecated
// olm_account_fallback_key).
func (a *Account) FallbackKey() (map[string]string, error) {
	if a.ptr == nil {
		return nil, ErrFreed
	}
	defer runtime.KeepAlive(a)
	o := newCBuf(int(C.olm_account_fallback_key_length(a.ptr)))
	defer o.free()
	r := C.olm_account_fallback_key(a.ptr, o.p, o.size())
	if isErr(r) {
		return nil, a.err("fallback key")
	}
	return parseKeysJSON("fallback key", o.bytes(int(r)))
}

// ForgetOldFallbackKey drops the previous fallback key, if any.
func (a *Account) ForgetOldFallbackKey() {
	a.mustLive()
	defer runtime.KeepAlive(a)
	C.olm_account_forget_old_fallback_key(a.ptr)
}

// RemoveOneTimeKeys removes from the account the one-time key that the
// inbound session s was created with. The error matches
// [ErrBadMessageKeyID] if the account has no such key (fallback keys are
// never removed).
func (a *Account) RemoveOneTimeKeys(s *Session) error {
	if a.ptr == nil || s.ptr == nil {
		return ErrFreed
	}
	defer runtime.KeepAlive(a)
	defer runtime.KeepAlive(s)
	if isErr(C.olm_remove_one_time_keys(a.ptr, s.ptr)) {
		return a.err("remove one-time keys")
	}
	return nil
}

// Pickle returns the account encrypted with key (any length, including
// empty) in libolm's base64 pickle format.
func (a *Account) Pickle(key []byte) (string, error) {
	if a.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(a)
	k := cCopy(key)
	defer k.free()
	o := newCBuf(int(C.olm_pickle_account_length(a.ptr)))
	defer o.free()
	r := C.olm_pickle_account(a.ptr, k.p, k.size(), o.p, o.size())
	if isErr(r) {
		return "", a.err("pickle account")
	}
	return string(o.bytes(int(r))), nil
}

// UnpickleAccount decrypts a pickle made by [Account.Pickle] (or any
// libolm) with key. A wrong key gives an error matching [ErrBadAccountKey].
func UnpickleAccount(pickle string, key []byte) (*Account, error) {
	a := allocAccount()
	k := cCopy(key)
	defer k.free()
	p := cCopyString(pickle) // destroyed by libolm
	defer p.free()
	if isErr(C.olm_unpickle_account(a.ptr, k.p, k.size(), p.p, p.size())) {
		err := a.err("unpickle account")
		a.Free()
		return nil, err
	}
	return a, nil
}
