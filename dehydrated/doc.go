// Package dehydrated implements dehydrated devices (MSC3814): a device that
// lives on the homeserver, encrypted under a key only the user holds, and
// collects the room keys sent to the user while none of their devices is
// online. Element X and Element Web create one, so that history sent while
// every device was off is not lost.
//
// A client creates one with NewDevice, uploads the body of
// UploadRequest with PUT /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device,
// and keeps the Key in secret storage under SecretName (KeyFromSecret reads
// it back). Later, another of the user's devices downloads the device (GET
// on the same path), opens it with Rehydrate, fetches the to-device events
// it collected (POST …/dehydrated_device/{device_id}/events) and feeds them
// to Rehydrated.ReceiveEvents, which decrypts them and hands over the room
// keys with their sender keys. The device is then replaced by a new one.
//
// The device_data formats are those of Element's crypto stack
// (matrix-rust-sdk with vodozemac): org.matrix.msc3814.v2 (AlgorithmV2, the
// default: vodozemac's dehydrated-device pickle under ChaCha20-Poly1305, see
// olm.Account.Dehydrate) and the older org.matrix.msc3814.v1.olm
// (AlgorithmV1: a libolm account pickle under a key expanded with HKDF and
// the device ID). Both are read; both can be written.
//
// An account unpickled from libolm keeps only an expanded Ed25519 key and
// cannot be dehydrated (ErrNotDehydratable); dehydrated devices are always
// made from a fresh account, as matrix-rust-sdk does.
//
// The package is sans I/O: it builds request bodies and reads response
// bodies; the caller does the HTTP.
package dehydrated
