package olm

// Test hooks: the deterministic twins of the random constructors.

var (
	NewAccountFromRandom = newAccount
)

func (a *Account) GenerateOneTimeKeysFromRandom(random []byte) error {
	return a.generateOneTimeKeys(random)
}

func (a *Account) GenerateFallbackKeyFromRandom(random []byte) error {
	return a.generateFallbackKey(random)
}

func (a *Account) NewOutboundSessionFromRandom(config SessionConfig, theirIdentityKey, theirOneTimeKey Curve25519PublicKey, random []byte) (*Session, error) {
	return newOutboundSession(config, &a.identity, theirIdentityKey, theirOneTimeKey, random)
}

func (s *Session) EncryptFromRandom(plaintext, random []byte) (Message, error) {
	return s.encrypt(plaintext, random)
}

func (s *Session) NumSkippedKeys() int    { return len(s.skipped) }
func (s *Session) NumReceiverChains() int { return len(s.receivers) }
func (a *Account) NumOneTimeKeys() int    { return len(a.oneTimeKeys) }

func (a *Account) NumPreKeyRecords() int { return len(a.usedPreKeys) }
