# sas.py: HMAC-SHA256 over hashlib.sha256 (MicroPython has no hmac module) and IoT Hub SAS tokens.
# Pure: the current Unix time is an argument.
import binascii
import hashlib

from micropython import const
from props import url_encode

_BLOCK = const(64)


def hmac_sha256(key, message):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + b"\x00" * (_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(message)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def sas_resource_uri(hub_host, device_id):
    return hub_host + "/devices/" + device_id


def sas_generate_token(hub_host, device_id, key_base64, expiry_unix):
    return sas_token(sas_resource_uri(hub_host, device_id), key_base64, expiry_unix)


def sas_token(resource, key_base64, expiry_unix, key_name=None):
    # resource: the hub's {host}/devices/{id}, or DPS's {idScope}/registrations/{id} with
    # key_name "registration" (skn).
    resource = url_encode(resource)
    key = binascii.a2b_base64(key_base64)
    to_sign = resource + "\n" + str(expiry_unix)
    signature = binascii.b2a_base64(hmac_sha256(key, to_sign.encode())).strip()
    token = (
        "SharedAccessSignature sr="
        + resource
        + "&sig="
        + url_encode(signature.decode())
        + "&se="
        + str(expiry_unix)
    )
    return token + "&skn=" + key_name if key_name else token


def sas_renew_after_ms(ttl_s):
    # Reconnect with a new token at 90% of its life, at least 30 s before it expires.
    return (ttl_s - max(30, ttl_s // 10)) * 1000


def sas_key_is_valid(key_base64):
    try:
        return len(binascii.a2b_base64(key_base64)) >= 16
    except Exception:
        return False
