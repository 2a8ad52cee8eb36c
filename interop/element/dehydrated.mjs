// Harness that drives Element's crypto stack (matrix-rust-sdk's OlmMachine
// and DehydratedDevices, with vodozemac, through
// @matrix-org/matrix-sdk-crypto-wasm) for souverain's dehydrated device
// interop tests (interop/dehydrated_element_test.go).
//
// Protocol: as roomkeys.mjs, one JSON command per line on stdin and one JSON
// answer per line on stdout. Unlike roomkeys.mjs, the homeserver lives here:
// a few lines that store device keys, one-time keys, cross-signing keys,
// to-device messages and the dehydrated device, and answer the machines'
// requests from them ("pump"), so that the Go side only uploads a
// dehydrated device, reads the events sent to it, and hands them over.
// Nothing here touches the network.

import * as readline from "node:readline";
import * as sdk from "@matrix-org/matrix-sdk-crypto-wasm";

await sdk.initAsync();

const machines = new Map(); // name -> {machine, user}
const roomSettings = new Map();

// The homeserver's state.
const server = {
    deviceKeys: {}, // user -> device -> signed device keys
    oneTimeKeys: {}, // user -> device -> key ID -> signed key
    fallbackKeys: {}, // user -> device -> key ID -> signed key
    crossSigning: {}, // user -> {master_key, self_signing_key, user_signing_key}
    inbox: {}, // user -> device -> [to-device events]
    dehydrated: {}, // user -> PUT body
};

