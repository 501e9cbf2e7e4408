# Test tables of the firmware's pure core. Runs unchanged under CPython (pytest imports it) and on
# the MicroPython Unix port (`micropython cases_core.py`, MICROPYPATH=firmware:tests/firmware).
# ruff: noqa: UP031, B904  (MicroPython-compatible: %-formatting, no exception chaining)
import binascii
import json

import c2d
import connect
import methods
import mqtt_connect as mc
import mqtt_packets as mp
import props
import retry
import telemetry
import twin
from _cases import eq, table_main, table_make
from config import config_validate
from errors import AgentError, error_explain, error_from_connack
from methods import method_call
from sas import hmac_sha256, sas_generate_token, sas_renew_after_ms
from twin import twin_is_stale, twin_parse_desired_patch, twin_parse_document

CASES, case = table_make()


URL_ENCODE = (
    ("abc-._~XYZ09", "abc-._~XYZ09"),
    ("$.mid", "%24.mid"),
    ("application/json", "application%2Fjson"),
    ("a b&c=d", "a%20b%26c%3Dd"),
    ("é", "%C3%A9"),
    ("dtmi:com:example:Thermostat;1", "dtmi%3Acom%3Aexample%3AThermostat%3B1"),
)


@case
def test_url_encode_table_matches():
    for text, encoded in URL_ENCODE:
        eq(props.url_encode(text), encoded)
        eq(props.url_decode(encoded), text)


@case
def test_url_decode_bad_escape_kept_literally():
    eq(props.url_decode("100%"), "100%")
    eq(props.url_decode("%zz"), "%zz")


PROPS = (
    ("k=v", {"k": "v"}),
    ("k", {"k": None}),
    ("k=", {"k": ""}),
    ("%24.mid=1&%24.to=%2Fdevices%2Fd", {"$.mid": "1", "$.to": "/devices/d"}),
    ("", {}),
)


@case
def test_props_decode_table_matches():
    for bag, expected in PROPS:
        eq(props.props_decode(bag), expected)
    eq(props.props_decode_query(b"200/?$rid=1&$version=3"), {"$rid": "1", "$version": "3"})
    eq(props.props_decode_query(b"200/"), {})


@case
def test_props_encode_single_roundtrips():
    for bag, values in PROPS:
        if len(values) == 1:
            eq(props.props_encode(values), bag)


@case
def test_iothub_user_name_x509_and_model_id():
    eq(
        connect.iothub_user_name("h.azure-devices.net", "d1"),
        "h.azure-devices.net/d1/?api-version=2021-04-12",
    )
    eq(
        connect.iothub_user_name("h", "d1", "dtmi:a:b;1"),
        "h/d1/?api-version=2021-04-12&model-id=dtmi%3Aa%3Ab%3B1",
    )


@case
def test_telemetry_get_publish_topic_has_system_properties():
    t = telemetry.telemetry_get_publish_topic("d1", {"alert": "a/b"}, "x-1")
    eq(
        t,
        b"devices/d1/messages/events/%24.mid=x-1&%24.ct=application%2Fjson&%24.ce=utf-8&alert=a%2Fb",
    )
    eq(
        telemetry.telemetry_get_publish_topic("d1", None, None, None, None),
        b"devices/d1/messages/events/",
    )


@case
def test_c2d_parse_received_topic_decodes_properties():
    eq(
        c2d.c2d_parse_received_topic("d1", b"devices/d1/messages/devicebound/%24.mid=7&a=b%2Fc&n"),
        {"$.mid": "7", "a": "b/c", "n": None},
    )
    eq(c2d.c2d_parse_received_topic("d1", b"devices/d2/messages/devicebound/a=b"), None)
    eq(c2d.c2d_parse_received_topic("d1", b"$iothub/twin/res/200/?$rid=1"), None)


TWIN_RES = (
    (b"$iothub/twin/res/200/?$rid=1", (200, "1", None)),
    (b"$iothub/twin/res/204/?$rid=2&$version=5", (204, "2", 5)),
    (b"$iothub/twin/res/429/?$rid=x", (429, "x", None)),
    (b"$iothub/twin/res/abc/?$rid=1", None),
    (b"devices/d/messages/devicebound/", None),
)


@case
def test_twin_parse_response_topic_table():
    for topic, expected in TWIN_RES:
        eq(twin.twin_parse_response_topic(topic), expected)


@case
def test_twin_parse_desired_topic_version():
    eq(twin.twin_parse_desired_topic(b"$iothub/twin/PATCH/properties/desired/?$version=7"), 7)
    eq(twin.twin_parse_desired_topic(b"$iothub/twin/PATCH/properties/desired/"), -1)
    eq(twin.twin_parse_desired_topic(b"$iothub/twin/res/200/?$rid=1"), None)


