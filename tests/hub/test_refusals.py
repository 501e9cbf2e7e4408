"""One test per refusal: the device gets the hub's CONNACK code and the log says why."""

import base64
import datetime
import time
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from host_tools import certs
from host_tools.hub import mqtt
from host_tools.hub.auth import sas_token_sign
from tests.hub.device import Device

KEY = base64.b64encode(b"k" * 32).decode()


def sas_token(hub, device_id, key=KEY, expiry=None, resource=None):
    resource = quote(resource or f"{hub.host_name}/devices/{device_id}", safe="")
    expiry = int(time.time()) + 3600 if expiry is None else expiry
    signature = quote(sas_token_sign(key, resource, expiry), safe="")
    return f"SharedAccessSignature sr={resource}&sig={signature}&se={expiry}".encode()


def refused(hub, device, code, reason_part, **connect):
    connack = device.connect(**connect)
    assert connack.return_code == code
    assert device.is_closed()
    reason = hub.refusals(device.device_id)[-1].reason
    assert reason_part in reason, reason


def test_connect_unregistered_thumbprint_refused_not_authorized(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", "AB" * 20)
    refused(hub, Device(hub, "dev-self", files.cert_pem, files.key_pem), 5, "not registered")


def test_connect_unregistered_device_refused_not_authorized(hub, credentials):
    files = credentials["self_signed"]
    refused(hub, Device(hub, "dev-self", files.cert_pem, files.key_pem), 5, "not registered")


def test_connect_ca_signed_for_another_device_refused_not_authorized(hub, credentials):
    hub.register_ca("test-ca", credentials["ca"].cert_pem)
    hub.register_x509_ca("dev-other")
    files = credentials["ca_signed"]  # CN = dev-ca
    refused(hub, Device(hub, "dev-other", files.cert_pem, files.key_pem), 5, "is not the device id")


def test_connect_ca_signed_verified_ca_accepted(hub, credentials):
    hub.register_ca("test-ca", credentials["ca"].cert_pem)
    hub.register_x509_ca("dev-ca")
    files = credentials["ca_signed"]
    device = Device(hub, "dev-ca", files.chain_pem or files.cert_pem, files.key_pem)
    assert device.connect().return_code == 0


def test_connect_ca_signed_unverified_ca_refused_not_authorized(hub, credentials):
    hub.register_ca("test-ca", credentials["ca"].cert_pem, verified=False)
    hub.register_x509_ca("dev-ca")
    files = credentials["ca_signed"]
    refused(hub, Device(hub, "dev-ca", files.cert_pem, files.key_pem), 5, "not verified")


def test_connect_ca_signed_after_proof_of_possession_accepted(hub, credentials, tmp_path):
    hub.register_ca("test-ca", credentials["ca"].cert_pem, verified=False)
    code = hub.ca_verification_code("test-ca")
    proof = certs.create_verification_cert(credentials["root"] / "ca", code, tmp_path / "v.pem")
    assert hub.verify_ca("test-ca", proof)["isVerified"]
    hub.register_x509_ca("dev-ca")
    files = credentials["ca_signed"]
    assert Device(hub, "dev-ca", files.cert_pem, files.key_pem).connect().return_code == 0


def write_expired_certificate(folder, device_id):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, device_id)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now - datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "expired.crt.pem", folder / "expired.key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, cert.fingerprint(hashes.SHA256()).hex()


def test_connect_expired_certificate_refused_not_authorized(hub, tmp_path):
    cert_file, key_file, thumbprint = write_expired_certificate(tmp_path, "dev-old")
    hub.register_x509("dev-old", thumbprint)
    refused(hub, Device(hub, "dev-old", cert_file, key_file), 5, "expired")


