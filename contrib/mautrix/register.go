package mautrix

import (
	"maunium.net/go/mautrix/crypto/olm"
)

// DriverName is the name Register gives olm.Driver; mautrix-go logs it when
// an OlmMachine loads.
const DriverName = "souverain"

// Register installs this driver in maunium.net/go/mautrix/crypto/olm, as
// goolm.Register and libolm.Register do: from then on olm.NewAccount,
// olm.SessionFromPickled, olm.NewOutboundGroupSession and the other
// constructors of that package, and so mautrix-go's OlmMachine and crypto
// store, make souverain objects. Call it once at start-up, after importing
// maunium.net/go/mautrix/crypto (whose init registers libolm, or goolm with
// the goolm build tag) and before creating an OlmMachine.
//
// The pickles in an existing crypto store, written by libolm or goolm, open
// with this driver, and the store stays readable by them.
func Register() {
	olm.Driver = DriverName
	olm.SetPickleKeyImpl = func(key []byte) {
		panic("souverain: olm.SetPickleKey is for the gob and JSON encodings that mautrix-go deprecated; the souverain driver, like goolm, does not support them")
	}

	olm.InitNewAccount = func() (olm.Account, error) {
		a, err := NewAccount()
		if err != nil {
			return nil, err
		}
		return a, nil
	}
	olm.InitBlankAccount = func() olm.Account { return NewBlankAccount() }
	olm.InitNewAccountFromPickled = func(pickled, key []byte) (olm.Account, error) {
		a, err := AccountFromPickled(pickled, key)
		if err != nil {
			return nil, err
		}
		return a, nil
	}

	olm.InitSessionFromPickled = func(pickled, key []byte) (olm.Session, error) {
		s, err := SessionFromPickled(pickled, key)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	olm.InitNewBlankSession = func() olm.Session { return NewBlankSession() }

	olm.InitNewPKSigning = func() (olm.PKSigning, error) {
		p, err := NewPKSigning()
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	olm.InitNewPKSigningFromSeed = func(seed []byte) (olm.PKSigning, error) {
		p, err := NewPKSigningFromSeed(seed)
		if err != nil {
			return nil, err
		}
		return p, nil
	}

	olm.InitInboundGroupSessionFromPickled = func(pickled, key []byte) (olm.InboundGroupSession, error) {
		s, err := InboundGroupSessionFromPickled(pickled, key)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	olm.InitNewInboundGroupSession = func(sessionKey []byte) (olm.InboundGroupSession, error) {
		s, err := NewInboundGroupSession(sessionKey)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	olm.InitInboundGroupSessionImport = func(sessionKey []byte) (olm.InboundGroupSession, error) {
		s, err := InboundGroupSessionImport(sessionKey)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	olm.InitBlankInboundGroupSession = func() olm.InboundGroupSession { return NewBlankInboundGroupSession() }

	olm.InitNewOutboundGroupSessionFromPickled = func(pickled, key []byte) (olm.OutboundGroupSession, error) {
		s, err := OutboundGroupSessionFromPickled(pickled, key)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	olm.InitNewOutboundGroupSession = func() (olm.OutboundGroupSession, error) {
		s, err := NewOutboundGroupSession()
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	olm.InitNewBlankOutboundGroupSession = func() olm.OutboundGroupSession { return NewBlankOutboundGroupSession() }
}