@case
def test_twin_request_topics():
    eq(twin.twin_get_request_topic(3), b"$iothub/twin/GET/?$rid=3")
    eq(twin.twin_get_patch_reported_topic("4"), b"$iothub/twin/PATCH/properties/reported/?$rid=4")


METHOD_TOPICS = (
    (b"$iothub/methods/POST/reboot/?$rid=5", ("reboot", "5")),
    (b"$iothub/methods/POST/set%20rate/?$rid=a1", ("set rate", "a1")),
    (b"$iothub/methods/POST//?$rid=5", None),
    (b"$iothub/methods/POST/reboot/", None),
    (b"$iothub/twin/res/200/?$rid=1", None),
)


@case
def test_method_parse_request_topic_table():
    for topic, expected in METHOD_TOPICS:
        eq(methods.method_parse_request_topic(topic), expected)
    eq(methods.method_get_response_topic(404, "5"), b"$iothub/methods/res/404/?$rid=5")


@case
def test_method_call_statuses():
    handlers = {
        "echo": lambda p: p,
        "tuple": lambda p: (201, {"ok": True}),
        "boom": lambda p: 1 // 0,
    }
    status, body = method_call(handlers, "echo", b'{"a": 1}')
    eq((status, json.loads(body)), (200, {"a": 1}))
    status, body = method_call(handlers, "tuple", b"")
    eq((status, json.loads(body)), (201, {"ok": True}))
    status, body = method_call(handlers, "boom", b"null")
    eq(status, 500)
    eq("ZeroDivisionError" in json.loads(body)["error"], True)
    status, body = method_call(handlers, "nope", b"{}")
    eq((status, json.loads(body)), (404, {"error": "unknown method: nope"}))
    status, body = method_call(handlers, "echo", b"{not json")
    eq(status, 400)


@case
def test_twin_parse_document_and_patch():
    desired, version, reported = twin_parse_document(
        b'{"desired": {"rate": 5, "$version": 3}, "reported": {"$version": 2}}'
    )
    eq((desired, version, reported), ({"rate": 5}, 3, {"$version": 2}))
    eq(twin_parse_desired_patch(b'{"rate": 6, "$version": 4}', 4), ({"rate": 6}, 4))
    eq(twin_parse_desired_patch(b'{"rate": 6}', 9), ({"rate": 6}, 9))


@case
def test_twin_is_stale_table():
    for version, last, stale in (
        (3, 2, False),
        (2, 2, True),
        (1, 2, True),
        (-1, 5, False),
        (0, -1, False),
    ):
        eq(twin_is_stale(version, last), stale)


@case
def test_mqtt_build_connect_x509_flags_0x80():
    buf = bytearray(128)
    n = mc.mqtt_build_connect(buf, "d1", "h/d1/?api-version=2021-04-12", None, 60, False)
    pkt = bytes(buf[:n])
    eq(pkt[0], 0x10)
    eq(pkt[1], n - 2)
    eq(pkt[2:10], b"\x00\x04MQTT\x04\x80")
    eq(pkt[10:12], b"\x00\x3c")
    eq(pkt[12:16], b"\x00\x02d1")
    eq(n, mc.mqtt_connect_size("d1", "h/d1/?api-version=2021-04-12"))


@case
def test_mqtt_build_connect_sas_has_password_flag():
    buf = bytearray(128)
    n = mc.mqtt_build_connect(buf, "d", "u", "p", 1177, True)
    eq(bytes(buf[:n]), b"\x10\x13\x00\x04MQTT\x04\xc2\x04\x99\x00\x01d\x00\x01u\x00\x01p")


@case
def test_mqtt_build_publish_qos1_and_long_length():
    buf = bytearray(16)
    n = mp.mqtt_build_publish(buf, b"t", b"hi", 1, 0x1234)
    eq(bytes(buf[:n]), b"\x32\x07\x00\x01t\x12\x34hi")
    payload = b"x" * 200
    big = bytearray(len(payload) + 1 + 9)  # the session's bound: topic + payload + 9
    n = mp.mqtt_build_publish(big, b"t", payload, 1, 1)
    eq(n, 1 + 2 + 2 + 1 + 2 + 200)
    eq(bytes(big[:3]), b"\x32\xcd\x01")  # 205 = 0x4d | 0x80, 0x01


@case
def test_mqtt_remaining_length_table():
    for length, encoded in (
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16383, b"\xff\x7f"),
        (2097152, b"\x80\x80\x80\x01"),
    ):
        buf = bytearray(5)
        end = mp.mqtt_put_remaining_length(buf, 0, length)
        eq(bytes(buf[:end]), encoded)
        eq(mc.mqtt_remaining_length_size(length), len(encoded))


