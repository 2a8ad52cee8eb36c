// Harness that drives Element's crypto stack (matrix-rust-sdk's OlmMachine
// with vodozemac, through @matrix-org/matrix-sdk-crypto-wasm) for the
// interop tests of the machine's trust and key management
// (interop/trust_element_test.go): cross-signing, SAS verification, and
// server-side key backup.
//
// Protocol: one JSON object per line on stdin, {"id": n, "cmd": "...", ...};
// one JSON object per line on stdout, {"id": n, "ok": true, ...} or
// {"id": n, "ok": false, "error": "..."}. The Go test plays the homeserver
// (internal/fakehs): it asks for the machine's outgoing requests, sends
// them to the fake server, marks them sent with its answers, and feeds
// to-device events in through "sync". Nothing here touches the network.
//
// The wasm bindings have no recovery key codec (matrix-js-sdk decodes
// recovery keys in JavaScript): decodeRecoveryKey below follows
// matrix-js-sdk's, and BackupDecryptionKey.fromBase64 takes the result.

import * as readline from "node:readline";
import * as sdk from "@matrix-org/matrix-sdk-crypto-wasm";

await sdk.initAsync();

let machine;
const roomSettings = new Map();
const requests = new Map();
const sases = new Map();

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
    const out = { id: r.id ?? null, type: requestTypes[r.type] };
    if (r.body !== undefined) out.body = JSON.parse(r.body);
    if (r.event_type !== undefined) out.event_type = r.event_type;
    if (r.txn_id !== undefined) out.txn_id = r.txn_id;
    if (r.version !== undefined) out.version = r.version;
    if (r.room_id !== undefined) out.room_id = r.room_id;
    return out;
}

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

// decodeRecoveryKey is matrix-js-sdk's decodeRecoveryKey: base58 (bitcoin
// alphabet, spaces ignored), then the prefix 0x8b 0x01, 32 key bytes and a
// parity byte that makes the XOR of all bytes zero.
function decodeRecoveryKey(s) {
    s = s.replace(/ /g, "");
    let n = 0n;
    for (const c of s) {
        const d = BASE58.indexOf(c);
        if (d < 0) throw new Error("recovery key: bad character");
        n = n * 58n + BigInt(d);
    }
    const bytes = [];
    while (n > 0n) {
        bytes.unshift(Number(n % 256n));
        n /= 256n;
    }
    for (const c of s) {
        if (c !== "1") break;
        bytes.unshift(0);
    }
    let parity = 0;
    for (const b of bytes) parity ^= b;
    if (parity !== 0) throw new Error("recovery key: bad parity");
    if (bytes[0] !== 0x8b || bytes[1] !== 0x01) throw new Error("recovery key: bad prefix");
    if (bytes.length !== 2 + 32 + 1) throw new Error("recovery key: bad length");
    return Uint8Array.from(bytes.slice(2, 34));
}

function settingsFor(room) {
    let s = roomSettings.get(room);
    if (!s) {
        s = new sdk.EncryptionSettings();
        s.sharingStrategy = sdk.CollectStrategy.allDevices();
        roomSettings.set(room, s);
    }
    return s;
}

function findRequest(msg) {
    const r = machine.getVerificationRequest(new sdk.UserId(msg.user), msg.flow_id);
    if (r) requests.set(msg.flow_id, r);
    return requests.get(msg.flow_id);
}

function verificationRequest(msg) {
    const r = findRequest(msg);
    if (!r) throw new Error(`no verification request ${msg.flow_id} with ${msg.user}`);
    return r;
}

function findSas(msg) {
    const v = machine.getVerification(new sdk.UserId(msg.user), msg.flow_id);
    if (v instanceof sdk.Sas) sases.set(msg.flow_id, v);
    return sases.get(msg.flow_id);
}

function sasOf(msg) {
    const v = findSas(msg);
    if (!v) throw new Error(`no SAS verification ${msg.flow_id} with ${msg.user}`);
    return v;
}

function cancelInfo(ci) {
    if (!ci) return null;
    return { code: ci.cancelCode(), reason: ci.reason(), by_us: ci.cancelledbyUs() };
}

