package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// NSAccountData: account data event type → content, for the global
// account data the machine reads (secret storage: m.secret_storage.*,
// m.cross_signing.*, m.megolm_backup.v1), as ReceiveAccountData got it.
const NSAccountData Namespace = "account_data"

// Account data event types of secret storage.
const (
	// AccountDataDefaultKey is m.secret_storage.default_key: {"key": <key ID>}.
	AccountDataDefaultKey = "m.secret_storage.default_key"
	// AccountDataKeyPrefix starts the type of the event describing a
	// secret storage key, m.secret_storage.key.<key ID>.
	AccountDataKeyPrefix = "m.secret_storage.key."
)

// Limits on the account data ReceiveAccountData keeps.
const (
	// MaxAccountDataSize bounds the content of one account data event kept
	// (secret storage events are a few hundred bytes).
	MaxAccountDataSize = keybackup.MaxSecretSize
	// maxKeyDescriptions bounds the m.secret_storage.key.* events kept:
	// the server could send any number.
	maxKeyDescriptions = 64
)

// Errors of secret storage.
var (
	// ErrSecretStorageClosed means a call needs secret storage open
	// (OpenSecretStorage or CreateSecretStorage) and it is not.
	ErrSecretStorageClosed = errors.New("machine: secret storage is not open")
	// ErrWrongKey means a recovery key or passphrase does not open the
	// default secret storage key (its key check failed), or a secret from
	// secret storage does not match its published public key. A wrong
	// passphrase gives keybackup.ErrWrongPassphrase, which wraps it.
	ErrWrongKey = keybackup.ErrWrongKey
)

// storedSecrets are the secrets secret storage keeps for the machine: the
// cross-signing keys, the backup key, and the dehydration key under
// MSC3814's name and under the unstable name Element's clients use.
var storedSecrets = []string{
	keybackup.SecretCrossSigningMaster, keybackup.SecretCrossSigningSelfSigning,
	keybackup.SecretCrossSigningUserSigning, keybackup.SecretMegolmBackup,
	dehydrated.SecretName, dehydrated.UnstableSecretName,
}

var crossSigningSecrets = storedSecrets[:3]

// gossipedSecrets are the secrets RequestMissingSecrets asks for.
var gossipedSecrets = storedSecrets[:4]

// isSecretStorageType reports whether the machine keeps account data of
// this type.
func isSecretStorageType(typ string) bool {
	if typ == AccountDataDefaultKey || strings.HasPrefix(typ, AccountDataKeyPrefix) {
		return true
	}
	for _, s := range storedSecrets {
		if typ == s {
			return true
		}
	}
	return false
}

// AccountDataPut is a write of global account data: PUT Path with body
// Content. Its content is encrypted where it holds a secret; the key
// description and default key events are public.
type AccountDataPut struct {
	// Type is the event type, such as "m.cross_signing.master".
	Type string
	// Path is /_matrix/client/v3/user/{userId}/account_data/{type},
	// escaped, below the homeserver's base URL.
	Path string
	// Content is the JSON body.
	Content json.RawMessage
}

func (t *txn) accountDataPut(typ string, content any) (AccountDataPut, error) {
	b, err := json.Marshal(content)
	if err != nil {
		return AccountDataPut{}, err
	}
	return AccountDataPut{Type: typ, Content: b,
		Path: "/_matrix/client/v3/user/" + url.PathEscape(t.m.userID) + "/account_data/" + url.PathEscape(typ)}, nil
}

