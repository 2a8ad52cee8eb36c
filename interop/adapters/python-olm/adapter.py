#!/usr/bin/python3
"""souverain conformance adapter for libolm through python-olm.

Speaks the JSON-lines protocol of vectors/README.md on stdin and stdout:
one request per line in, one response per line out. Every operation goes
through python-olm (Debian's python3-olm, libolm 3.2.13) and nothing else;
operations python-olm does not offer are answered "unsupported", never
reimplemented here.

python-olm draws its random input from a module-level URANDOM; operations
whose vectors give that input (an outbound session's base and ratchet keys,
a SAS or PK private key, a PK ephemeral key) replace it for the length of
the call with a function returning exactly those bytes.

Run with /usr/bin/python3, whose site packages hold the olm module:

    souverain conformance -exec '/usr/bin/python3 interop/adapters/python-olm/adapter.py'
"""

import contextlib
import json
import os
import sys

import olm
import olm.account
import olm.group_session
import olm.pk
import olm.sas
import olm.session
from _libolm import lib  # python-olm's binding of libolm's C API

_MODULES = (olm.account, olm.session, olm.group_session, olm.pk, olm.sas)


class Unsupported(Exception):
    """The operation is not offered by python-olm."""


@contextlib.contextmanager
def random_input(data):
    """Make python-olm's URANDOM return data, once, for the block."""
    calls = []

    def urandom(n):
        calls.append(n)
        if n != len(data):
            raise ValueError("python-olm asked for %d random bytes, the vector gives %d" % (n, len(data)))
        return bytes(data)

    saved = [m.URANDOM for m in _MODULES]
    for m in _MODULES:
        m.URANDOM = urandom
    try:
        yield
    finally:
        for m, s in zip(_MODULES, saved):
            m.URANDOM = s


def text_bytes(s):
    """Recover the bytes of a string python-olm decoded with surrogateescape."""
    return s.encode("utf-8", "surrogateescape")


def pickle_key(args):
    # python-olm takes the pickle key as a str and uses its UTF-8 bytes.
    return args["pickle_key"]


def op_ed25519_verify(a):
    olm.ed25519_verify(a["public_key"], bytes.fromhex(a["message_hex"]), a["signature"])
    return {}


def op_olm_account(a):
    acc = olm.Account.from_pickle(a["pickle"].encode(), pickle_key(a))
    ik = acc.identity_keys
    return {
        "curve25519": ik["curve25519"],
        "ed25519": ik["ed25519"],
        "one_time_keys": acc.one_time_keys.get("curve25519", {}),
        "fallback_key": acc.fallback_key.get("curve25519", {}),
        "signature": acc.sign(bytes.fromhex(a["message_hex"])),
    }


def op_olm_session(a):
    s = olm.Session.from_pickle(a["pickle"].encode(), pickle_key(a))
    return {"session_id": s.id, "has_received_message": bool(lib.olm_session_has_received_message(s._session))}


def op_olm_outbound_session(a):
    acc = olm.Account.from_pickle(a["account_pickle"].encode(), pickle_key(a))
    with random_input(bytes.fromhex(a["random_hex"])):
        s = olm.OutboundSession(acc, a["their_identity_key"], a["their_one_time_key"])
    return {"session_id": s.id, "session_pickle": s.pickle(pickle_key(a)).decode()}


def op_olm_inbound_session(a):
    acc = olm.Account.from_pickle(a["account_pickle"].encode(), pickle_key(a))
    msg = olm.OlmPreKeyMessage(a["message"])
    s = olm.InboundSession(acc, msg, a["their_identity_key"] or None)
    pt = s.decrypt(msg, unicode_errors="surrogateescape")
    return {"session_id": s.id, "plaintext_hex": text_bytes(pt).hex(), "session_pickle": s.pickle(pickle_key(a)).decode()}


def op_olm_encrypt(a):
    s = olm.Session.from_pickle(a["session_pickle"].encode(), pickle_key(a))
    m = s.encrypt(bytes.fromhex(a["plaintext_hex"]))
    return {"message_type": m.message_type, "message": m.ciphertext}


def op_olm_decrypt(a):
    s = olm.Session.from_pickle(a["session_pickle"].encode(), pickle_key(a))
    t = a["message_type"]
    if t == 0:
        msg = olm.OlmPreKeyMessage(a["message"])
    elif t == 1:
        msg = olm.OlmMessage(a["message"])
    else:
        raise ValueError("unknown message type %d" % t)
    return {"plaintext_hex": text_bytes(s.decrypt(msg, unicode_errors="surrogateescape")).hex()}


def inbound_group(a):
    if ("session_key" in a) == ("exported_session_key" in a):
        raise ValueError("want exactly one of session_key and exported_session_key")
    if "session_key" in a:
        return olm.InboundGroupSession(a["session_key"])
    return olm.InboundGroupSession.import_session(a["exported_session_key"])


def op_megolm_session_key(a):
    s = inbound_group(a)
    return {"session_id": s.id, "first_known_index": s.first_known_index}


def op_megolm_export(a):
    return {"exported_session_key": inbound_group(a).export_session(a["index"])}


def op_megolm_decrypt(a):
    pt, index = inbound_group(a).decrypt(a["message"], unicode_errors="surrogateescape")
    return {"plaintext_hex": text_bytes(pt).hex(), "message_index": index}