@case
def test_mqtt_build_subscribe_and_puback():
    buf = bytearray(64)
    n = mc.mqtt_build_subscribe(buf, 1, (b"a", b"bc"), 1)
    eq(bytes(buf[:n]), b"\x82\x0b\x00\x01\x00\x01a\x01\x00\x02bc\x01")
    n = mp.mqtt_build_puback(buf, 258)
    eq(bytes(buf[:n]), b"\x40\x02\x01\x02")


@case
def test_mqtt_parse_incoming():
    eq(mc.mqtt_parse_connack(b"\x00\x05"), (False, 5))
    eq(mc.mqtt_parse_connack(b"\x01\x00"), (True, 0))
    topic, pid, qos, payload = mp.mqtt_parse_publish(0x32, b"\x00\x01t\x00\x09body")
    eq((topic, pid, qos, bytes(payload)), (b"t", 9, 1, b"body"))
    topic, pid, qos, payload = mp.mqtt_parse_publish(0x30, b"\x00\x01tbody")
    eq((topic, pid, qos, bytes(payload)), (b"t", 0, 0, b"body"))
    eq(mc.mqtt_parse_suback(b"\x00\x07\x01\x80"), (7, [1, 0x80]))


HMAC = (
    # RFC 4231 test cases 1 and 2
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    # key longer than the block
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
)


@case
def test_hmac_sha256_rfc4231():
    for key, message, digest in HMAC:
        eq(binascii.hexlify(hmac_sha256(key, message)).decode(), digest)


@case
def test_sas_generate_token_known_value():
    key = binascii.b2a_base64(b"0123456789abcdef0123456789abcdef").strip().decode()
    token = sas_generate_token("h.azure-devices.net", "d1", key, 1700000000)
    eq(token.startswith("SharedAccessSignature sr=h.azure-devices.net%2Fdevices%2Fd1&sig="), True)
    eq(token.endswith("&se=1700000000"), True)
    sig = hmac_sha256(
        b"0123456789abcdef0123456789abcdef", b"h.azure-devices.net%2Fdevices%2Fd1\n1700000000"
    )
    expected = props.url_encode(binascii.b2a_base64(sig).strip().decode())
    eq(
        token,
        "SharedAccessSignature sr=h.azure-devices.net%2Fdevices%2Fd1&sig="
        + expected
        + "&se=1700000000",
    )


@case
def test_retry_delays_grow_capped_with_jitter():
    # attempt n: [d, 2d) with d = min * 2**n; at the cap [max/2, max)
    eq(retry.retry_calculate_delay_ms(0, 0.0, 1000, 60000), 1000)
    eq(retry.retry_calculate_delay_ms(0, 0.999, 1000, 60000), 1999)
    eq(retry.retry_calculate_delay_ms(3, 0.0, 1000, 60000), 8000)
    eq(retry.retry_calculate_delay_ms(3, 0.5, 1000, 60000), 12000)
    eq(retry.retry_calculate_delay_ms(5, 0.0, 1000, 60000), 30000)
    eq(retry.retry_calculate_delay_ms(30, 0.0, 1000, 60000), 30000)
    eq(retry.retry_calculate_delay_ms(30, 0.999, 1000, 60000), 59970)
    # a cap below twice the minimum: never under the minimum, never over the cap
    eq(retry.retry_calculate_delay_ms(0, 0.0, 1000, 1200), 1000)
    eq(retry.retry_calculate_delay_ms(4, 0.999, 1000, 1200), 1199)
    eq(retry.retry_calculate_delay_ms(0, 0.5, 1000, 1000), 1000)
    eq(retry.retry_delay_for_error_ms("auth", 0, 0.0, 1000, 60000, 900000), 900000)
    eq(retry.retry_delay_for_error_ms("network", 0, 0.0, 1000, 60000, 900000), 1000)
    eq(retry.retry_next_attempt(5, 120000), 0)
    eq(retry.retry_next_attempt(5, 1000), 6)
    eq(retry.retry_next_attempt(0, -1), 1)


RETRY_DESCRIBE = (
    (0, "0.0 s"),
    (300, "0.3 s"),
    (5988, "5.9 s"),
    (9999, "9.9 s"),
    (10000, "10 s"),
    (59999, "59 s"),
    (60000, "1 min (reset to retry now)"),
    (1105561, "18 min (reset to retry now)"),
    (7199999, "119 min (reset to retry now)"),
    (7200000, "2 h (reset to retry now)"),
    (345600000, "96 h (reset to retry now)"),  # retry_auth_s at its cap, four times
)


