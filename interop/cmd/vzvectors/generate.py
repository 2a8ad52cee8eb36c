#!/usr/bin/env python3
"""Writes vectors/data/dehydrated-devices.json and vectors/data/vodozemac-pickles.json.

Two kinds of vectors, both independent of souverain's code:

- copied verbatim from elsewhere: vodozemac's fuzz target for Megolm decryption
  (its pickle, key and the one message of its corpus that decrypts under it),
  matrix-rust-sdk's pickle fixtures, and a dehydrated device Element's crypto
  stack created (dehydrated/testdata/element_device.json, captured by
  interop/dehydrated_element_test.go);
- built here with Python's standard library and the `cryptography` package
  from the published keys of RFC 8032 (Ed25519, test 1) and RFC 7748 (X25519,
  section 6.1), laid out as vodozemac's serde structures and its dehydrated
  device pickle are (src/olm/account/mod.rs, src/olm/session/*.rs,
  src/megolm/*.rs, src/types/*.rs), so the expected keys, signatures and
  session IDs are the RFCs' and SHA-256's, not souverain's.

Run from anywhere: python3 interop/cmd/vzvectors/generate.py [output directory]
(default: vectors/data). It writes the same bytes every time (fixed nonces and
keys); interop/cmd/vzvectors/vzvectors_test.go checks that the committed files
are what it writes.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import struct
import sys

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# RFC 8032, section 7.1, TEST 1.
ED_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ED_PUB = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
ED_SIG_EMPTY = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
# RFC 7748, section 6.1.
ALICE_PRIV = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUB = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_PRIV = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PUB = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")

# Check the published values with an independent implementation.
_k = ed25519.Ed25519PrivateKey.from_private_bytes(ED_SEED)
assert _k.public_key().public_bytes_raw() == ED_PUB
assert _k.sign(b"") == ED_SIG_EMPTY
assert x25519.X25519PrivateKey.from_private_bytes(ALICE_PRIV).public_key().public_bytes_raw() == ALICE_PUB
assert x25519.X25519PrivateKey.from_private_bytes(BOB_PRIV).public_key().public_bytes_raw() == BOB_PUB

RFC_SOURCE = (
    "souverain interop/cmd/vzvectors/generate.py: keys of RFC 8032 (test 1) and RFC 7748 (6.1), "
    "laid out as vodozemac's serde structures (matrix-org/vodozemac cfc4eee); expected values from the RFCs "
    "and SHA-256, checked with Python's cryptography package"
)


def b64(b):
    return base64.b64encode(b).decode().rstrip("=")


def arr(b):
    """serde_json's rendering of a byte array."""
    return list(b)


def expanded(seed):
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def pickle_cipher(key):
    """libolm's pickle cipher, which vodozemac's own pickles use too."""
    okm = HKDF(algorithm=hashes.SHA256(), length=80, salt=bytes(32), info=b"Pickle").derive(key)
    return okm[:32], okm[32:64], okm[64:80]


def pickle_encrypt(key, plain):
    aes, mac, iv = pickle_cipher(key)
    p = padding.PKCS7(128).padder()
    data = p.update(plain) + p.finalize()
    e = Cipher(algorithms.AES(aes), modes.CBC(iv)).encryptor()
    ct = e.update(data) + e.finalize()
    return b64(ct + hmac.new(mac, ct, hashlib.sha256).digest()[:8])


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def flip(s, i):
    c = "B" if s[i] != "B" else "C"
    return s[:i] + c + s[i + 1 :]


PICKLE_KEY = "souverain vodozemac pickle key!!"  # 32 bytes of UTF-8
assert len(PICKLE_KEY.encode()) == 32


