// Harness that drives Element's crypto stack (matrix-rust-sdk's OlmMachine,
// through @matrix-org/matrix-sdk-crypto-wasm) for souverain's SAS interop
// tests (interop/sas_element_test.go).
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
// The verification objects seen, by flow ID: handles stay valid after the
// machine forgets a finished verification.
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
    const out = { id: r.id, type: requestTypes[r.type] };
    if (r.body !== undefined) out.body = JSON.parse(r.body);
    if (r.event_type !== undefined) out.event_type = r.event_type;
    if (r.txn_id !== undefined) out.txn_id = r.txn_id;
    if (r.room_id !== undefined) out.room_id = r.room_id;
    if (r.content !== undefined) out.content = JSON.parse(r.content);
    return out;
}

function findRequest(msg) {
    const r = machine.getVerificationRequest(new sdk.UserId(msg.user), msg.flow_id);
    if (r) requests.set(msg.flow_id, r);
    return requests.get(msg.flow_id);
}

const methodsByName = {
    "m.sas.v1": sdk.VerificationMethod.SasV1,
    "m.qr_code.scan.v1": sdk.VerificationMethod.QrCodeScanV1,
    "m.qr_code.show.v1": sdk.VerificationMethod.QrCodeShowV1,
    "m.reciprocate.v1": sdk.VerificationMethod.ReciprocateV1,
};

function methods(msg) {
    return (msg.methods || ["m.sas.v1"]).map((m) => methodsByName[m]);
}

const qrs = new Map();

