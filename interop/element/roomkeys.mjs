// Harness that drives Element's crypto stack (matrix-rust-sdk's OlmMachine
// with vodozemac, through @matrix-org/matrix-sdk-crypto-wasm) for
// souverain's Olm and Megolm interop tests (interop/roomkeys_element_test.go).
//
// Protocol: one JSON object per line on stdin, {"id": n, "cmd": "...", ...};
// one JSON object per line on stdout, {"id": n, "ok": true, ...} or
// {"id": n, "ok": false, "error": "..."}. The Go test plays the homeserver:
// it asks for the machine's outgoing requests, answers them, and feeds
// to-device events in through "sync". Nothing here touches the network.

import * as readline from "node:readline";
import * as sdk from "@matrix-org/matrix-sdk-crypto-wasm";

await sdk.initAsync();

let machine;
// The encryption settings of each room: the OlmMachine rotates a room's
// session when the settings change, so a room keeps the same object.
const roomSettings = new Map();

function send(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

const requestTypes = {
    [sdk.RequestType.KeysUpload]: "keys_upload",
    [sdk.RequestType.KeysQuery]: "keys_query",
    [sdk.RequestType.KeysClaim]: "keys_claim",
    [sdk.RequestType.ToDevice]: "to_device",
    [sdk.RequestType.SignatureUpload]: "signature_upload",
    [sdk.RequestType.RoomMessage]: "room_message",
    [sdk.RequestType.KeysBackup]: "keys_backup",
};
const requestTypeByName = Object.fromEntries(Object.entries(requestTypes).map(([k, v]) => [v, Number(k)]));

// describe turns an outgoing request into plain JSON for the Go side.
function describe(r) {
    if (r === undefined || r === null) return null;
    const out = { id: r.id, type: requestTypes[r.type] };
    if (r.body !== undefined) out.body = JSON.parse(r.body);
    if (r.event_type !== undefined) out.event_type = r.event_type;
    if (r.txn_id !== undefined) out.txn_id = r.txn_id;
    return out;
}

function settingsFor(room, rotationMessages) {
    let s = roomSettings.get(room);
    if (!s) {
        s = new sdk.EncryptionSettings();
        if (rotationMessages) s.rotationPeriodMessages = BigInt(rotationMessages);
        // Share with every device, verified or not: the test's device is
        // known through keys/query but not verified.
        s.sharingStrategy = sdk.CollectStrategy.allDevices();
        roomSettings.set(room, s);
    }
    return s;
}

function processed(p) {
    const out = { type: p.type, raw: p.rawEvent ? JSON.parse(p.rawEvent) : null };
    if (p.type === sdk.ProcessedToDeviceEventType.Decrypted) {
        out.sender_curve25519_key = p.encryptionInfo.senderCurve25519Key;
        out.sender_device = p.encryptionInfo.senderDevice ? p.encryptionInfo.senderDevice.toString() : null;
    }
    if (p.type === sdk.ProcessedToDeviceEventType.UnableToDecrypt) {
        out.utd_reason = p.utdInfo.reason;
    }
    return out;
}

const handlers = {
    async init(msg) {
        machine = await sdk.OlmMachine.initialize(new sdk.UserId(msg.user), new sdk.DeviceId(msg.device));
        roomSettings.clear();
        const v = sdk.getVersions();
        return {
            ed25519: machine.identityKeys.ed25519.toBase64(),
            curve25519: machine.identityKeys.curve25519.toBase64(),
            versions: { matrix_sdk_crypto: v.matrix_sdk_crypto, vodozemac: v.vodozemac },
        };
    },
    async outgoing() {
        const reqs = await machine.outgoingRequests();
        return { requests: reqs.map(describe) };
    },
    async mark_sent(msg) {
        await machine.markRequestAsSent(msg.request_id, requestTypeByName[msg.type], JSON.stringify(msg.response));
        return {};
    },
    async track(msg) {
        await machine.updateTrackedUsers(msg.users.map((u) => new sdk.UserId(u)));
        return {};
    },
    async sync(msg) {
        const changed = new sdk.DeviceLists((msg.changed || []).map((u) => new sdk.UserId(u)), []);
        const res = await machine.receiveSyncChanges(
            JSON.stringify(msg.events || []),
            changed,
            new Map(Object.entries(msg.one_time_key_counts || {})),
            new Set(),
        );
        return { processed: res.map(processed) };
    },
    // missing_sessions returns the keys/claim request the machine needs
    // before it can share a room key with the users, or null.
    async missing_sessions(msg) {
        const r = await machine.getMissingSessions(msg.users.map((u) => new sdk.UserId(u)));
        return { request: describe(r) };
    },
    // share_room_key shares the room's current Megolm session (creating or
    // rotating it as needed) and returns the to-device requests; the
    // caller delivers them and marks them sent.
    async share_room_key(msg) {
        const reqs = await machine.shareRoomKey(
            new sdk.RoomId(msg.room),
            msg.users.map((u) => new sdk.UserId(u)),
            settingsFor(msg.room, msg.rotation_messages),
        );
        return { requests: reqs.map(describe) };
    },
    async invalidate(msg) {
        return { invalidated: await machine.invalidateGroupSession(new sdk.RoomId(msg.room)) };
    },
    async encrypt(msg) {
        const content = await machine.encryptRoomEvent(new sdk.RoomId(msg.room), msg.type, JSON.stringify(msg.content));
        return { content: JSON.parse(content) };
    },
    // decrypt decrypts a room event; a refusal is an answer, not an error.
    async decrypt(msg) {
        try {
            const d = await machine.decryptRoomEvent(
                JSON.stringify(msg.event),
                new sdk.RoomId(msg.room),
                new sdk.DecryptionSettings(sdk.TrustRequirement.Untrusted),
            );
            return {
                decrypted: true,
                event: JSON.parse(d.event),
                sender: d.sender.toString(),
                sender_device: d.senderDevice ? d.senderDevice.toString() : null,
                sender_curve25519_key: d.senderCurve25519Key,
                sender_claimed_ed25519_key: d.senderClaimedEd25519Key ?? null,
            };
        } catch (e) {
            if (e instanceof sdk.MegolmDecryptionError) {
                return { decrypted: false, code: e.code, description: e.description };
            }
            throw e;
        }
    },
    // encrypt_to_device Olm-encrypts a to-device event for one device on
    // the machine's existing session with it.
    async encrypt_to_device(msg) {
        const d = await machine.getDevice(new sdk.UserId(msg.user), new sdk.DeviceId(msg.device));
        if (!d) throw new Error(`device ${msg.user} ${msg.device} unknown`);
        const content = await d.encryptToDeviceEvent(msg.type, msg.content, sdk.CollectStrategy.allDevices());
        return { content: JSON.parse(content) };
    },
    // export returns the machine's room keys for a room, as a key export
    // file holds them before encryption.
    async export(msg) {
        const keys = await machine.exportRoomKeys((s) => s.roomId.toString() === msg.room);
        return { keys: JSON.parse(keys) };
    },
    async exit() {
        setImmediate(() => process.exit(0));
        return {};
    },
};

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
    if (!line.trim()) continue;
    let msg;
    try {
        msg = JSON.parse(line);
        const h = handlers[msg.cmd];
        if (!h) throw new Error(`unknown command ${msg.cmd}`);
        const res = await h(msg);
        send({ id: msg.id, ok: true, ...res });
    } catch (e) {
        send({ id: msg ? msg.id : null, ok: false, error: String((e && e.stack) || e) });
    }
}