def vodozemac_vectors():
    out = []

    def add(**v):
        out.append({k: v[k] for k in ("id", "kind", "source", "inputs", "expected", "expected_error", "flags", "notes") if k in v})

    # vodozemac's fuzz target for Megolm decryption.
    afl = json.load(open(os.path.join(ROOT, "megolm", "testdata", "vodozemac_pickles.json")))
    a = afl["encrypted"][0]
    msg_hex = base64.b64decode(a["message"] + "==").hex()
    src = "matrix-org/vodozemac cfc4eee: afl/megolm-decryption/src/main.rs (PICKLE, PICKLE_KEY) and afl/megolm-decryption/in/message_125"
    add(id="vodozemac-afl-megolm-decryption", kind="vodozemac.inbound", source=src,
        inputs={"pickle": a["pickle"], "pickle_key": a["key"], "message": b64(bytes.fromhex(msg_hex))},
        expected={"session_id": a["session_id"], "first_known_index": 0, "plaintext_hex": a["plaintext"].encode().hex(), "message_index": 1},
        notes="The pickle vodozemac's fuzzer starts from (JSON without a config member: version 1 by default), and the one input of its corpus that is a valid message of that session.")
    add(id="vodozemac-afl-megolm-decryption-wrong-key", kind="vodozemac.inbound", source=src,
        inputs={"pickle": a["pickle"], "pickle_key": "Default pickle key 1234567891013"}, expected_error="bad-pickle-key")
    add(id="vodozemac-afl-megolm-decryption-changed", kind="vodozemac.inbound", source=src,
        inputs={"pickle": flip(a["pickle"], 40), "pickle_key": a["key"]}, expected_error="bad-pickle-key")
    add(id="vodozemac-afl-megolm-decryption-truncated", kind="vodozemac.inbound", source=src,
        inputs={"pickle": a["pickle"][:-3], "pickle_key": a["key"]}, expected_error="corrupted-pickle")
    for j in afl["json"]:
        add(id="matrix-rust-sdk-" + j["id"].removeprefix("rust-sdk-"), kind="vodozemac.inbound",
            source=j["origin"], inputs={"json": j["pickle"]}, expected={"session_id": j["session_id"], "first_known_index": 0})

    # Accounts from the RFC keys.
    def account(signing, otk_public=True, extra=None):
        acc = {
            "signing_key": signing,
            "diffie_hellman_key": arr(ALICE_PRIV),
            "one_time_keys": {"next_key_id": 2, "public_keys": {"1": arr(BOB_PUB)} if otk_public else {}, "private_keys": {"1": arr(BOB_PRIV)}},
            "fallback_keys": {"key_id": 1, "fallback_key": {"key_id": 0, "key": arr(ED_SEED), "published": True}, "previous_fallback_key": None},
        }
        if extra:
            extra(acc)
        return acc

    acc_expected = {"curve25519": b64(ALICE_PUB), "ed25519": b64(ED_PUB), "signature": b64(ED_SIG_EMPTY), "one_time_keys": [b64(BOB_PUB)]}
    normal = account({"Normal": arr(ED_SEED)})
    add(id="gen-vodozemac-pickles-account-seed", kind="vodozemac.account", source=RFC_SOURCE,
        inputs={"pickle": pickle_encrypt(PICKLE_KEY.encode(), dumps(normal)), "pickle_key": PICKLE_KEY, "message_hex": ""},
        expected=acc_expected, flags=["derived"],
        notes="AccountPickle with the Ed25519 key as a seed ({\"Normal\": …}), one unpublished one-time key and a published fallback key; the signature is RFC 8032's of the empty message.")
    add(id="gen-vodozemac-pickles-account-expanded", kind="vodozemac.account", source=RFC_SOURCE,
        inputs={"json": account({"Expanded": arr(expanded(ED_SEED))}), "message_hex": ""},
        expected=acc_expected, flags=["derived"],
        notes="The Ed25519 key in libolm's expanded form ({\"Expanded\": …}), as vodozemac keeps accounts it took over from libolm; the JSON as matrix-rust-sdk stores it, unencrypted.")
    add(id="gen-vodozemac-pickles-account-published", kind="vodozemac.account", source=RFC_SOURCE,
        inputs={"json": account({"Normal": arr(ED_SEED)}, otk_public=False), "message_hex": ""},
        expected=dict(acc_expected, one_time_keys=[]), flags=["derived"],
        notes="A one-time key with no public key in public_keys is a published one.")

    def bad_account(name, mutate, notes):
        add(id="gen-vodozemac-pickles-account-" + name, kind="vodozemac.account", source=RFC_SOURCE,
            inputs={"json": account({"Normal": arr(ED_SEED)}, extra=mutate), "message_hex": ""},
            expected_error="corrupted-pickle", flags=["policy"], notes=notes)

    bad_account("foreign-public-key", lambda a: a["one_time_keys"]["public_keys"].update({"1": arr(ALICE_PUB)}),
                "The public one-time key is not that of its private key.")
    bad_account("public-without-private", lambda a: a["one_time_keys"]["public_keys"].update({"7": arr(ALICE_PUB)}),
                "A public one-time key without its private key.")
    bad_account("short-key", lambda a: a.update({"diffie_hellman_key": arr(ALICE_PRIV[:31])}), "A 31-byte Curve25519 key.")
    bad_account("byte-out-of-range", lambda a: a.update({"diffie_hellman_key": arr(ALICE_PRIV[:31]) + [256]}), "A byte of 256.")
    bad_account("both-key-forms", lambda a: a.update({"signing_key": {"Normal": arr(ED_SEED), "Expanded": arr(expanded(ED_SEED))}}),
                "An Ed25519 key pair that is both Normal and Expanded.")
    bad_account("no-identity-key", lambda a: a.pop("diffie_hellman_key"), "No Curve25519 identity key.")
    bad_account("key-id-beyond-2-32", lambda a: a["one_time_keys"]["private_keys"].update({"4294967296": arr(BOB_PRIV)}),
                "A key ID souverain's 32-bit key IDs cannot hold (vodozemac counts in 64 bits from 0; no account gets there).")
    add(id="gen-vodozemac-pickles-account-wrong-key", kind="vodozemac.account", source=RFC_SOURCE,
        inputs={"pickle": pickle_encrypt(PICKLE_KEY.encode(), dumps(normal)), "pickle_key": PICKLE_KEY[::-1], "message_hex": ""},
        expected_error="bad-pickle-key", flags=["derived"])
    add(id="gen-vodozemac-pickles-account-not-object", kind="vodozemac.account", source=RFC_SOURCE,
        inputs={"pickle": pickle_encrypt(PICKLE_KEY.encode(), b"[]"), "pickle_key": PICKLE_KEY, "message_hex": ""},
        expected_error="corrupted-pickle", flags=["derived"])

    # Sessions: the session keys are RFC keys; the ID is SHA-256 of them.
    sid = b64(hashlib.sha256(ALICE_PUB + BOB_PUB + ED_PUB).digest())
    keys = {"identity_key": arr(ALICE_PUB), "base_key": arr(BOB_PUB), "one_time_key": arr(ED_PUB)}
    chain = lambda key, idx: {"key": arr(key), "index": idx}
    active = {
        "session_keys": keys,
        "sending_ratchet": {"type": "active", "parent_ratchet_key": None, "ratchet_count": {"Known": 0},
                            "active_ratchet": {"root_key": arr(bytes(range(32))), "ratchet_key": arr(BOB_PRIV)},
                            "symmetric_key_ratchet": chain(bytes(range(1, 33)), 3)},
        "receiving_chains": {"inner": []},
        "config": {"version": "V1"},
    }
    receiver = {"ratchet_key": arr(ALICE_PUB), "hkdf_ratchet": chain(bytes(range(2, 34)), 5),
                "skipped_message_keys": {"inner": [chain(bytes(range(3, 35)), 1)]}, "ratchet_count": {"Unknown": None}}
    inactive = {
        "session_keys": keys,
        "sending_ratchet": {"type": "inactive", "root_key": {"key": arr(bytes(range(32)))}, "ratchet_key": arr(ALICE_PUB), "ratchet_count": {"Unknown": None}},
        "receiving_chains": {"inner": [receiver]},
    }
    add(id="gen-vodozemac-pickles-session-active", kind="vodozemac.session", source=RFC_SOURCE,
        inputs={"pickle": pickle_encrypt(PICKLE_KEY.encode(), dumps(active)), "pickle_key": PICKLE_KEY},
        expected={"session_id": sid, "has_received_message": False}, flags=["derived"],
        notes="A session that has sent but not received: an active double ratchet, no receiving chain. The session ID is SHA-256 of the three session keys.")
    add(id="gen-vodozemac-pickles-session-inactive", kind="vodozemac.session", source=RFC_SOURCE,
        inputs={"json": inactive}, expected={"session_id": sid, "has_received_message": True}, flags=["derived"],
        notes="A session that received last: an inactive double ratchet whose key is the receiving chain's, one skipped message key; no config member (version 1).")
    v2 = dict(active, config={"version": "V2"})
    add(id="gen-vodozemac-pickles-session-v2", kind="vodozemac.session", source=RFC_SOURCE,
        inputs={"json": v2}, expected={"session_id": sid, "has_received_message": False, "version": 2}, flags=["derived"])

    def bad_session(name, base, mutate, notes):
        s = json.loads(json.dumps(base))
        mutate(s)
        add(id="gen-vodozemac-pickles-session-" + name, kind="vodozemac.session", source=RFC_SOURCE,
            inputs={"json": s}, expected_error="corrupted-pickle", flags=["policy"], notes=notes)

    bad_session("foreign-ratchet-key", inactive, lambda s: s["sending_ratchet"].update({"ratchet_key": arr(BOB_PUB)}),
                "An inactive ratchet whose key is no receiving chain's: the next ratchet step has no key to use.")
    bad_session("unknown-ratchet-type", active, lambda s: s["sending_ratchet"].update({"type": "dormant"}), "A ratchet of an unknown type.")
    bad_session("config-v3", active, lambda s: s.update({"config": {"version": "V3"}}), "A session configuration vodozemac does not have.")
    bad_session("no-sending-chain", active, lambda s: s["sending_ratchet"].pop("symmetric_key_ratchet"), "An active ratchet without its chain.")
    bad_session("six-chains", inactive, lambda s: s["receiving_chains"].update({"inner": [receiver] * 6}),
                "Six receiving chains; vodozemac keeps at most five.")

    # Outbound Megolm sessions: the session ID is the RFC 8032 public key.
    ratchet = {"inner": arr(bytes(range(128))), "counter": 7}
    for name, signing in (("seed", {"Normal": arr(ED_SEED)}), ("expanded", {"Expanded": arr(expanded(ED_SEED))})):
        add(id="gen-vodozemac-pickles-outbound-" + name, kind="vodozemac.outbound", source=RFC_SOURCE,
            inputs={"pickle": pickle_encrypt(PICKLE_KEY.encode(), dumps({"ratchet": ratchet, "signing_key": signing, "config": {"version": "V1"}})),
                    "pickle_key": PICKLE_KEY},
            expected={"session_id": b64(ED_PUB), "message_index": 7}, flags=["derived"])
    add(id="gen-vodozemac-pickles-outbound-zero-scalar", kind="vodozemac.outbound", source=RFC_SOURCE,
        inputs={"json": {"ratchet": ratchet, "signing_key": {"Expanded": arr(bytes(64))}}}, expected_error="corrupted-pickle", flags=["policy"],
        notes="An expanded key whose scalar is zero: it would sign for the identity point.")
    add(id="gen-vodozemac-pickles-outbound-short-ratchet", kind="vodozemac.outbound", source=RFC_SOURCE,
        inputs={"json": {"ratchet": {"inner": arr(bytes(127)), "counter": 0}, "signing_key": {"Normal": arr(ED_SEED)}}},
        expected_error="corrupted-pickle", flags=["derived"])
    add(id="gen-vodozemac-pickles-inbound-no-verified-flag", kind="vodozemac.inbound", source=RFC_SOURCE,
        inputs={"json": {"initial_ratchet": ratchet, "signing_key": arr(ED_PUB)}}, expected_error="corrupted-pickle", flags=["derived"])
    add(id="gen-vodozemac-pickles-inbound-ratchet-as-string", kind="vodozemac.inbound", source=RFC_SOURCE,
        inputs={"json": {"initial_ratchet": {"inner": b64(bytes(128)), "counter": 0}, "signing_key": arr(ED_PUB), "signing_key_verified": True}},
        expected_error="corrupted-pickle", flags=["derived"])
    return out