function qrOf(msg) {
    const v = machine.getVerification(new sdk.UserId(msg.user), msg.flow_id);
    if (v instanceof sdk.Qr) qrs.set(msg.flow_id, v);
    const q = qrs.get(msg.flow_id);
    if (!q) throw new Error(`no QR verification ${msg.flow_id} with ${msg.user}`);
    return q;
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

const handlers = {
    async init(msg) {
        machine = await sdk.OlmMachine.initialize(new sdk.UserId(msg.user), new sdk.DeviceId(msg.device));
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
        const processed = await machine.receiveSyncChanges(
            JSON.stringify(msg.events || []),
            changed,
            new Map(Object.entries(msg.one_time_key_counts || {})),
            new Set(),
        );
        return {
            processed: processed.map((p) => ({ type: p.type, raw: p.rawEvent ? JSON.parse(p.rawEvent) : null })),
        };
    },
    async request(msg) {
        const device = await machine.getDevice(new sdk.UserId(msg.user), new sdk.DeviceId(msg.device));
        if (!device) throw new Error(`device ${msg.user} ${msg.device} unknown`);
        const [request, toDevice] = device.requestVerification(methods(msg));
        requests.set(request.flowId, request);
        return { flow_id: request.flowId, request: describe(toDevice) };
    },
    // room_request returns the content of an in-room request for msg.other,
    // as matrix-js-sdk builds it (from the other user's identity); the
    // caller sends it to the room, then calls room_request_sent with the
    // event ID.
    async room_request(msg) {
        const identity = await machine.getIdentity(new sdk.UserId(msg.other));
        if (!identity) throw new Error(`no identity for ${msg.other}`);
        const content = JSON.parse(identity.verificationRequestContent([sdk.VerificationMethod.SasV1]));
        return { content: { msgtype: "m.key.verification.request", ...content } };
    },
    async room_request_sent(msg) {
        const identity = await machine.getIdentity(new sdk.UserId(msg.other));
        const request = identity.requestVerification(new sdk.RoomId(msg.room), new sdk.EventId(msg.event_id), [
            sdk.VerificationMethod.SasV1,
        ]);
        requests.set(request.flowId, request);
        return { flow_id: request.flowId };
    },
    // room_event feeds a room event (an m.room.message request or an
    // m.key.verification.* event, ours or theirs) to the machine.
    async room_event(msg) {
        await machine.receiveVerificationEvent(JSON.stringify(msg.event), new sdk.RoomId(msg.room));
        return {};
    },
    async request_info(msg) {
        const r = findRequest(msg);
        if (!r) return { exists: false };
        return {
            exists: true,
            phase: r.phase(),
            ready: r.isReady(),
            done: r.isDone(),
            cancelled: r.isCancelled(),
            cancel_info: cancelInfo(r.cancelInfo),
            other_device: r.otherDeviceId ? r.otherDeviceId.toString() : null,
            their_methods: r.theirSupportedMethods ?? null,
        };
    },
    async accept_request(msg) {
        return { request: describe(verificationRequest(msg).acceptWithMethods(methods(msg))) };
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
        const v = s;
        return {
            exists: true,
            kind: s ? "sas" : v.constructor.name,
            can_be_presented: s ? s.canBePresented() : false,
            emoji_index: s && s.emojiIndex() ? Array.from(s.emojiIndex()) : null,
            emoji: s && s.emoji() ? s.emoji().map((e) => ({ symbol: e.symbol, description: e.description })) : null,
            decimals: s && s.decimals() ? Array.from(s.decimals()) : null,
            done: s ? s.isDone() : false,
            cancelled: s ? s.isCancelled() : false,
            cancel_info: s ? cancelInfo(s.cancelInfo()) : null,
            we_started: s ? s.weStarted() : null,
            has_been_accepted: s ? s.hasBeenAccepted() : false,
        };
    },
    async sas_confirm(msg) {
        const reqs = await sasOf(msg).confirm();
        return { requests: reqs.map(describe) };
    },
    async sas_cancel(msg) {
        return { request: describe(sasOf(msg).cancelWithCode(msg.code || "m.user")) };
    },
    // qr_generate returns the QR code payload Element shows, in base64.
    async qr_generate(msg) {
        const q = await verificationRequest(msg).generateQrCode();
        if (!q) throw new Error("generateQrCode returned nothing");
        qrs.set(msg.flow_id, q);
        return { payload: Buffer.from(q.toBytes()).toString("base64") };
    },
    // qr_scan gives Element the payload of our QR code, as its camera would.
    async qr_scan(msg) {
        const scan = sdk.QrCodeScan.fromBytes(new Uint8ClampedArray(Buffer.from(msg.payload, "base64")));
        const q = await verificationRequest(msg).scanQrCode(scan);
        qrs.set(msg.flow_id, q);
        return { request: describe(q.reciprocate()) };
    },
    async qr_confirm(msg) {
        return { request: describe(qrOf(msg).confirmScanning()) };
    },
    async qr_info(msg) {
        const q = qrOf(msg);
        return {
            state: q.state(),
            scanned: q.hasBeenScanned(),
            reciprocated: q.reciprocated(),
            done: q.isDone(),
            cancelled: q.isCancelled(),
            cancel_info: cancelInfo(q.cancelInfo()),
        };
    },
    async device_info(msg) {
        const d = await machine.getDevice(new sdk.UserId(msg.user), new sdk.DeviceId(msg.device));
        if (!d) return { exists: false };
        return {
            exists: true,
            verified: d.isVerified(),
            locally_trusted: d.isLocallyTrusted(),
            cross_signing_trusted: d.isCrossSigningTrusted(),
            ed25519: d.ed25519Key ? d.ed25519Key.toBase64() : null,
        };
    },
    async identity_info(msg) {
        const id = await machine.getIdentity(new sdk.UserId(msg.user));
        if (!id) return { exists: false };
        return { exists: true, verified: id.isVerified(), master_key: JSON.parse(id.masterKey) };
    },
    async bootstrap_cross_signing() {
        const r = await machine.bootstrapCrossSigning(true);
        return {
            upload_signing_keys: r.uploadSigningKeysRequest ? JSON.parse(r.uploadSigningKeysRequest.body) : null,
            upload_signatures: r.uploadSignaturesRequest ? JSON.parse(r.uploadSignaturesRequest.body) : null,
            upload_keys: r.uploadKeysRequest ? describe(r.uploadKeysRequest) : null,
        };
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