def test_connect_disabled_device_refused_not_authorized(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    hub.set_enabled("dev-self", False)
    refused(hub, Device(hub, "dev-self", files.cert_pem, files.key_pem), 5, "disabled")


def test_set_enabled_false_connected_device_dropped(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    assert device.connect().return_code == 0
    hub.set_enabled("dev-self", False)
    assert device.is_closed()


def test_connect_sas_valid_token_accepted(hub):
    hub.register_sas("dev-sas", KEY)
    device = Device(hub, "dev-sas")
    assert device.connect(password=sas_token(hub, "dev-sas")).return_code == 0


def test_connect_sas_secondary_key_accepted(hub):
    secondary = base64.b64encode(b"s" * 32).decode()
    hub.register_sas("dev-sas", KEY, secondary)
    device = Device(hub, "dev-sas")
    assert device.connect(password=sas_token(hub, "dev-sas", key=secondary)).return_code == 0


def test_connect_sas_bad_signature_refused_not_authorized(hub):
    hub.register_sas("dev-sas", KEY)
    wrong = base64.b64encode(b"w" * 32).decode()
    token = sas_token(hub, "dev-sas", key=wrong)
    refused(hub, Device(hub, "dev-sas"), 5, "signature", password=token)


def test_connect_sas_expired_token_refused_not_authorized(hub):
    hub.register_sas("dev-sas", KEY)
    token = sas_token(hub, "dev-sas", expiry=int(time.time()) - 60)
    refused(hub, Device(hub, "dev-sas"), 5, "expired", password=token)


def test_connect_sas_other_resource_refused_not_authorized(hub):
    hub.register_sas("dev-sas", KEY)
    token = sas_token(hub, "dev-sas", resource=f"{hub.host_name}/devices/other")
    refused(hub, Device(hub, "dev-sas"), 5, "resource", password=token)


def malformed_token(hub, device_id, sig=None, se=None) -> bytes:
    resource = quote(f"{hub.host_name}/devices/{device_id}", safe="")
    expiry = str(int(time.time()) + 3600) if se is None else se
    signature = quote(sas_token_sign(KEY, resource, int(time.time()) + 3600), safe="")
    signature = signature if sig is None else sig
    return f"SharedAccessSignature sr={resource}&sig={signature}&se={expiry}".encode()


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"sig": "caf\u00e9\u2603=="}, "signature"),  # non-ASCII sig, raw UTF-8
        ({"sig": "caf%C3%A9%E2%98%83%3D%3D"}, "signature"),  # non-ASCII sig, percent-encoded
        ({"sig": "%FF%FE"}, "signature"),  # not even UTF-8 once unquoted
        ({"se": "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660"}, "se="),
        ({"se": "\u00b2\u00b3"}, "se="),  # superscript digits: str.isdigit() says True
        ({"se": "9" * 5000}, "se="),  # int() of it is slow or refused, and no Unix time anyway
        ({"se": "-1"}, "se="),
    ],
)
def test_connect_sas_malformed_field_refused_not_authorized_and_logged(hub, fields, reason):
    hub.register_sas("dev-sas", KEY)
    token = malformed_token(hub, "dev-sas", **fields)
    refused(hub, Device(hub, "dev-sas"), 5, reason, password=token)
    assert hub.refusals("dev-sas")[-1].code == 5


def test_connect_sas_password_not_utf8_refused_not_authorized_and_logged(hub):
    hub.register_sas("dev-sas", KEY)
    refused(hub, Device(hub, "dev-sas"), 5, "not a SAS token", password=b"\xff\xfe\x00")


def test_connect_sas_no_password_refused_not_authorized(hub):
    hub.register_sas("dev-sas", KEY)
    refused(hub, Device(hub, "dev-sas"), 5, "no password")


def test_connect_x509_device_without_certificate_refused_not_authorized(hub, credentials):
    hub.register_x509("dev-self", credentials["self_signed"].sha1)
    refused(hub, Device(hub, "dev-self"), 5, "no client certificate")


def test_connect_malformed_user_name_refused_bad_user_name(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    refused(hub, device, 4, "user name", user_name="dev-self")


def test_connect_client_id_differs_from_user_name_refused_bad_user_name(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    connack = device.connect(client_id="someone-else")
    assert connack.return_code == 4


def test_connect_x509_with_password_accepted_with_warning(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    assert device.connect(password=b"ignored").return_code == 0
    warnings = [e for e in hub.connection_log if e.event == "warning"]
    assert "sent a password" in warnings[-1].reason


def test_publish_other_device_topic_closes_connection(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    assert device.connect().return_code == 0
    device.publish("devices/other/messages/events/", b"x", qos=1)
    assert device.is_closed()
    closed = [e for e in hub.connection_log if e.event == "closed"]
    assert "devices/other" in closed[-1].reason
    assert hub.telemetry() == []


def test_subscribe_other_device_topic_refused_in_suback(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    assert device.connect().return_code == 0
    codes = device.subscribe("devices/other/messages/devicebound/#", "$iothub/twin/res/#")
    assert codes == [mqtt.SUBACK_FAILURE, 1]