def dehydrated_vectors():
    out = []

    def add(**v):
        out.append({k: v[k] for k in ("id", "kind", "source", "inputs", "expected", "expected_error", "flags", "notes") if k in v})

    el = json.load(open(os.path.join(ROOT, "dehydrated", "testdata", "element_device.json")))
    esrc = "Element's crypto stack: " + el["origin"] + "; dehydrated/testdata/element_device.json"
    base = {"key": el["key"], "user_id": el["user_id"], "device_id": el["device_id"], "device_data": el["device_data"]}
    add(id="element-dehydrated-device", kind="dehydrated.rehydrate", source=esrc,
        inputs=dict(base, events=el["events"]),
        expected={"curve25519": el["curve25519"], "ed25519": el["ed25519"],
                  "room_keys": [{"room_id": k["room_id"], "session_id": k["session_id"], "sender": k["sender"], "sender_key": k["sender_key"]} for k in el["room_keys"]]},
        notes="A device Element created (org.matrix.msc3814.v2) and the m.room_key events Element's OlmMachine then sent it, from its owner and from another user; rehydrating gives the keys Element uploaded and the room keys.")
    add(id="element-dehydrated-device-wrong-key", kind="dehydrated.rehydrate", source=esrc,
        inputs=dict(base, key=b64(bytes(32))), expected_error="bad-pickle-key")
    dd = dict(el["device_data"])
    dd["device_pickle"] = flip(dd["device_pickle"], 20)
    add(id="element-dehydrated-device-changed", kind="dehydrated.rehydrate", source=esrc,
        inputs=dict(base, device_data=dd), expected_error="bad-pickle-key", notes="One character of device_pickle changed: Poly1305 refuses it.")
    dd = dict(el["device_data"])
    dd["nonce"] = b64(base64.b64decode(dd["nonce"] + "==")[:11])
    add(id="element-dehydrated-device-short-nonce", kind="dehydrated.rehydrate", source=esrc,
        inputs=dict(base, device_data=dd), expected_error="corrupted-pickle")
    dd = dict(el["device_data"])
    dd.pop("nonce")
    add(id="element-dehydrated-device-no-nonce", kind="dehydrated.rehydrate", source=esrc,
        inputs=dict(base, device_data=dd), expected_error="bad-format")
    dd = dict(el["device_data"], algorithm="org.matrix.msc3814.v3")
    add(id="element-dehydrated-device-unknown-algorithm", kind="dehydrated.rehydrate", source=esrc,
        inputs=dict(base, device_data=dd), expected_error="bad-format")
    evs = json.loads(json.dumps(el["events"]))
    ct = evs[0]["content"]["ciphertext"]
    (dev_key, msg), = ct.items()
    msg["body"] = flip(msg["body"], len(msg["body"]) - 5)
    add(id="element-dehydrated-device-tampered-event", kind="dehydrated.rehydrate", source=esrc,
        inputs=dict(base, events=evs), expected_error="bad-mac",
        notes="One character of the first event's Olm message changed (inside its MAC): the event fails, and the operation with it.")
    evs = json.loads(json.dumps(el["events"]))
    evs[0]["sender"] = "@mallory:example.org"
    add(id="element-dehydrated-device-spoofed-sender", kind="dehydrated.rehydrate", source=esrc,
        inputs=dict(base, events=evs), expected_error="payload-mismatch",
        notes="The event's envelope names another sender than the Olm payload: refused (the payload binds the sender).")
    add(id="element-dehydrated-device-short-key", kind="dehydrated.rehydrate", source=esrc,
        inputs=dict(base, key=b64(bytes(31))), expected_error="bad-key", notes="The secret in secret storage must be 32 bytes of base64.")

    # vodozemac's dehydrated device pickle from the RFC keys.
    key = bytes(range(0xA0, 0xC0))
    nonce = bytes(range(12))
    src = ("souverain interop/cmd/vzvectors/generate.py: vodozemac's dehydrated_device::Pickle (src/olm/account/mod.rs, cfc4eee) "
           "from the keys of RFC 8032 (test 1) and RFC 7748 (6.1), under ChaCha20-Poly1305 (Python's cryptography package)")

    def plain(version=1, otks=(BOB_PRIV,), fallback=b"\x01" + BOB_PRIV):
        return struct.pack(">I", version) + ALICE_PRIV + ED_SEED + struct.pack(">I", len(otks)) + b"".join(otks) + fallback

    def v2(p, device_id="RFCDEVICE"):
        ct = ChaCha20Poly1305(key).encrypt(nonce, p, None)
        return {"key": b64(key), "user_id": "@rfc:example.org", "device_id": device_id,
                "device_data": {"algorithm": "org.matrix.msc3814.v2", "device_pickle": b64(ct), "nonce": b64(nonce)}}

    ids = {"curve25519": b64(ALICE_PUB), "ed25519": b64(ED_PUB), "room_keys": []}
    add(id="gen-dehydrated-devices-v2-rfc-keys", kind="dehydrated.rehydrate", source=src, inputs=v2(plain()), expected=ids, flags=["derived"],
        notes="Identity keys, one one-time key and a fallback key; the identity keys are the RFCs' public keys.")
    add(id="gen-dehydrated-devices-v2-no-keys", kind="dehydrated.rehydrate", source=src, inputs=v2(plain(otks=(), fallback=b"\x00")), expected=ids, flags=["derived"])
    add(id="gen-dehydrated-devices-v2-version-2", kind="dehydrated.rehydrate", source=src, inputs=v2(plain(version=2)), expected_error="unknown-pickle-version", flags=["derived"])
    add(id="gen-dehydrated-devices-v2-fallback-flag-2", kind="dehydrated.rehydrate", source=src, inputs=v2(plain(fallback=b"\x02" + BOB_PRIV)),
        expected_error="corrupted-pickle", flags=["policy"], notes="The fallback key's presence flag is a bool: 0 or 1.")
    add(id="gen-dehydrated-devices-v2-truncated", kind="dehydrated.rehydrate", source=src, inputs=v2(plain()[:-1]), expected_error="corrupted-pickle", flags=["derived"])
    add(id="gen-dehydrated-devices-v2-trailing", kind="dehydrated.rehydrate", source=src, inputs=v2(plain() + b"\x00"), expected_error="corrupted-pickle", flags=["policy"])
    add(id="gen-dehydrated-devices-v2-huge-count", kind="dehydrated.rehydrate", source=src,
        inputs=v2(struct.pack(">I", 1) + ALICE_PRIV + ED_SEED + b"\xff\xff\xff\xff"), expected_error="corrupted-pickle", flags=["derived"])

    # org.matrix.msc3814.v1.olm: a libolm account pickle (version 4) under
    # HKDF-SHA-256(key, salt = device ID, info "dehydrated-device-pickle-key").
    def v1(device_id="RFCDEVICE", derive_with=None):
        lk = HKDF(algorithm=hashes.SHA256(), length=32, salt=(derive_with or device_id).encode(), info=b"dehydrated-device-pickle-key").derive(key)
        body = (struct.pack(">I", 4) + ED_PUB + expanded(ED_SEED) + ALICE_PUB + ALICE_PRIV
                + struct.pack(">I", 1) + struct.pack(">I", 1) + b"\x01" + BOB_PUB + BOB_PRIV
                + b"\x00" + struct.pack(">I", 1))
        return {"key": b64(key), "user_id": "@rfc:example.org", "device_id": device_id,
                "device_data": {"algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": pickle_encrypt(lk, body)}}

    v1src = src.replace("vodozemac's dehydrated_device::Pickle (src/olm/account/mod.rs, cfc4eee)",
                        "a libolm account pickle (version 4) under the key expanded as matrix-rust-sdk's expand_legacy_pickle_key (64b12e0b8)")
    add(id="gen-dehydrated-devices-v1-rfc-keys", kind="dehydrated.rehydrate", source=v1src, inputs=v1(), expected=ids, flags=["derived"])
    add(id="gen-dehydrated-devices-v1-other-device-id", kind="dehydrated.rehydrate", source=v1src, inputs=v1(derive_with="OTHERDEVICE"),
        expected_error="bad-pickle-key", flags=["derived"], notes="The key was expanded with another device ID as salt.")
    return out


OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "vectors", "data")


def write(name, family, description, vectors):
    path = os.path.join(OUT, name)
    text = json.dumps({"family": family, "description": description, "vectors": vectors}, indent=2, ensure_ascii=False)
    # Byte arrays on one line each, as serde_json would print them compactly.
    text = re.sub(r"\[\s+((?:\d+,\s+)*\d+)\s+\]", lambda m: "[" + ",".join(re.split(r",\s+", m.group(1))) + "]", text)
    with open(path, "w") as f:
        f.write(text + "\n")


write("vodozemac-pickles.json", "vodozemac-pickles",
      "vodozemac's own pickle format (vodozemac.account, vodozemac.session, vodozemac.outbound, vodozemac.inbound): the JSON of its serde "
      "structures, encrypted with libolm's pickle cipher under a 32-byte key, or unencrypted as matrix-rust-sdk stores it. From vodozemac's "
      "fuzz target and matrix-rust-sdk's fixtures, and built by interop/cmd/vzvectors from the keys of RFC 8032 and RFC 7748 "
      "(libolm and goolm read no vodozemac pickles).",
      vodozemac_vectors())
write("dehydrated-devices.json", "dehydrated-devices",
      "Dehydrated devices, MSC3814 (dehydrated.rehydrate): device_data in org.matrix.msc3814.v2 (vodozemac's dehydrated device pickle "
      "under ChaCha20-Poly1305) and org.matrix.msc3814.v1.olm (a libolm account pickle under a key expanded with the device ID), and the "
      "to-device events the device collected. A device Element's crypto stack created, and devices built by interop/cmd/vzvectors from the "
      "keys of RFC 8032 and RFC 7748 (libolm and goolm have no dehydrated devices).",
      dehydrated_vectors())
