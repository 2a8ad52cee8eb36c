// Harness for the keybackup interop tests (interop/keybackup_test.go): it
// drives Element's crypto stack (matrix-rust-sdk via
// @matrix-org/matrix-sdk-crypto-wasm) to write and to restore server-side
// key backups (m.megolm_backup.v1.curve25519-aes-sha2) and key export
// files. It reads one JSON request on stdin and writes one JSON answer on
// stdout; the mode is the first argument.
//
//   write          {backup_public_key, room_id, messages: [text]}
//                  Element creates a room key, encrypts the messages, and
//                  backs the key up to the given public key. Answers
//                  {rooms_body, events: [content], curve25519, ed25519,
//                  random_key: {private, public}} (random_key is a backup
//                  key Element made, to check our key derivation).
//   read           {backup_private_key, backup_public_key, rooms_body,
//                  room_id, events: [event]}
//                  Element decrypts every session_data with the private
//                  key, imports the sessions and decrypts the events.
//                  Answers {decrypted_sessions: [json], imported, total,
//                  plaintexts: [text]}.
//   export-write   {passphrase, rounds, room_id, messages: [text]}
//                  Element exports its room keys to a key export file.
//                  Answers {file, events: [content]}.
//   export-read    {passphrase, file, room_id, events: [event]}
//                  Element imports a key export file and decrypts the
//                  events. Answers {imported, total, plaintexts: [text]}.
import * as sdk from "@matrix-org/matrix-sdk-crypto-wasm";

const USER = "@alice:example.org";

async function readStdin() {
    const chunks = [];
    for await (const c of process.stdin) chunks.push(c);
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function newMachine(deviceId) {
    return sdk.OlmMachine.initialize(new sdk.UserId(USER), new sdk.DeviceId(deviceId));
}

// encryptMessages shares a room key (with nobody) and encrypts texts with it.
async function encryptMessages(m, roomId, texts) {
    const room = new sdk.RoomId(roomId);
    await m.shareRoomKey(room, [], new sdk.EncryptionSettings());
    const events = [];
    for (const body of texts) {
        const content = await m.encryptRoomEvent(room, "m.room.message", JSON.stringify({ msgtype: "m.text", body }));
        events.push(JSON.parse(content));
    }
    return events;
}

// decryptEvents decrypts full m.room.encrypted events.
async function decryptEvents(m, roomId, events) {
    const room = new sdk.RoomId(roomId);
    const settings = new sdk.DecryptionSettings(sdk.TrustRequirement.Untrusted);
    const out = [];
    for (const ev of events) {
        const d = await m.decryptRoomEvent(JSON.stringify(ev), room, settings);
        out.push(JSON.parse(d.event).content.body);
    }
    return out;
}

const modes = {
    async write(req) {
        const m = await newMachine("ELEMENTW");
        const events = await encryptMessages(m, req.room_id, req.messages);
        await m.enableBackupV1(req.backup_public_key, "1");
        const r = await m.backupRoomKeys();
        if (!r) throw new Error("no backup request");
        const ids = m.identityKeys;
        const random = sdk.BackupDecryptionKey.createRandomKey();
        return {
            rooms_body: r.body,
            events,
            curve25519: ids.curve25519.toBase64(),
            ed25519: ids.ed25519.toBase64(),
            random_key: { private: random.toBase64(), public: random.megolmV1PublicKey.publicKeyBase64 },
        };
    },

    async read(req) {
        const key = sdk.BackupDecryptionKey.fromBase64(req.backup_private_key);
        if (key.megolmV1PublicKey.publicKeyBase64 !== req.backup_public_key) {
            throw new Error("public key mismatch: " + key.megolmV1PublicKey.publicKeyBase64);
        }
        const rooms = JSON.parse(req.rooms_body).rooms;
        const decrypted = new Map();
        const texts = [];
        for (const [roomId, room] of Object.entries(rooms)) {
            const sessions = new Map();
            for (const [sessionId, data] of Object.entries(room.sessions)) {
                const sd = data.session_data;
                const json = key.decryptV1(sd.ephemeral, sd.mac, sd.ciphertext);
                texts.push(json);
                sessions.set(sessionId, JSON.parse(json));
            }
            decrypted.set(new sdk.RoomId(roomId), sessions);
        }
        const m = await newMachine("ELEMENTR");
        const result = await m.importBackedUpRoomKeys(decrypted, undefined, "1");
        const plaintexts = await decryptEvents(m, req.room_id, req.events);
        return { decrypted_sessions: texts, imported: result.importedCount, total: result.totalCount, plaintexts };
    },

    async "export-write"(req) {
        const m = await newMachine("ELEMENTX");
        const events = await encryptMessages(m, req.room_id, req.messages);
        const keys = await m.exportRoomKeys(() => true);
        const file = sdk.OlmMachine.encryptExportedRoomKeys(keys, req.passphrase, req.rounds);
        return { file, events };
    },

    async "export-read"(req) {
        const json = sdk.OlmMachine.decryptExportedRoomKeys(req.file, req.passphrase);
        const m = await newMachine("ELEMENTI");
        const result = await m.importExportedRoomKeys(json, () => {});
        const plaintexts = await decryptEvents(m, req.room_id, req.events);
        return { imported: result.importedCount, total: result.totalCount, plaintexts };
    },
};

const mode = modes[process.argv[2]];
if (!mode) {
    console.error("usage: node backup.mjs write|read|export-write|export-read < request.json");
    process.exit(2);
}
await sdk.initAsync();
const answer = await mode(await readStdin());
process.stdout.write(JSON.stringify(answer));
