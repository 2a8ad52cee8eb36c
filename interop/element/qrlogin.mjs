// Harness that drives Element's crypto stack (vodozemac's ECIES and
// matrix-rust-sdk's QrCodeData, through @matrix-org/matrix-sdk-crypto-wasm)
// for souverain's QR-login interop tests (interop/qrlogin_element_test.go).
//
// Protocol: one JSON object per line on stdin, {"id": n, "cmd": "...", ...};
// one JSON object per line on stdout, {"id": n, "ok": true, ...} or
// {"id": n, "ok": false, "error": "..."}. Channels live here under the
// handle the Go side names; nothing touches the network.

import * as readline from "node:readline";
import * as sdk from "@matrix-org/matrix-sdk-crypto-wasm";

await sdk.initAsync();

// Unestablished Ecies and EstablishedEcies values, by handle.
const ecies = new Map();
const channels = new Map();

function send(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

function checkCode(ch) {
    const c = ch.check_code();
    return {
        check_code_hex: Buffer.from(c.as_bytes()).toString("hex"),
        digits: c.to_digit(),
        digits_no_leading_zero: c.toDigitNoLeadingZero(),
    };
}

const intents = { login: sdk.QrCodeIntent.Login, reciprocate: sdk.QrCodeIntent.Reciprocate };
const intentNames = { [sdk.QrCodeIntent.Login]: "login", [sdk.QrCodeIntent.Reciprocate]: "reciprocate" };

function describeQr(q) {
    const out = {
        hex: Buffer.from(q.toBytes()).toString("hex"),
        base64: q.toBase64(),
        intent: intentNames[q.mode],
        public_key: q.publicKey.toBase64(),
    };
    const d = q.intentData;
    if (d.msc4108) {
        out.format = "MSC4108";
        out.rendezvous_url = d.msc4108.rendezvousUrl;
        out.server_name = d.msc4108.serverName ?? "";
    } else if (d.msc4388) {
        out.format = "MSC4388";
        out.rendezvous_id = d.msc4388.rendezvousId;
        out.base_url = d.msc4388.baseUrl;
    }
    return out;
}

const commands = {
    ecies_new(msg) {
        const e = new sdk.Ecies();
        ecies.set(msg.handle, e);
        return { public_key: e.public_key().toBase64() };
    },
    ecies_outbound(msg) {
        const e = ecies.get(msg.handle);
        const r = e.establish_outbound_channel(new sdk.Curve25519PublicKey(msg.their_key), msg.plaintext);
        channels.set(msg.handle, r.channel);
        return { initial_message: r.initial_message, public_key: r.channel.public_key().toBase64(), ...checkCode(r.channel) };
    },
    ecies_inbound(msg) {
        const e = ecies.get(msg.handle);
        const r = e.establish_inbound_channel(msg.initial_message);
        channels.set(msg.handle, r.channel);
        return { plaintext: r.message, public_key: r.channel.public_key().toBase64(), ...checkCode(r.channel) };
    },
    encrypt(msg) {
        return { message: channels.get(msg.handle).encrypt(msg.plaintext) };
    },
    decrypt(msg) {
        return { plaintext: channels.get(msg.handle).decrypt(msg.message) };
    },
    qr_new(msg) {
        const key = new sdk.Curve25519PublicKey(msg.public_key);
        const q = msg.format === "MSC4388"
            ? sdk.QrCodeData.newMsc4388(key, msg.rendezvous_id, msg.base_url, intents[msg.intent])
            : new sdk.QrCodeData(key, msg.rendezvous_url, msg.server_name || undefined);
        return describeQr(q);
    },
    qr_parse(msg) {
        return describeQr(sdk.QrCodeData.fromBytes(Buffer.from(msg.hex, "hex")));
    },
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
    const msg = JSON.parse(line);
    try {
        const f = commands[msg.cmd];
        if (!f) throw new Error(`unknown command ${msg.cmd}`);
        send({ id: msg.id, ok: true, ...(await f(msg)) });
    } catch (e) {
        send({ id: msg.id, ok: false, error: String(e && e.message ? e.message : e) });
    }
}