@case
def test_retry_describe_ms_table_rounds_down_in_human_units():
    for ms, text in RETRY_DESCRIBE:
        eq(retry.retry_describe_ms(ms), text)


# Every topic the dispatcher (incoming.py: C2D, methods, twin) hands to a feature, and the feature
# whose parser takes it: each must fall under a filter of the one SUBSCRIBE at connect.
DISPATCHED = (
    (b"devices/d1/messages/devicebound/", "c2d"),
    (b"devices/d1/messages/devicebound/%24.mid=7&a=b", "c2d"),
    (b"$iothub/methods/POST/reboot/?$rid=5", "methods"),
    (b"$iothub/methods/POST/set%20rate/?$rid=a1", "methods"),
    (b"$iothub/twin/res/200/?$rid=1", "twin"),
    (b"$iothub/twin/res/204/?$rid=2&$version=5", "twin"),
    (b"$iothub/twin/PATCH/properties/desired/?$version=7", "twin"),
)


def _filter_matches(filter_, topic):
    # MQTT 3.1.1 topic filters: "+" one level, "#" the rest (the parent level included).
    f = filter_.split(b"/")
    t = topic.split(b"/")
    for i in range(len(f)):
        if f[i] == b"#":
            return True
        if i >= len(t) or (f[i] != b"+" and f[i] != t[i]):
            return False
    return len(f) == len(t)


def _parsed_by(topic):
    found = []
    if c2d.c2d_parse_received_topic("d1", topic) is not None:
        found.append("c2d")
    if methods.method_parse_request_topic(topic) is not None:
        found.append("methods")
    if (
        twin.twin_parse_response_topic(topic) is not None
        or twin.twin_parse_desired_topic(topic) is not None
    ):
        found.append("twin")
    return found


@case
def test_connect_subscribe_filters_cover_every_dispatched_topic():
    filters = connect.connect_subscribe_filters("d1")
    eq(len(filters) <= 5, True)  # the hub's limit of subscriptions
    for topic, feature in DISPATCHED:
        eq(_parsed_by(topic), [feature])
        covering = [f for f in filters if _filter_matches(f, topic)]
        if len(covering) != 1:
            raise AssertionError("%r is under filters %r" % (topic, covering))


@case
def test_connect_subscribe_filters_each_owned_by_its_feature():
    eq(
        connect.connect_subscribe_filters("d1"),
        (
            c2d.c2d_get_subscribe_filter("d1"),
            methods.methods_get_subscribe_filter(),
        )
        + twin.twin_get_subscribe_filters(),
    )


GOOD = {"hub_host": "h.azure-devices.net", "device_id": "d1", "cert_file": "c", "key_file": "k"}

CONFIG_ERRORS = (
    ({"device_id": "d1", "cert_file": "c", "key_file": "k"}, "hub_host is missing"),
    ({"hub_host": "h", "cert_file": "c", "key_file": "k"}, "device_id is missing"),
    ({"hub_host": "h", "device_id": "d"}, "no credentials"),
    ({"hub_host": "h", "device_id": "d", "cert_file": "c"}, "needs both cert_file and key_file"),
    (
        {
            "hub_host": "h",
            "device_id": "d",
            "cert_file": "c",
            "key_file": "k",
            "sas_key": "AAAAAAAAAAAAAAAAAAAAAA==",
        },
        "not both",
    ),
    ({"hub_host": "h", "device_id": "d", "sas_key": "!!"}, "sas_key is not a base64"),
    (
        {"hub_host": "h", "device_id": "d", "cert_file": "c", "key_file": "k", "keepalive_s": 1200},
        "at most 1177",
    ),
    ({"hub_host": "h:8883", "device_id": "d", "cert_file": "c", "key_file": "k"}, "bare host name"),
    (
        {"hub_host": "h", "device_id": "d", "cert_file": "c", "key_file": "k", "hub_port": "x"},
        "hub_port must be a number",
    ),
    # past 2**29 ms time.ticks_add overflows on 32-bit ports; a SAS token lives a day at most
    (dict(GOOD, sas_ttl_s=86401), "sas_ttl_s must be between 60 and 86400"),
    (dict(GOOD, telemetry_interval_s=86400 * 7), "telemetry_interval_s must be between"),
)

# the type is named, never the value: it may be a key or a password
SECRET_TYPE_ERRORS = (
    ({"hub_host": "h", "device_id": "d", "sas_key": 1234567890}, "sas_key must be a string"),
    (dict(GOOD, wifi_password=["hunter2"]), "wifi_password must be a string, got a list"),
)
TICKS_REACH_MS = 2**29 - 1  # time.ticks_add's largest step on a 32-bit port


