// Package mautrix is an Olm driver for mautrix-go (maunium.net/go/mautrix),
// the library most Go Matrix bots and bridges are built on: it implements
// the interfaces of maunium.net/go/mautrix/crypto/olm (Account, Session,
// InboundGroupSession, OutboundGroupSession, PKSigning) with souverain's
// olm and megolm packages, so that a mautrix-go program switches from
// libolm (cgo) or goolm to souverain with one import and one call:
//
//	import souverain "github.com/souverain/e2ee/contrib/mautrix"
//
//	func main() {
//		souverain.Register()
//		// cryptohelper.NewCryptoHelper, crypto.NewOlmMachine... as before
//	}
//
// Objects are stored in libolm's pickle formats, as mautrix-go's SQL crypto
// store expects, byte for byte as libolm writes them: a store written with
// libolm or goolm opens with this driver, and the other way round. Errors
// wrap the sentinels of maunium.net/go/mautrix/crypto/olm that libolm's
// driver returns for the same condition (olm.ErrUnknownMessageIndex,
// olm.ErrBadMAC, olm.ErrBadSignature, ...) and souverain's own sentinels, so
// errors.Is works with either.
//
// Every type is safe for concurrent use, as it must be: mautrix-go calls
// an OlmMachine's account from Olm decryption, key upload and signing under
// different locks of its own or none, and exports group sessions outside
// the lock it decrypts them under (the README's "Concurrency" lists the
// paths). The driver works with mautrix-go v0.32 and v0.33.
//
// Differences from libolm's driver, all on paths mautrix-go does not take,
// are listed in the README. The main one: Account.NewInboundSessionFrom
// authenticates and decrypts the pre-key message at once (souverain creates
// an inbound session only together with its first message) and keeps the
// plaintext for the session's first Decrypt; the account keeps the one-time
// key until RemoveOneTimeKeys, as with libolm.
package mautrix
