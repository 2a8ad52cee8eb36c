// Package machine is souverain's end-to-end encryption engine: the layer a
// Matrix client or bot embeds to encrypt and decrypt without writing the
// protocol glue (Olm session selection, m.room_key handling, replay and room
// checks, key upload and tracking) itself.
//
// It is sans I/O, like matrix-rust-sdk's OlmMachine and this module's
// sas.Machine: it never does HTTP. The caller feeds it what /sync returned
// (Machine.ReceiveSync), sends the requests it asks for (Machine.OutgoingRequests,
// Machine.ShareRoomKey) with any HTTP client, and hands each response back
// (Machine.MarkRequestSent). Request and response bodies are the
// specification's JSON.
//
// State lives in a Store (see machine/memstore and machine/storetest), in
// records encrypted under a pickle key the caller supplies; one /sync batch
// is one store transaction, so a crash leaves the state before or after it.
package machine
