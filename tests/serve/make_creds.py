"""make_creds.py DIR — what nsc makes for an operator-mode (decentralised) nats-server,
for the crest serve tests: an operator, a system account, an account with JetStream and a
user of it (nkeys and JWTs). Writes DIR/operator.jwt, DIR/resolver.conf (system_account and
a MEMORY resolver preloaded with both accounts: include it in the server's config),
DIR/user.creds (the user's JWT and seed, as nsc writes a credentials file) and
DIR/stranger.creds (a user of an account the server does not know). Ed25519 from
python3-cryptography; the nkey encoding (base32 of prefix, key, CRC-16) as engine/serve/nkey.c.
"""
import base64, hashlib, json, os, sys, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

PREFIX = {"seed": 18 << 3, "operator": 14 << 3, "account": 0, "user": 20 << 3}


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def with_crc(raw):
    c = crc16(raw)
    return raw + bytes([c & 0xFF, c >> 8])


def nkey(kind):
    sk = Ed25519PrivateKey.generate()
    secret = sk.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    p = PREFIX[kind]
    seed = b32(with_crc(bytes([PREFIX["seed"] | p >> 5, (p & 31) << 3]) + secret))
    return sk, seed, b32(with_crc(bytes([p]) + pub))


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(claims, issuer_sk):
    """A JWT of the claims signed by the issuer (jti: a unique id, which the server does not check)."""
    claims = dict(claims, iat=int(time.time()), jti="")
    claims["jti"] = b32(hashlib.sha512(json.dumps(claims).encode()).digest()[:32])
    head = b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64(json.dumps(claims).encode())
    return head + "." + body + "." + b64(issuer_sk.sign((head + "." + body).encode()))


def creds(user_jwt, seed):
    return ("-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n"
            "NKEYs are sensitive and should be treated as secrets.\n\n"
            "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n\n"
            "*************************************************************\n" % (user_jwt, seed))


def user(account_sk, account_pub):
    sk, seed, pub = nkey("user")
    claims = {"iss": account_pub, "sub": pub, "name": "crest-serve",
              "nats": {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2}}
    return creds(jwt(claims, account_sk), seed)


out = sys.argv[1]
op_sk, _, op_pub = nkey("operator")
acc_sk, _, acc_pub = nkey("account")
sys_sk, _, sys_pub = nkey("account")
limits = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True,
          "conn": -1, "leaf": -1, "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}
op_jwt = jwt({"iss": op_pub, "sub": op_pub, "name": "crest-test", "nats": {"type": "operator", "version": 2}}, op_sk)
acc_jwt = jwt({"iss": op_pub, "sub": acc_pub, "name": "crest",
               "nats": {"limits": limits, "default_permissions": {"pub": {}, "sub": {}}, "type": "account", "version": 2}},
              op_sk)
sys_jwt = jwt({"iss": op_pub, "sub": sys_pub, "name": "SYS",
               "nats": {"limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                                   "wildcards": True, "conn": -1, "leaf": -1},
                        "type": "account", "version": 2}}, op_sk)
open(os.path.join(out, "operator.jwt"), "w").write(op_jwt + "\n")
open(os.path.join(out, "resolver.conf"), "w").write(
    "system_account: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: \"%s\"\n  %s: \"%s\"\n}\n"
    % (sys_pub, acc_pub, acc_jwt, sys_pub, sys_jwt))
open(os.path.join(out, "user.creds"), "w").write(user(acc_sk, acc_pub))
other_sk, _, other_pub = nkey("account")
open(os.path.join(out, "stranger.creds"), "w").write(user(other_sk, other_pub))
