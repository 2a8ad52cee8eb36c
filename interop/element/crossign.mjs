// Harness for the cross-signing interop tests (interop/crossign_test.go): it
// drives Element's crypto stack (matrix-rust-sdk via
// @matrix-org/matrix-sdk-crypto-wasm) through cross-signing, playing the
// homeserver itself: uploads are captured from the machine's requests and
// merged into the /keys/query responses it is fed, as a server would. It
// reads one JSON request on stdin and writes one JSON answer on stdout; the
// mode is the first argument.
//
//   element-identity  {user_id, device_id, other: {user_id, device_ids, query}}
//                     Element bootstraps cross-signing for user_id, then
//                     learns the other user's keys (query: a /keys/query
//                     response made by souverain), judges them, verifies
//                     the other user with its user-signing key and judges
//                     again. Answers {device_keys, signing_keys,
//                     signatures, export: {master, self_signing,
//                     user_signing}, own: status, before: status,
//                     user_signature_upload, after: status}, where a status
//                     is {identity, verified, devices: {id: {known,
//                     cross_signed, cross_signing_trusted, verified}}}.
//   own-identity      {user_id, device_id, master_key, self_signing_key,
//                     user_signing_key, secrets: {master, self_signing,
//                     user_signing}}
//                     Element learns cross-signing keys made by souverain
//                     for its own user, imports their private keys as
//                     secret storage holds them, and signs its own device
//                     with the self-signing key. Answers {status:
//                     {has_master, has_self_signing, has_user_signing},
//                     device_keys, before: status, device_signature_upload,
//                     after: status}.
import * as sdk from "@matrix-org/matrix-sdk-crypto-wasm";