def op_megolm_inbound(a):
    s = olm.InboundGroupSession.from_pickle(a["pickle"].encode(), pickle_key(a))
    return {"session_id": s.id, "first_known_index": s.first_known_index,
            "exported_session_key": s.export_session(s.first_known_index)}


def op_megolm_outbound(a):
    s = olm.OutboundGroupSession.from_pickle(a["pickle"].encode(), pickle_key(a))
    return {"session_id": s.id, "message_index": s.message_index, "session_key": s.session_key}


def op_megolm_encrypt(a):
    s = olm.OutboundGroupSession.from_pickle(a["pickle"].encode(), pickle_key(a))
    return {"message": s.encrypt(bytes.fromhex(a["plaintext_hex"]))}


def sas(a):
    with random_input(bytes.fromhex(a["private_key_hex"])):
        s = olm.Sas()
    s.set_their_pubkey(a["their_public_key"])
    return s


def op_sas_bytes(a):
    s = sas(a)
    return {"public_key": s.pubkey, "bytes_hex": s.generate_bytes(a["info"], a["length"]).hex()}


def op_sas_mac(a):
    s = sas(a)
    if a["method"] == "hkdf-hmac-sha256.v2":
        mac = s.calculate_mac_fixed_base64(a["input"], a["info"])
    elif a["method"] == "hkdf-hmac-sha256":
        mac = s.calculate_mac(a["input"], a["info"])
    else:
        raise ValueError("unknown MAC method %r" % a["method"])
    return {"mac": mac}


def op_pk_encrypt(a):
    e = olm.PkEncryption(a["recipient_public_key"])
    with random_input(bytes.fromhex(a["ephemeral_private_key_hex"])):
        m = e.encrypt(bytes.fromhex(a["plaintext_hex"]))
    return {"ciphertext": m.ciphertext, "mac": m.mac, "ephemeral": m.ephemeral_key}


def op_pk_decrypt(a):
    # python-olm makes a PkDecryption from URANDOM: give it the private key.
    with random_input(bytes.fromhex(a["private_key_hex"])):
        d = olm.PkDecryption()
    pt = d.decrypt(olm.PkMessage(a["ephemeral"], a["mac"], a["ciphertext"]), unicode_errors="surrogateescape")
    return {"plaintext_hex": text_bytes(pt).hex()}


OPS = {
    "ed25519.verify": op_ed25519_verify,
    "olm.account": op_olm_account,
    "olm.session": op_olm_session,
    "olm.outbound_session": op_olm_outbound_session,
    "olm.inbound_session": op_olm_inbound_session,
    "olm.encrypt": op_olm_encrypt,
    "olm.decrypt": op_olm_decrypt,
    "megolm.session_key": op_megolm_session_key,
    "megolm.export": op_megolm_export,
    "megolm.decrypt": op_megolm_decrypt,
    "megolm.inbound": op_megolm_inbound,
    "megolm.outbound": op_megolm_outbound,
    "megolm.encrypt": op_megolm_encrypt,
    "sas.bytes": op_sas_bytes,
    "sas.mac": op_sas_mac,
    "pk.encrypt": op_pk_encrypt,
    "pk.decrypt": op_pk_decrypt,
}

# What python-olm lacks, for the skip reasons.
MISSING = {
    "base64": "python-olm has no base64 functions",
    "json": "python-olm has no canonical JSON or JSON signing",
    "x25519": "python-olm exposes no X25519 key agreement",
    "cipher": "python-olm exposes no AES-SHA2 cipher primitive",
    "sas": "python-olm has no SAS decimals, emojis or MAC verification",
    "recovery_key": "python-olm has no recovery keys",
    "passphrase": "python-olm has no passphrase derivation",
    "secret_storage": "python-olm has no secret storage",
    "key_export": "python-olm has no key export files",
    "qrlogin": "libolm has no QR login: no ECIES or HPKE channel, no QR code data (vodozemac only)",
    "vodozemac": "libolm reads no vodozemac pickles",
    "dehydrated": "libolm has no dehydrated devices (MSC3814)",
}


def handle(req):
    op = req.get("op", "")
    f = OPS.get(op)
    if f is None:
        return {"unsupported": MISSING.get(op.split(".")[0], "python-olm does not offer " + op)}
    try:
        return {"result": f(req.get("args") or {})}
    except KeyError as e:
        return {"fault": "bad arguments for %s: %r" % (op, e)}
    except Exception as e:  # noqa: BLE001 - every failure of python-olm is an answer
        return {"error": "%s: %s" % (type(e).__name__, e) or type(e).__name__}


def isolated(req):
    """Run handle(req) in a forked child, so that memory corruption inside
    libolm (which some must-fail vectors cause: CBC over a partial block
    writes past its buffer) dies with the child and cannot change later
    answers. A child that crashes is reported as a fault."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = json.dumps(handle(req)).encode()
        except BaseException as e:  # noqa: BLE001
            out = json.dumps({"fault": "adapter: %r" % e}).encode()
        os.write(w, out)
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"fault": "libolm crashed the process (signal %d)" % os.WTERMSIG(status)}
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return {"fault": "the child process exited without an answer (status %d)" % os.WEXITSTATUS(status)}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            resp = {"id": "", "fault": "bad request: %s" % e}
        else:
            resp = isolated(req)
            resp["id"] = req.get("id", "")
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
