// Package crossign implements Matrix cross-signing: the master,
// self-signing and user-signing keys that let users vouch for their own
// devices and for each other, and the trust decisions built on them.
//
// # Keys and uploads
//
// GenerateKeys creates a user's three private keys. PrivateKeys.PublicKey
// and PrivateKeys.DeviceSigningUpload give the public key objects and the
// body of /keys/device_signing/upload; SignDevice (our own device, with the
// self-signing key), SignUser (another user's master key, with the
// user-signing key) and SignMasterKeyWithDevice produce the objects of
// /keys/signatures/upload, collected in a SignatureUpload. Private keys are
// stored as secret storage keeps them: PrivateKey.Secret and
// ParsePrivateKey, under the names Usage.SecretName gives.
//
// # Trust
//
// ParseQueryResponse reads a /keys/query response, and Verifier.Evaluate
// answers, for each user and device in it, whether the device is signed by
// its owner's self-signing key (DeviceTrust.CrossSigned), whether we trust
// the owner's master key (UserTrust.Verified), and if not, why: each reason
// is an error wrapping one of this package's sentinels (ErrMissingSignature,
// ErrBadSignature, ErrWrongSigner, ErrWrongUsage, ErrWrongUserID,
// ErrKeyIDMismatch, ErrKeyConfusion, ErrIdentityChanged, ErrNotVerified,
// ErrOwnIdentityNotVerified, ...). Verifier documents the rules. A user is
// never verified because of what the server says alone: the chain must
// start at our own master key, which we trust only if we hold its private
// key or one of our own verified devices signed it.
//
// Parsing is strict: objects must be canonical-JSON-compatible (no
// duplicate member names, integers in range only), public keys canonical
// unpadded base64, signatures canonical and non-malleable. The signed-JSON
// layer underneath is package signedjson.
//
// Specification: https://spec.matrix.org/latest/client-server-api/#cross-signing
package crossign