function crossSigningStatus(st) {
    return { has_master: st.hasMaster, has_self_signing: st.hasSelfSigning, has_user_signing: st.hasUserSigning };
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
        return { processed: res.map((p) => ({ type: p.type, raw: p.rawEvent ? JSON.parse(p.rawEvent) : null })) };
    },
    async missing_sessions(msg) {
        const r = await machine.getMissingSessions(msg.users.map((u) => new sdk.UserId(u)));
        return { request: describe(r) };
    },
    async share_room_key(msg) {
        const reqs = await machine.shareRoomKey(new sdk.RoomId(msg.room), msg.users.map((u) => new sdk.UserId(u)), settingsFor(msg.room));
        return { requests: reqs.map(describe) };
    },
    async encrypt(msg) {
        const content = await machine.encryptRoomEvent(new sdk.RoomId(msg.room), msg.type, JSON.stringify(msg.content));
        return { content: JSON.parse(content) };
    },
    // decrypt decrypts a room event; a refusal is an answer, not an error.
    async decrypt(msg) {
        try {
            const d = await machine.decryptRoomEvent(JSON.stringify(msg.event), new sdk.RoomId(msg.room),
                new sdk.DecryptionSettings(sdk.TrustRequirement.Untrusted));
            return { decrypted: true, event: JSON.parse(d.event), sender_device: d.senderDevice ? d.senderDevice.toString() : null };
        } catch (e) {
            if (e instanceof sdk.MegolmDecryptionError) return { decrypted: false, code: e.code, description: e.description };
            throw e;
        }
    },

    // Cross-signing.
    async bootstrap_cross_signing() {
        const r = await machine.bootstrapCrossSigning(true);
        return {
            upload_keys: r.uploadKeysRequest ? describe(r.uploadKeysRequest) : null,
            upload_signing_keys: JSON.parse(r.uploadSigningKeysRequest.body),
            upload_signatures: JSON.parse(r.uploadSignaturesRequest.body),
        };
    },
    // import_cross_signing imports private cross-signing keys (unpadded
    // base64 seeds), as Element does from secret storage.
    async import_cross_signing(msg) {
        const st = await machine.importCrossSigningKeys(msg.master ?? null, msg.self_signing ?? null, msg.user_signing ?? null);
        return crossSigningStatus(st);
    },
    async cross_signing_status() {
        return crossSigningStatus(await machine.crossSigningStatus());
    },
    async identity_info(msg) {
        const id = await machine.getIdentity(new sdk.UserId(msg.user));
        if (!id) return { exists: false };
        return {
            exists: true,
            own: id instanceof sdk.OwnUserIdentity,
            verified: id.isVerified(),
            master_key: JSON.parse(id.masterKey),
            trusts_our_device: id instanceof sdk.OwnUserIdentity ? await id.trustsOurOwnDevice() : null,
            was_previously_verified: id.wasPreviouslyVerified(),
            verification_violation: id.hasVerificationViolation(),
        };
    },
    // verify_identity verifies a user's identity with our user-signing key
    // (another user) or our device (our own), and returns the signature
    // upload to send.
    async verify_identity(msg) {
        const id = await machine.getIdentity(new sdk.UserId(msg.user));
        if (!id) throw new Error(`no identity for ${msg.user}`);
        const r = await id.verify();
        return { body: JSON.parse(r.body) };
    },
    // verify_device verifies a device: one of our own is signed with our
    // self-signing key, another user's is trusted locally. Answers the
    // signature upload to send, if any.
    async verify_device(msg) {
        const d = await machine.getDevice(new sdk.UserId(msg.user), new sdk.DeviceId(msg.device));
        if (!d) throw new Error(`device ${msg.user} ${msg.device} unknown`);
        const r = await d.verify();
        return { body: r ? JSON.parse(r.body) : null };
    },
    async device_info(msg) {
        const d = await machine.getDevice(new sdk.UserId(msg.user), new sdk.DeviceId(msg.device));
        if (!d) return { exists: false };
        return {
            exists: true,
            verified: d.isVerified(),
            locally_trusted: d.isLocallyTrusted(),
            cross_signed_by_owner: d.isCrossSignedByOwner(),
            cross_signing_trusted: d.isCrossSigningTrusted(),
            ed25519: d.ed25519Key ? d.ed25519Key.toBase64() : null,
        };
    },

    // Verification.
    async request(msg) {
        const device = await machine.getDevice(new sdk.UserId(msg.user), new sdk.DeviceId(msg.device));
        if (!device) throw new Error(`device ${msg.user} ${msg.device} unknown`);
        const [request, toDevice] = device.requestVerification([sdk.VerificationMethod.SasV1]);
        requests.set(request.flowId, request);
        return { flow_id: request.flowId, request: describe(toDevice) };
    },
    // room_request returns the content of an in-room verification request
    // for msg.other, as matrix-js-sdk builds it; the caller sends it to the
    // room, then calls room_request_sent with the event ID.
    async room_request(msg) {
        const identity = await machine.getIdentity(new sdk.UserId(msg.other));
        if (!identity) throw new Error(`no identity for ${msg.other}`);
        const content = JSON.parse(identity.verificationRequestContent([sdk.VerificationMethod.SasV1]));
        return { content: { msgtype: "m.key.verification.request", ...content } };
    },
    async room_request_sent(msg) {
        const identity = await machine.getIdentity(new sdk.UserId(msg.other));
        const request = identity.requestVerification(new sdk.RoomId(msg.room), new sdk.EventId(msg.event_id), [sdk.VerificationMethod.SasV1]);
        requests.set(request.flowId, request);
        return { flow_id: request.flowId };
    },
    // room_event feeds a room event (a verification request or an
    // m.key.verification.* event, ours or theirs) to the machine.
    async room_event(msg) {
        await machine.receiveVerificationEvent(JSON.stringify(msg.event), new sdk.RoomId(msg.room));
        return {};
    },
    async request_info(msg) {
        const r = findRequest(msg);
        if (!r) return { exists: false };
        return { exists: true, phase: r.phase(), ready: r.isReady(), done: r.isDone(), cancelled: r.isCancelled(), cancel_info: cancelInfo(r.cancelInfo) };
    },
    async accept_request(msg) {
        return { request: describe(verificationRequest(msg).acceptWithMethods([sdk.VerificationMethod.SasV1])) };
    },
    async start_sas(msg) {
        const res = await verificationRequest(msg).startSas();
        if (!res) throw new Error("startSas returned nothing");
        sases.set(msg.flow_id, res[0]);
        return { request: describe(res[1]) };
    },
    async sas_accept(msg) {
        return { request: describe(sasOf(msg).accept()) };
    },
    async sas_info(msg) {
        const s = findSas(msg);
        if (!s) return { exists: false };
        return {
            exists: true,
            can_be_presented: s.canBePresented(),
            emoji_index: s.emojiIndex() ? Array.from(s.emojiIndex()) : null,
            decimals: s.decimals() ? Array.from(s.decimals()) : null,
            done: s.isDone(),
            cancelled: s.isCancelled(),
            cancel_info: cancelInfo(s.cancelInfo()),
            has_been_accepted: s.hasBeenAccepted(),
        };
    },
    async sas_confirm(msg) {
        const reqs = await sasOf(msg).confirm();
        return { requests: reqs.map(describe) };
    },

    // Secrets.
    // request_missing_secrets queues m.secret.request for the private
    // cross-signing keys and backup key Element lacks.
    async request_missing_secrets() {
        return { requested: await machine.requestMissingSecretsIfNeeded() };
    },
    // secrets_inbox lists the secrets of a name received from our verified
    // devices and not yet handled (Element keeps the backup key there).
    async secrets_inbox(msg) {
        return { secrets: Array.from(await machine.getSecretsFromInbox(msg.name)) };
    },

    // Key backup.
    // verify_backup judges a backup version (GET room_keys/version).
    async verify_backup(msg) {
        const v = await machine.verifyBackup(msg.info);
        return { trusted: v.trusted(), device_state: v.deviceState, user_state: v.userState };
    },
    // restore decodes a recovery key, checks it against the backup's public
    // key, decrypts every session of a GET room_keys/keys body and imports
    // them, as matrix-js-sdk's backup restore does.
    async restore(msg) {
        const raw = decodeRecoveryKey(msg.recovery_key);
        const key = sdk.BackupDecryptionKey.fromBase64(Buffer.from(raw).toString("base64"));
        const pub = key.megolmV1PublicKey.publicKeyBase64;
        if (pub !== msg.public_key) throw new Error(`the recovery key is for public key ${pub}, not ${msg.public_key}`);
        const decrypted = new Map();
        for (const [roomId, room] of Object.entries(msg.rooms)) {
            const sessions = new Map();
            for (const [sessionId, data] of Object.entries(room.sessions)) {
                const sd = data.session_data;
                sessions.set(sessionId, JSON.parse(key.decryptV1(sd.ephemeral, sd.mac, sd.ciphertext)));
            }
            decrypted.set(new sdk.RoomId(roomId), sessions);
        }
        const r = await machine.importBackedUpRoomKeys(decrypted, undefined, msg.version);
        return { imported: r.importedCount, total: r.totalCount };
    },
    // create_backup makes a backup key and the auth_data of a new backup
    // version, signed by this device (and the master key if held), as
    // matrix-js-sdk's resetKeyBackup does.
    async create_backup() {
        const key = sdk.BackupDecryptionKey.createRandomKey();
        const authData = { public_key: key.megolmV1PublicKey.publicKeyBase64 };
        const sigs = await machine.sign(JSON.stringify(authData));
        authData.signatures = JSON.parse(sigs.asJSON());
        return {
            body: { algorithm: key.megolmV1PublicKey.algorithm, auth_data: authData },
            private_key: key.toBase64(),
        };
    },
    // save_backup_key stores a backup key (base64) for a version, as
    // Element does after reading it from secret storage; Element then
    // gossips it to our verified devices.
    async save_backup_key(msg) {
        await machine.saveBackupDecryptionKey(sdk.BackupDecryptionKey.fromBase64(msg.private_key), msg.version);
        return {};
    },
    async enable_backup(msg) {
        await machine.enableBackupV1(msg.public_key, msg.version);
        return { enabled: await machine.isBackupEnabled() };
    },
    async backup_room_keys() {
        return { request: describe(await machine.backupRoomKeys()) };
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