// ReceiveAccountData keeps the global account data events the machine
// uses (those of secret storage), from /sync's account_data.events or
// GET /user/{userId}/account_data/{type}: each is {"type", "content"}.
// Other types are ignored; an empty content ({}) deletes the event, as
// clients do to remove account data. A malformed or oversized event is
// skipped and reported by Notices. The events are kept in the store, so
// OpenSecretStorage works after a restart without them.
func (m *Machine) ReceiveAccountData(ctx context.Context, events []json.RawMessage) error {
	return m.update(ctx, func(t *txn) error {
		for _, raw := range events {
			var ev struct {
				Type    string          `json:"type"`
				Content json.RawMessage `json:"content"`
			}
			if err := json.Unmarshal(raw, &ev); err != nil || ev.Type == "" {
				t.m.notice(Notice{UserID: t.m.userID, Err: fmt.Errorf("%w: account data event", ErrMalformedEvent)})
				continue
			}
			if !isSecretStorageType(ev.Type) {
				continue
			}
			var obj map[string]json.RawMessage
			if len(ev.Content) > MaxAccountDataSize || json.Unmarshal(ev.Content, &obj) != nil || obj == nil {
				t.m.notice(Notice{UserID: t.m.userID, Err: fmt.Errorf("%w: account data %s", ErrMalformedEvent, ev.Type)})
				continue
			}
			if len(obj) == 0 {
				if err := storeErr(t.tx.Delete(NSAccountData, ev.Type)); err != nil {
					return err
				}
				continue
			}
			if strings.HasPrefix(ev.Type, AccountDataKeyPrefix) {
				_, err := t.tx.Get(NSAccountData, ev.Type)
				if err != nil && !isNotFound(err) {
					return storeErr(err)
				}
				if isNotFound(err) {
					n, err := t.countKeyDescriptions()
					if err != nil {
						return err
					}
					if n >= maxKeyDescriptions {
						t.m.notice(Notice{UserID: t.m.userID, Err: fmt.Errorf("%w: more than %d secret storage keys", ErrMalformedEvent, maxKeyDescriptions)})
						continue
					}
				}
			}
			if err := t.putValue(NSAccountData, ev.Type, ev.Content); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *txn) countKeyDescriptions() (int, error) {
	kvs, err := t.tx.List(NSAccountData)
	if err != nil {
		return 0, storeErr(err)
	}
	n := 0
	for _, kv := range kvs {
		if strings.HasPrefix(kv.Key, AccountDataKeyPrefix) {
			n++
		}
	}
	return n, nil
}

// accountData returns a kept account data event's content, nil if none.
func (t *txn) accountData(typ string) (json.RawMessage, error) {
	var c json.RawMessage
	ok, err := t.getValue(NSAccountData, typ, &c)
	if err != nil || !ok {
		return nil, err
	}
	return c, nil
}

// defaultKeyDescription returns the ID and description of the default
// secret storage key from the kept account data.
func (t *txn) defaultKeyDescription() (string, *keybackup.KeyDescription, error) {
	c, err := t.accountData(AccountDataDefaultKey)
	if err != nil {
		return "", nil, err
	}
	var dk struct {
		Key string `json:"key"`
	}
	if c == nil || json.Unmarshal(c, &dk) != nil || dk.Key == "" {
		return "", nil, fmt.Errorf("%w: no %s account data", ErrNotFound, AccountDataDefaultKey)
	}
	c, err = t.accountData(AccountDataKeyPrefix + dk.Key)
	if err != nil {
		return "", nil, err
	}
	if c == nil {
		return "", nil, fmt.Errorf("%w: no %s%s account data", ErrNotFound, AccountDataKeyPrefix, dk.Key)
	}
	d, err := keybackup.ParseKeyDescription(c)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s%s: %w", ErrMalformedEvent, AccountDataKeyPrefix, dk.Key, err)
	}
	return dk.Key, d, nil
}

// SecretStorageImport is what opening secret storage read into the
// machine's secrets.
type SecretStorageImport struct {
	// KeyID is the ID of the default key that was opened.
	KeyID string
	// Imported lists the secrets read and stored (their names).
	Imported []string
	// Errors holds, by secret name, the secrets secret storage holds for
	// the key but that were refused: they did not decrypt (wrapping
	// keybackup.ErrBadMAC), or did not match their public counterpart
	// (ErrWrongKey), or their public counterpart is unknown (ErrNotFound:
	// query our own keys first) or the account data is malformed
	// (ErrMalformedEvent).
	Errors map[string]error
	// SignedThisDevice reports that the self-signing key was imported and
	// signed this device: the signature goes out with OutgoingRequests
	// (KindSignatureUpload), after which the device is cross-signed for
	// everyone, as Element does when a session is verified with the
	// recovery key.
	SignedThisDevice bool
}

// OpenSecretStorageWithRecoveryKey opens the default secret storage key
// (m.secret_storage.default_key and the m.secret_storage.key.<ID> it
// names, from the account data given to ReceiveAccountData) with a
// recovery key the user typed, checking it against the key description's
// MAC, and reads the secrets it holds into the machine's secrets:
//
//   - m.cross_signing.master, .self_signing, .user_signing: only if the
//     private key gives the public key our own /keys/query response
//     published (master: the pinned master key; the others: as signed by
//     the master key). A key whose public key is unknown or different is
//     refused, and reported in SecretStorageImport.Errors.
//   - m.megolm_backup.v1: if a backup version is set (SetBackupVersion),
//     only if it is that backup's key; otherwise it is kept and takes part
//     only once a backup version with its public key is set.
//   - m.dehydrated_device and org.matrix.msc3814 (the dehydration key,
//     for Rehydrate and CreateDehydratedDevice): if it is the base64 of
//     32 bytes.
//
// Secrets already held are replaced by those of secret storage. A master
// key imported makes our own identity trusted at the next /keys/query,
// queued at once. A self-signing key imported signs this device (knowing
// the recovery key or passphrase is the proof that the device is the
// user's): the signature upload is queued for OutgoingRequests. The key stays open in memory (never in the store) until
// Close or the next open, for SecretStorageAccountData,
// BootstrapCrossSigning and CreateBackupVersion to write secrets under it.
//
// A recovery key that fails the key's check gives an error wrapping
// ErrWrongKey, and so does one under which no secret decrypts when the
// key description has no check values (such a key opens only if a secret
// decrypts under it: the server writes the description, and could
// otherwise have us store our secrets under any key a wrong recovery key
// or passphrase gives, or under a passphrase key with a salt and
// iteration count of its choosing); a mistyped recovery key (parity,
// length, alphabet) gives an error of keybackup's recovery key decoding
// (keybackup.ErrBadFormat). Missing account data gives ErrNotFound. On
// error nothing changes and secret storage stays as it was.
func (m *Machine) OpenSecretStorageWithRecoveryKey(ctx context.Context, recoveryKey string) (*SecretStorageImport, error) {
	return m.openSecretStorage(ctx, func(id string, d *keybackup.KeyDescription) (*keybackup.SecretStorageKey, error) {
		return d.UnlockWithRecoveryKey(id, recoveryKey)
	})
}

// OpenSecretStorageWithPassphrase is OpenSecretStorageWithRecoveryKey
// with the passphrase the key was derived from. A wrong passphrase gives an
// error wrapping keybackup.ErrWrongPassphrase (and ErrWrongKey); a key not
// made from a passphrase, keybackup.ErrNoPassphrase. The iteration count
// of the key description is bounded by keybackup.MaxPBKDF2Iterations
// before any work.
func (m *Machine) OpenSecretStorageWithPassphrase(ctx context.Context, passphrase string) (*SecretStorageImport, error) {
	return m.openSecretStorage(ctx, func(id string, d *keybackup.KeyDescription) (*keybackup.SecretStorageKey, error) {
		return d.UnlockWithPassphrase(id, passphrase)
	})
}

// openSecretStorage unlocks the default key with unlock and imports the
// secrets encrypted for it (see OpenSecretStorageWithRecoveryKey).
func (m *Machine) openSecretStorage(ctx context.Context, unlock func(string, *keybackup.KeyDescription) (*keybackup.SecretStorageKey, error)) (*SecretStorageImport, error) {
	var id string
	var desc *keybackup.KeyDescription
	if err := m.view(ctx, func(t *txn) (err error) {
		id, desc, err = t.defaultKeyDescription()
		return err
	}); err != nil {
		return nil, err
	}
	// The key derivation (PBKDF2) runs outside the machine's lock.
	key, err := unlock(id, desc)
	if err != nil {
		return nil, fmt.Errorf("machine: open secret storage key %s: %w", id, err)
	}
	out := &SecretStorageImport{KeyID: id, Errors: map[string]error{}}
	err = m.update(ctx, func(t *txn) error {
		*out = SecretStorageImport{KeyID: id, Errors: map[string]error{}}
		// Without check values, only a secret that decrypts under the key
		// proves it (the MAC of its ciphertext).
		proved := desc.HasCheck()
		for _, name := range storedSecrets {
			c, err := t.accountData(name)
			if err != nil {
				return err
			}
			if c == nil {
				continue
			}
			sc, err := keybackup.ParseSecretContent(c)
			if err != nil {
				out.Errors[name] = fmt.Errorf("%w: %s: %w", ErrMalformedEvent, name, err)
				continue
			}
			es := sc.Encrypted[id]
			if es == nil {
				continue // not stored under this key
			}
			if !proved {
				if text, err := key.Decrypt(name, es); err == nil {
					clear(text)
					proved = true
				}
			}
			value, err := t.readStoredSecret(key, name, es)
			if err != nil {
				var se *storeError
				if errors.As(err, &se) || errors.Is(err, ErrBadPickleKey) || errors.Is(err, ErrCorruptedStore) {
					return err
				}
				out.Errors[name] = err
				continue
			}
			if err := t.putSecret(name, value); err != nil {
				return err
			}
			out.Imported = append(out.Imported, name)
			if name == keybackup.SecretCrossSigningMaster {
				if err := t.markOutdated(t.m.userID); err != nil {
					return err
				}
			}
		}
		if slices.Contains(out.Imported, keybackup.SecretCrossSigningSelfSigning) {
			if err := t.signOwnDevice(); err != nil {
				return err
			}
			out.SignedThisDevice = true
		}
		// A key description without check values cannot tell a wrong
		// key; only a secret that decrypts can tell a right one. Keeping
		// an unproven key open would later write our secrets under it:
		// under a wrong key, or, since the server writes the description,
		// under a key it derived from our passphrase with a salt and
		// iteration count of its choosing (one round: an offline guess
		// costs nothing).
		if !proved {
			return fmt.Errorf("machine: open secret storage key %s: no check values and no secret decrypts: %w", id, ErrWrongKey)
		}
		return nil
	})
	if err != nil {
		key.Close()
		return nil, err
	}
	m.setSecretStorageKey(key)
	return out, nil
}

// setSecretStorageKey replaces the open secret storage key, closing the
// one before.
func (m *Machine) setSecretStorageKey(key *keybackup.SecretStorageKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		key.Close()
		return
	}
	if m.ssKey != nil {
		m.ssKey.Close()
	}
	m.ssKey = key
}

// readStoredSecret decrypts a secret of secret storage and checks it
// against its public counterpart. It returns the secret's text.
func (t *txn) readStoredSecret(key *keybackup.SecretStorageKey, name string, es *keybackup.EncryptedSecret) (string, error) {
	var u crossign.Usage
	switch name {
	case dehydrated.SecretName, dehydrated.UnstableSecretName:
		text, err := key.Decrypt(name, es)
		if err != nil {
			return "", fmt.Errorf("machine: secret storage: %s: %w", name, err)
		}
		defer clear(text)
		k, err := dehydrated.KeyFromSecret(string(text))
		if err != nil {
			return "", fmt.Errorf("machine: secret storage: %s: %w", name, err)
		}
		defer k.Clear()
		return k.Secret(), nil
	case keybackup.SecretCrossSigningMaster:
		u = crossign.UsageMaster
	case keybackup.SecretCrossSigningSelfSigning:
		u = crossign.UsageSelfSigning
	case keybackup.SecretCrossSigningUserSigning:
		u = crossign.UsageUserSigning
	case keybackup.SecretMegolmBackup:
		var b backupState
		ok, err := t.getValue(NSValues, "backup", &b)
		if err != nil {
			return "", err
		}
		if ok {
			pub, err := keybackup.ParseBackupPublicKey(b.PublicKey)
			if err != nil {
				return "", fmt.Errorf("%w: backup public key", ErrCorruptedStore)
			}
			bk, err := key.DecryptBackupKey(es, pub)
			if err != nil {
				return "", fmt.Errorf("machine: secret storage: %s: %w", name, err)
			}
			defer bk.Close()
			return bk.Encode(), nil
		}
		text, err := key.Decrypt(name, es)
		if err != nil {
			return "", fmt.Errorf("machine: secret storage: %s: %w", name, err)
		}
		defer clear(text)
		bk, err := keybackup.ParseBackupKey(string(text))
		if err != nil {
			return "", fmt.Errorf("machine: secret storage: %s: %w", name, keybackup.ErrBadMAC)
		}
		defer bk.Close()
		return bk.Encode(), nil
	}
	want, err := t.publishedKey(u)
	if err != nil {
		return "", fmt.Errorf("machine: secret storage: %s: %w", name, err)
	}
	seed, err := key.DecryptCrossSigningKey(name, es, want)
	if err != nil {
		return "", fmt.Errorf("machine: secret storage: %s: %w", name, err)
	}
	defer clear(seed)
	k, err := crossign.NewPrivateKey(u, seed)
	if err != nil {
		return "", fmt.Errorf("machine: secret storage: %s: %w", name, keybackup.ErrBadMAC)
	}
	defer k.Close()
	return k.Secret(), nil
}

// signOwnDevice signs this device with the self-signing key we hold and
// queues the signature upload.
func (t *txn) signOwnDevice() error {
	ks, err := t.privateKeys()
	if err != nil {
		return err
	}
	defer ks.Close()
	body, err := t.ownDeviceSignature(ks)
	if err != nil {
		return err
	}
	return t.queueRequest(KindSignatureUpload, "POST", "/_matrix/client/v3/keys/signatures/upload", body)
}

// ownDeviceSignature returns the /keys/signatures/upload body that signs
// this device with the self-signing key of ks.
func (t *txn) ownDeviceSignature(ks *crossign.PrivateKeys) ([]byte, error) {
	a, err := t.account()
	if err != nil {
		return nil, err
	}
	dk, err := a.DeviceKeys(t.m.userID, t.m.deviceID)
	if err != nil {
		return nil, err
	}
	dev, err := crossign.ParseDevice(dk)
	if err != nil {
		return nil, fmt.Errorf("%w: our own device keys: %v", errInternal, err)
	}
	so, err := ks.SignDevice(dev)
	if err != nil {
		return nil, err
	}
	var sigs crossign.SignatureUpload
	if err := sigs.Add(so); err != nil {
		return nil, err
	}
	return sigs.MarshalJSON()
}

// publishedKey returns our own published cross-signing public key of role
// u, as the last /keys/query (or our bootstrap) gave it.
func (t *txn) publishedKey(u crossign.Usage) (olm.Ed25519PublicKey, error) {
	var id identityState
	if _, err := t.getValue(NSIdentities, t.m.userID, &id); err != nil {
		return olm.Ed25519PublicKey{}, err
	}
	s := id.Master
	switch u {
	case crossign.UsageSelfSigning:
		s = id.SelfSigning
	case crossign.UsageUserSigning:
		s = id.UserSigning
	}
	if s == "" {
		return olm.Ed25519PublicKey{}, fmt.Errorf("%w: our published %s key is unknown", ErrNotFound, u)
	}
	k, err := olm.ParseEd25519PublicKey(s)
	if err != nil {
		return olm.Ed25519PublicKey{}, fmt.Errorf("%w: our %s key", ErrCorruptedStore, u)
	}
	return k, nil
}

// secretStoragePuts returns the account data PUTs that store the named
// secrets we hold in secret storage, encrypted to key (the open key if
// nil); nil if secret storage is not open. With check, a secret that
// is stale is left out (see currentSecret).
func (t *txn) secretStoragePuts(key *keybackup.SecretStorageKey, names []string, check bool) ([]AccountDataPut, error) {
	return t.secretStoragePutsOf(key, names, func(name string) (string, bool, error) {
		var value string
		ok, err := t.getValue(NSSecrets, name, &value)
		if err != nil || !ok {
			return "", false, err
		}
		if check {
			if ok, err := t.currentSecret(name, value); err != nil || !ok {
				return "", false, err
			}
		}
		return value, true, nil
	})
}

// secretStoragePutsOf is secretStoragePuts with the values that get
// gives (ok false: left out), such as the keys of a pending bootstrap or
// backup.
func (t *txn) secretStoragePutsOf(key *keybackup.SecretStorageKey, names []string, get func(name string) (string, bool, error)) ([]AccountDataPut, error) {
	if key == nil {
		key = t.m.ssKey
	}
	if key == nil {
		return nil, nil
	}
	var out []AccountDataPut
	for _, name := range names {
		value, ok, err := get(name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		es, err := key.Encrypt(name, []byte(value))
		if err != nil {
			return nil, err
		}
		p, err := t.accountDataPut(name, keybackup.SecretContent{Encrypted: map[string]*keybackup.EncryptedSecret{key.ID(): es}})
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// currentSecret reports whether a secret we hold is the current one, fit
// to write over what secret storage holds: a cross-signing key only if it
// gives our published public key (the master key: the pinned one, with no
// identity change pending), the backup key only if it is the key of the
// backup version set, if any. A device that kept the keys of an identity
// reset elsewhere, or of an older backup, would otherwise overwrite the
// current keys in secret storage with them.
func (t *txn) currentSecret(name, value string) (bool, error) {
	if name == keybackup.SecretMegolmBackup {
		var b backupState
		ok, err := t.getValue(NSValues, "backup", &b)
		if err != nil || !ok {
			return err == nil, err
		}
		k, err := keybackup.ParseBackupKey(value)
		if err != nil {
			return false, nil
		}
		defer k.Close()
		return k.PublicKey().String() == b.PublicKey, nil
	}
	var u crossign.Usage
	switch name {
	case keybackup.SecretCrossSigningMaster:
		u = crossign.UsageMaster
	case keybackup.SecretCrossSigningSelfSigning:
		u = crossign.UsageSelfSigning
	case keybackup.SecretCrossSigningUserSigning:
		u = crossign.UsageUserSigning
	default:
		return true, nil
	}
	var id identityState
	if _, err := t.getValue(NSIdentities, t.m.userID, &id); err != nil {
		return false, err
	}
	if id.Changed {
		return false, nil
	}
	want, err := t.publishedKey(u)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	k, err := crossign.ParsePrivateKey(u, value)
	if err != nil {
		return false, nil
	}
	defer k.Close()
	return k.PublicKey() == want, nil
}

// SecretStorageAccountData returns the account data PUTs that store the
// secrets this device holds among m.cross_signing.master,
// m.cross_signing.self_signing, m.cross_signing.user_signing,
// m.megolm_backup.v1 and the dehydration key (m.dehydrated_device and
// org.matrix.msc3814) in secret storage, each encrypted to the open
// default key only (an encryption of the secret under another key is
// replaced). Only current secrets are written: a cross-signing key only
// if it gives our published public key (and no change of our identity
// waits for AcceptIdentity), the backup key only if it is the key of the
// backup version set (if one is), so that stale keys kept by this device
// never replace the current ones; no cross-signing key while a bootstrap
// waits for ConfirmCrossSigningUpload. The error wraps ErrSecretStorageClosed
// if secret storage is not open.
func (m *Machine) SecretStorageAccountData(ctx context.Context) ([]AccountDataPut, error) {
	var out []AccountDataPut
	err := m.view(ctx, func(t *txn) error {
		if t.m.ssKey == nil {
			return ErrSecretStorageClosed
		}
		names := storedSecrets
		if pending, err := t.bootstrapPending(); err != nil {
			return err
		} else if pending {
			// The bootstrap's keys are not on the server yet: they must
			// not replace the published identity's keys (the bootstrap
			// returned its own writes, to send after its upload). The
			// others (backup and dehydration keys) go as usual.
			names = storedSecrets[len(crossSigningSecrets):]
		}
		var err error
		out, err = t.secretStoragePuts(nil, names, true)
		return err
	})
	return out, err
}

// NewSecretStorage is a secret storage key made by CreateSecretStorage.
type NewSecretStorage struct {
	// KeyID is the new key's ID.
	KeyID string
	// RecoveryKey is the key as a recovery key, for the user to keep. It
	// is secret.
	RecoveryKey string
	// AccountData holds, in order, the PUTs of the key's description
	// (m.secret_storage.key.<ID>), of the secrets we hold encrypted to it,
	// and last of m.secret_storage.default_key, which makes it the
	// default: send them in this order, so that the default key never
	// names a key without its description or secrets.
	AccountData []AccountDataPut
}

// String describes the new key by its ID, never printing the recovery key.
func (n NewSecretStorage) String() string {
	return "machine.NewSecretStorage{key: " + n.KeyID + ", recovery key: <secret>}"
}

// GoString is String, so that %#v does not print the recovery key either.
func (n NewSecretStorage) GoString() string { return n.String() }

// Format writes String for every verb and flag.
func (n NewSecretStorage) Format(f fmt.State, verb rune) { fmt.Fprint(f, n.String()) }

// LogValue describes the new key for log/slog as String does.
func (n NewSecretStorage) LogValue() slog.Value { return slog.StringValue(n.String()) }

// MarshalJSON encodes the key ID and account data, never the recovery key.
func (n NewSecretStorage) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		KeyID       string
		AccountData []AccountDataPut
	}{n.KeyID, n.AccountData})
}

// CreateSecretStorage makes a new secret storage key, from passphrase (with
// a fresh salt and keybackup.MinPBKDF2Iterations iterations) or random if
// passphrase is "", opens it, and returns the account data that makes it
// the default key and stores our current secrets under it (as
// SecretStorageAccountData chooses them). The machine keeps
// nothing of the account data until it comes back through
// ReceiveAccountData (the homeserver is the source of truth).
func (m *Machine) CreateSecretStorage(ctx context.Context, passphrase string) (*NewSecretStorage, error) {
	var key *keybackup.SecretStorageKey
	var err error
	if passphrase == "" {
		key, err = keybackup.GenerateSecretStorageKey("")
	} else {
		key, err = keybackup.NewSecretStorageKeyFromPassphrase("", passphrase, 0)
	}
	if err != nil {
		return nil, err
	}
	out := &NewSecretStorage{KeyID: key.ID(), RecoveryKey: key.RecoveryKey()}
	err = m.update(ctx, func(t *txn) error {
		out.AccountData = nil
		p, err := t.accountDataPut(AccountDataKeyPrefix+key.ID(), key.Description())
		if err != nil {
			return err
		}
		puts, err := t.secretStoragePuts(key, storedSecrets, true)
		if err != nil {
			return err
		}
		d, err := t.accountDataPut(AccountDataDefaultKey, map[string]string{"key": key.ID()})
		if err != nil {
			return err
		}
		out.AccountData = append(append([]AccountDataPut{p}, puts...), d)
		return nil
	})
	if err != nil {
		key.Close()
		return nil, err
	}
	m.setSecretStorageKey(key)
	return out, nil
}

// RequestMissingSecrets asks our other devices (m.secret.request) for each
// of m.cross_signing.master, m.cross_signing.self_signing,
// m.cross_signing.user_signing and m.megolm_backup.v1 that this device
// does not hold and has not asked for yet, as RequestSecret does, and
// returns their names. Only answers from our own verified devices are
// accepted, and cross-signing keys only when they match our published
// public keys: a new device calls it once it is verified, instead of
// opening secret storage. Without another device of ours known from
// /keys/query it asks for nothing.
func (m *Machine) RequestMissingSecrets(ctx context.Context) ([]string, error) {
	var out []string
	err := m.update(ctx, func(t *txn) error {
		out = nil
		if ok, err := t.hasOtherOwnDevices(); err != nil || !ok {
			return err
		}
		for _, name := range gossipedSecrets {
			var v string
			ok, err := t.getValue(NSSecrets, name, &v)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
			asked, err := t.requestSecret(name)
			if err != nil {
				return err
			}
			if asked {
				out = append(out, name)
			}
		}
		return nil
	})
	return out, err
}
