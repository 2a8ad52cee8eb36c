package olm

// Test hooks: the deterministic twins of the random constructors.

var (
	NewAccountFromRandom = newAccount
)

func (a *Account) GenerateOneTimeKeysFromRandom(random []byte) error {
	st, _ := a.lock("test")
	defer st.mu.Unlock()
	return st.generateOneTimeKeys(random)
}

func (a *Account) GenerateFallbackKeyFromRandom(random []byte) error {
	st, _ := a.lock("test")
	defer st.mu.Unlock()
	return st.generateFallbackKey(random)
}

func (a *Account) NewOutboundSessionFromRandom(config SessionConfig, theirIdentityKey, theirOneTimeKey Curve25519PublicKey, random []byte) (*Session, error) {
	st, _ := a.lock("test")
	defer st.mu.Unlock()
	return newOutboundSession(config, &st.identity, theirIdentityKey, theirOneTimeKey, random)
}

func (s *Session) EncryptFromRandom(plaintext, random []byte) (Message, error) {
	st, _ := s.lock("test")
	defer st.mu.Unlock()
	return st.encrypt(plaintext, random)
}

func (s *Session) NumSkippedKeys() int    { return len(s.st.skipped) }
func (s *Session) NumReceiverChains() int { return len(s.st.receivers) }
func (a *Account) NumOneTimeKeys() int    { return len(a.st.oneTimeKeys) }
func (a *Account) NumPreKeyRecords() int  { return len(a.st.usedPreKeys) }