@case
def test_config_validate_good_defaults():
    values = config_validate(GOOD)
    eq(
        (values["auth"], values["hub_port"], values["keepalive_s"], values["trust_file"]),
        ("x509", 8883, 60, "certs/trust.pem"),
    )
    sas = config_validate(
        {"hub_host": "h", "device_id": "d", "sas_key": "AAAAAAAAAAAAAAAAAAAAAA=="}
    )
    eq(sas["auth"], "sas")


@case
def test_config_validate_errors_are_one_line():
    for raw, needle in CONFIG_ERRORS:
        try:
            config_validate(raw)
        except AgentError as exc:
            eq(exc.kind, "config")
            if needle not in exc.message or "\n" in exc.message:
                raise AssertionError("%r: %r" % (needle, exc.message))
        else:
            raise AssertionError("accepted: %r" % raw)


@case
def test_config_validate_secret_of_wrong_type_named_by_type_only():
    for raw, needle in SECRET_TYPE_ERRORS:
        try:
            config_validate(raw)
        except AgentError as exc:
            if needle not in exc.message or "1234567890" in exc.message or "hunter2" in exc.message:
                raise AssertionError("%r: %r" % (needle, exc.message))
        else:
            raise AssertionError("accepted: %r" % raw)


@case
def test_sas_renew_after_ms_at_the_ttl_cap_fits_the_tick_clock():
    eq(config_validate(dict(GOOD, sas_ttl_s=86400))["sas_ttl_s"], 86400)
    delay = sas_renew_after_ms(86400)
    eq(delay, 77760000)  # 90% of a day
    eq(delay <= TICKS_REACH_MS, True)
    import time

    if hasattr(time, "ticks_add"):  # MicroPython: the schedule connect.py computes
        now = time.ticks_ms()
        renew_at = time.ticks_add(now, delay)
        eq(time.ticks_diff(renew_at, now), delay)
        eq(time.ticks_diff(now, renew_at) < 0, True)  # not due yet
        interval = int(
            config_validate(dict(GOOD, telemetry_interval_s=518400))["telemetry_interval_s"] * 1000
        )
        eq(time.ticks_diff(time.ticks_add(now, interval), now), interval)


EXPLAIN = (
    (OSError(-30592), "auth", "thumbprint registered"),
    (OSError(-0x7780), "auth", "key_file its key"),
    (OSError(12), "memory", "out of memory during the TLS handshake"),
    (OSError(-0x7F00), "memory", "out of memory during the TLS handshake"),
    (OSError(111), "network", "connection refused"),
    # a TLS socket reports errno negated: not a DNS failure
    (OSError(-110), "network", "connection timed out"),
    (OSError(-104), "network", "the hub reset the connection"),
    (OSError(-113), "network", "no route to the hub"),
    (OSError(-202), "network", "cannot resolve the hub's host name"),
    (OSError(-0x7000), "tls", "TLS handshake failed"),
    (OSError(-0x4E), "network", "network error -78"),
    (ValueError("The certificate validity starts in the future"), "clock", "clock not set"),
    (
        ValueError("The certificate Common Name (CN) does not match with the expected CN"),
        "tls",
        "hub_host",
    ),
    (ValueError("The certificate is not correctly signed by the trusted CA"), "tls", "trust_file"),
    (MemoryError(), "memory", "out of memory"),
)


@case
def test_error_explain_table():
    for exc, kind, needle in EXPLAIN:
        err = error_explain(exc, "connect")
        eq(err.kind, kind)
        if needle not in err.message:
            raise AssertionError("%r: %r" % (needle, err.message))


@case
def test_error_from_connack_codes():
    eq(
        error_from_connack(5).message,
        "the hub refused our certificate: is its thumbprint registered (CA-signed: its CA "
        "verified, cert_file the chain), is it still valid, and is key_file its key? (doctor on "
        "the host says)",
    )
    eq(error_from_connack(5, True).kind, "auth")
    eq("SAS" in error_from_connack(5, True).message, True)
    eq(error_from_connack(4).kind, "auth")
    # an X.509 device sends no password: its refused user name is hub_host or device_id
    eq("hub_host must be the hub's own name" in error_from_connack(4).message, True)
    eq("sas_key" in error_from_connack(4).message, False)
    eq("sas_key" in error_from_connack(4, True).message, True)
    eq(error_from_connack(3).kind, "network")
    eq("CONNACK 9" in error_from_connack(9).message, True)


if __name__ == "__main__":
    table_main("cases_core", CASES)