async function readStdin() {
    const chunks = [];
    for await (const c of process.stdin) chunks.push(c);
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

// Server is the little of a homeserver that cross-signing needs: the
// published keys, with uploaded signatures merged in.
class Server {
    constructor() {
        this.devices = {}; // user → device → keys
        this.keys = { master_keys: {}, self_signing_keys: {}, user_signing_keys: {} };
    }
    addDevice(keys) {
        (this.devices[keys.user_id] ??= {})[keys.device_id] = keys;
    }
    addQuery(q) {
        for (const [user, devs] of Object.entries(q.device_keys ?? {})) {
            for (const keys of Object.values(devs)) this.addDevice(keys);
        }
        for (const kind of Object.keys(this.keys)) {
            Object.assign(this.keys[kind], q[kind] ?? {});
        }
    }
    uploadSigningKeys(body) {
        for (const [member, kind] of [["master_key", "master_keys"], ["self_signing_key", "self_signing_keys"], ["user_signing_key", "user_signing_keys"]]) {
            if (body[member]) this.keys[kind][body[member].user_id] = body[member];
        }
    }
    // uploadSignatures merges the signatures of a /keys/signatures/upload
    // body into the objects they sign: devices by ID, cross-signing keys
    // by public key.
    uploadSignatures(body) {
        for (const [user, objs] of Object.entries(body)) {
            for (const [id, signed] of Object.entries(objs)) {
                let target = this.devices[user]?.[id];
                if (!target) {
                    for (const kind of Object.keys(this.keys)) {
                        const k = this.keys[kind][user];
                        if (k && Object.values(k.keys).includes(id)) target = k;
                    }
                }
                if (!target) throw new Error(`signature upload for unknown ${user} ${id}`);
                for (const [entity, sigs] of Object.entries(signed.signatures ?? {})) {
                    Object.assign((target.signatures ??= {})[entity] ??= {}, sigs);
                }
            }
        }
    }
    // query answers /keys/query for users, as the spec's visibility rules
    // allow viewer to see: another user's user-signing key is hidden.
    query(users, viewer) {
        const resp = { device_keys: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {}, failures: {} };
        for (const u of users) {
            resp.device_keys[u] = this.devices[u] ?? {};
            for (const kind of Object.keys(this.keys)) {
                if (kind === "user_signing_keys" && u !== viewer) continue;
                if (this.keys[kind][u]) resp[kind][u] = this.keys[kind][u];
            }
        }
        return JSON.parse(JSON.stringify(resp));
    }
}

// Client wraps an OlmMachine and answers its requests from the server.
class Client {
    static async create(server, userId, deviceId) {
        const c = new Client();
        c.server = server;
        c.userId = userId;
        c.machine = await sdk.OlmMachine.initialize(new sdk.UserId(userId), new sdk.DeviceId(deviceId));
        await c.sync();
        return c;
    }
    // sync sends every outgoing request to the server.
    async sync() {
        for (const r of await this.machine.outgoingRequests()) {
            const body = JSON.parse(r.body);
            let resp = {};
            switch (r.type) {
                case sdk.RequestType.KeysUpload:
                    if (body.device_keys) {
                        this.deviceKeys = structuredClone(body.device_keys); // as uploaded
                        this.server.addDevice(body.device_keys);
                    }
                    resp = { one_time_key_counts: { signed_curve25519: Object.keys(body.one_time_keys ?? {}).length } };
                    break;
                case sdk.RequestType.KeysQuery:
                    resp = this.server.query(Object.keys(body.device_keys), this.userId);
                    break;
                case sdk.RequestType.SignatureUpload:
                    this.server.uploadSignatures(body);
                    resp = { failures: {} };
                    break;
                default:
                    continue; // to-device, claims: not part of these tests
            }
            await this.machine.markRequestAsSent(r.id, r.type, JSON.stringify(resp));
        }
    }
    // refresh re-queries users and processes the response.
    async refresh(users) {
        const req = this.machine.queryKeysForUsers(users.map((u) => new sdk.UserId(u)));
        const resp = this.server.query(users, this.userId);
        await this.machine.markRequestAsSent(req.id, sdk.RequestType.KeysQuery, JSON.stringify(resp));
    }
    // status reports what the machine thinks of a user and some of its
    // devices.
    async status(userId, deviceIds) {
        const id = await this.machine.getIdentity(new sdk.UserId(userId));
        const devices = {};
        for (const d of deviceIds) {
            const dev = await this.machine.getDevice(new sdk.UserId(userId), new sdk.DeviceId(d));
            devices[d] = {
                known: dev !== undefined,
                cross_signed: dev ? dev.isCrossSignedByOwner() : false,
                cross_signing_trusted: dev ? dev.isCrossSigningTrusted() : false,
                verified: dev ? dev.isVerified() : false,
            };
        }
        return { identity: id !== undefined, verified: id ? id.isVerified() : false, devices };
    }
}

async function elementIdentity(req) {
    const server = new Server();
    const c = await Client.create(server, req.user_id, req.device_id);
    const boot = await c.machine.bootstrapCrossSigning(true);
    if (boot.uploadKeysRequest) {
        // The device keys again, now carrying the self-signing key's
        // signature.
        const body = JSON.parse(boot.uploadKeysRequest.body);
        c.deviceKeys = structuredClone(body.device_keys);
        server.addDevice(body.device_keys);
        await c.machine.markRequestAsSent(boot.uploadKeysRequest.id, sdk.RequestType.KeysUpload,
            JSON.stringify({ one_time_key_counts: {} }));
    }
    const signingKeys = JSON.parse(boot.uploadSigningKeysRequest.body);
    server.uploadSigningKeys(structuredClone(signingKeys));
    const signatures = JSON.parse(boot.uploadSignaturesRequest.body);
    server.uploadSignatures(signatures);
    const exp = await c.machine.exportCrossSigningKeys();
    await c.machine.updateTrackedUsers([new sdk.UserId(req.user_id), new sdk.UserId(req.other.user_id)]);
    server.addQuery(req.other.query);
    await c.sync();
    await c.refresh([req.user_id, req.other.user_id]);
    const own = await c.status(req.user_id, [req.device_id]);
    const before = await c.status(req.other.user_id, req.other.device_ids);
    const other = await c.machine.getIdentity(new sdk.UserId(req.other.user_id));
    if (!other) throw new Error("Element did not take the other user's identity");
    const upload = await other.verify();
    const userSignatureUpload = JSON.parse(upload.body);
    server.uploadSignatures(userSignatureUpload);
    await c.refresh([req.other.user_id]);
    const after = await c.status(req.other.user_id, req.other.device_ids);
    return {
        device_keys: c.deviceKeys,
        signing_keys: signingKeys,
        signatures,
        export: { master: exp.masterKey, self_signing: exp.self_signing_key, user_signing: exp.userSigningKey },
        own,
        before,
        user_signature_upload: userSignatureUpload,
        after,
    };
}

async function ownIdentity(req) {
    const server = new Server();
    const c = await Client.create(server, req.user_id, req.device_id);
    server.uploadSigningKeys({
        master_key: req.master_key, self_signing_key: req.self_signing_key, user_signing_key: req.user_signing_key,
    });
    await c.machine.updateTrackedUsers([new sdk.UserId(req.user_id)]);
    await c.sync();
    await c.refresh([req.user_id]);
    const st = await c.machine.importCrossSigningKeys(req.secrets.master, req.secrets.self_signing, req.secrets.user_signing);
    const status = { has_master: st.hasMaster, has_self_signing: st.hasSelfSigning, has_user_signing: st.hasUserSigning };
    const before = await c.status(req.user_id, [req.device_id]);
    const dev = await c.machine.getDevice(new sdk.UserId(req.user_id), new sdk.DeviceId(req.device_id));
    const upload = await dev.verify();
    const deviceSignatureUpload = JSON.parse(upload.body);
    server.uploadSignatures(deviceSignatureUpload);
    await c.refresh([req.user_id]);
    const after = await c.status(req.user_id, [req.device_id]);
    return {
        status,
        device_keys: c.deviceKeys,
        before,
        device_signature_upload: deviceSignatureUpload,
        after,
    };
}

const modes = { "element-identity": elementIdentity, "own-identity": ownIdentity };
const mode = modes[process.argv[2]];
if (!mode) {
    process.stderr.write(`usage: node crossign.mjs ${Object.keys(modes).join("|")} < request.json\n`);
    process.exit(2);
}
const answer = await mode(await readStdin());
process.stdout.write(JSON.stringify(answer) + "\n");