function send(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

function at(obj, ...path) {
    for (const p of path) {
        if (!(p in obj)) obj[p] = {};
        obj = obj[p];
    }
    return obj;
}

function storeKeys(user, device, body) {
    if (body.device_keys) at(server.deviceKeys, user)[device] = body.device_keys;
    if (body.one_time_keys) Object.assign(at(server.oneTimeKeys, user, device), body.one_time_keys);
    if (body.fallback_keys) at(server.fallbackKeys, user)[device] = body.fallback_keys;
}

function mergeSignatures(target, signed) {
    for (const [u, sigs] of Object.entries(signed.signatures || {})) {
        Object.assign(at(target, "signatures", u), sigs);
    }
}

// uploadSignatures applies a /keys/signatures/upload body.
function uploadSignatures(body) {
    for (const [user, objs] of Object.entries(body)) {
        for (const [id, signed] of Object.entries(objs)) {
            const device = (server.deviceKeys[user] || {})[id];
            if (device) {
                mergeSignatures(device, signed);
                continue;
            }
            for (const k of Object.values(server.crossSigning[user] || {})) {
                if (Object.values(k.keys).includes(id)) mergeSignatures(k, signed);
            }
        }
    }
}

function keysQuery(body) {
    const res = { device_keys: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {}, failures: {} };
    for (const user of Object.keys(body.device_keys || {})) {
        res.device_keys[user] = server.deviceKeys[user] || {};
        const cs = server.crossSigning[user];
        if (cs) {
            res.master_keys[user] = cs.master_key;
            res.self_signing_keys[user] = cs.self_signing_key;
            if (cs.user_signing_key) res.user_signing_keys[user] = cs.user_signing_key;
        }
    }
    return res;
}

function keysClaim(body) {
    const res = { one_time_keys: {}, failures: {} };
    for (const [user, devices] of Object.entries(body.one_time_keys || {})) {
        for (const device of Object.keys(devices)) {
            const otks = (server.oneTimeKeys[user] || {})[device] || {};
            const id = Object.keys(otks)[0];
            let key;
            if (id) {
                key = { [id]: otks[id] };
                delete otks[id];
            } else {
                key = (server.fallbackKeys[user] || {})[device];
            }
            if (key) at(res.one_time_keys, user)[device] = key;
        }
    }
    return res;
}

function toDevice(sender, eventType, body) {
    for (const [user, devices] of Object.entries(body.messages || {})) {
        for (const [device, content] of Object.entries(devices)) {
            const targets = device === "*" ? Object.keys(server.deviceKeys[user] || {}) : [device];
            for (const d of targets) {
                const box = at(server.inbox, user);
                (box[d] = box[d] || []).push({ type: eventType, sender, content });
            }
        }
    }
}

// answer handles one outgoing request of a machine and returns the
// homeserver's response.
function answer(m, r) {
    const body = r.body ? JSON.parse(r.body) : {};
    switch (r.type) {
        case sdk.RequestType.KeysUpload: {
            storeKeys(m.user, m.device, body);
            const n = Object.keys(at(server.oneTimeKeys, m.user, m.device)).length;
            return { one_time_key_counts: { signed_curve25519: n } };
        }
        case sdk.RequestType.KeysQuery:
            return keysQuery(body);
        case sdk.RequestType.KeysClaim:
            return keysClaim(body);
        case sdk.RequestType.ToDevice:
            toDevice(m.user, r.event_type, body);
            return {};
        case sdk.RequestType.SignatureUpload:
            uploadSignatures(body);
            return { failures: {} };
        case sdk.RequestType.RoomMessage:
            return { event_id: "$" + r.id };
        default:
            return {};
    }
}

async function sendRequest(m, r) {
    if (!r) return;
    const res = answer(m, r);
    if (r.id !== undefined) await m.machine.markRequestAsSent(r.id, r.type, JSON.stringify(res));
}

// pump answers the machine's outgoing requests until there are none.
async function pump(m) {
    for (let i = 0; i < 10; i++) {
        const reqs = await m.machine.outgoingRequests();
        if (reqs.length === 0) return;
        for (const r of reqs) await sendRequest(m, r);
    }
}

function machineNamed(name) {
    const m = machines.get(name);
    if (!m) throw new Error(`no machine ${name}`);
    return m;
}

function keyFrom(b64) {
    return sdk.DehydratedDeviceKey.createKeyFromArray(new Uint8Array(Buffer.from(b64, "base64")));
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

const handlers = {
    // init creates a machine; with cross_signing it bootstraps the user's
    // cross-signing keys and returns the self-signing key's seed, which
    // the Go side uses to sign its dehydrated device.
    async init(msg) {
        const machine = await sdk.OlmMachine.initialize(new sdk.UserId(msg.user), new sdk.DeviceId(msg.device));
        const m = { machine, user: msg.user, device: msg.device };
        machines.set(msg.name, m);
        await pump(m);
        const out = {
            ed25519: machine.identityKeys.ed25519.toBase64(),
            curve25519: machine.identityKeys.curve25519.toBase64(),
        };
        if (msg.cross_signing) {
            const b = await machine.bootstrapCrossSigning(true);
            await sendRequest(m, b.uploadKeysRequest);
            const signing = JSON.parse(b.uploadSigningKeysRequest.body);
            server.crossSigning[m.user] = signing;
            uploadSignatures(JSON.parse(b.uploadSignaturesRequest.body).signed_keys || JSON.parse(b.uploadSignaturesRequest.body));
            await pump(m);
            const exp = await machine.exportCrossSigningKeys();
            out.self_signing_seed = exp.self_signing_key;
            out.self_signing_public = Object.values(signing.self_signing_key.keys)[0];
        }
        const v = sdk.getVersions();
        out.versions = { matrix_sdk_crypto: v.matrix_sdk_crypto, vodozemac: v.vodozemac };
        return out;
    },
    // create_dehydrated makes Element's dehydrated device for the
    // machine's user under key (base64), uploads it, and returns the PUT
    // body.
    async create_dehydrated(msg) {
        const m = machineNamed(msg.name);
        const device = await m.machine.dehydratedDevices().create();
        // Without a key, Element makes one, as it does before storing it in
        // secret storage; key_base64 is what it stores there.
        const key = msg.key ? keyFrom(msg.key) : sdk.DehydratedDeviceKey.createRandomKey();
        const req = await device.keysForUpload(msg.display_name || "Element dehydrated device", key);
        const body = JSON.parse(req.body);
        handlers.put_dehydrated({ user: m.user, body });
        return { body, key_base64: key.toBase64() };
    },
    // put_dehydrated is PUT /dehydrated_device.
    put_dehydrated(msg) {
        server.dehydrated[msg.user] = msg.body;
        storeKeys(msg.user, msg.body.device_id, msg.body);
        return {};
    },
    // events is POST /dehydrated_device/{device_id}/events: every
    // to-device event sent to the device.
    events(msg) {
        return { events: (server.inbox[msg.user] || {})[msg.device] || [] };
    },
    // share shares the room's Megolm session with every device of users
    // (the dehydrated device included), delivering the to-device messages.
    async share(msg) {
        const m = machineNamed(msg.name);
        // wasm-bindgen takes the UserId objects: make them anew each time.
        const users = () => msg.users.map((u) => new sdk.UserId(u));
        await m.machine.updateTrackedUsers(users());
        await m.machine.markAllTrackedUsersAsDirty();
        await pump(m);
        await sendRequest(m, await m.machine.getMissingSessions(users()));
        const reqs = await m.machine.shareRoomKey(new sdk.RoomId(msg.room), users(), settingsFor(msg.room));
        for (const r of reqs) await sendRequest(m, r);
        await pump(m);
        return {};
    },
    async encrypt(msg) {
        const m = machineNamed(msg.name);
        const content = await m.machine.encryptRoomEvent(new sdk.RoomId(msg.room), msg.type, JSON.stringify(msg.content));
        return { content: JSON.parse(content) };
    },
    // rehydrate opens a dehydrated device with machine name's
    // DehydratedDevices, feeds it the events, and returns the room keys it
    // imported.
    async rehydrate(msg) {
        const m = machineNamed(msg.name);
        const r = await m.machine
            .dehydratedDevices()
            .rehydrate(keyFrom(msg.key), new sdk.DeviceId(msg.device_id), JSON.stringify(msg.device_data));
        const infos = await await r.receiveEvents(
            JSON.stringify(msg.events),
            new sdk.DecryptionSettings(sdk.TrustRequirement.Untrusted),
        );
        return {
            room_keys: infos.map((k) => ({
                room_id: k.roomId.toString(),
                session_id: k.sessionId,
                sender_key: k.senderKey.toBase64(),
                algorithm: k.algorithm,
            })),
        };
    },
    async decrypt(msg) {
        const m = machineNamed(msg.name);
        const d = await m.machine.decryptRoomEvent(
            JSON.stringify(msg.event),
            new sdk.RoomId(msg.room),
            new sdk.DecryptionSettings(sdk.TrustRequirement.Untrusted),
        );
        return { event: JSON.parse(d.event), sender_curve25519_key: d.senderCurve25519Key };
    },
    // sync feeds to-device events to a machine (for keys sent by Go).
    async sync(msg) {
        const m = machineNamed(msg.name);
        const changed = new sdk.DeviceLists([], []);
        await m.machine.receiveSyncChanges(JSON.stringify(msg.events || []), changed, new Map(), new Set());
        await pump(m);
        return {};
    },
    // server returns the homeserver's state, for debugging.
    server() {
        return { server };
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
