"""`authenticate` for CA-signed devices: the whole chain is checked as IoT Hub checks it.

No sockets here: the verdict on a CONNECT and the chain a device presents, leaf first. The
forgeries are what a device of the group could build with its own key.
"""

import time

import pytest
from cryptography.hazmat.primitives import hashes

from host_tools.hub import mqtt
from host_tools.hub.auth import authenticate
from host_tools.hub.registry import AUTH_CA, AUTH_SELF_SIGNED, Registry, RegistryError
from tests.hub.chains import DAY, NOW, make_cert, new_key, resign_sha1, to_pem

HOST = "hub.example"


@pytest.fixture(scope="module")
def pki():
    """Root -> intermediate (path length 0) -> device "dev-1"; only the root gets registered."""
    root_key, inter_key, leaf_key = new_key(), new_key(), new_key()
    root = make_cert("Root CA", root_key, ca=True)
    inter = make_cert("Intermediate CA", inter_key, (root, root_key), ca=True, path_length=0)
    leaf = make_cert("dev-1", leaf_key, (inter, inter_key))
    return {
        "root": (root, root_key),
        "inter": (inter, inter_key),
        "leaf": (leaf, leaf_key),
    }


def registry_with(tmp_path, root, verified=True, devices=("dev-1",)) -> Registry:
    registry = Registry(tmp_path / "hub")
    add = registry.add_verified_ca if verified else registry.add_ca
    add("root", to_pem(root))
    for device_id in devices:
        registry.add_device(device_id, AUTH_CA)
    return registry


def judge(registry, device_id, chain):
    connect = mqtt.Connect(device_id, f"{HOST}/{device_id}/?api-version=2021-04-12")
    return authenticate(connect, HOST, registry, chain, time.time())


def test_authenticate_leaf_and_intermediate_root_registered_accepted(tmp_path, pki):
    registry = registry_with(tmp_path, pki["root"][0])
    verdict = judge(registry, "dev-1", [pki["leaf"][0], pki["inter"][0]])
    assert verdict.accepted, verdict.reason


def test_authenticate_chain_repeating_the_root_accepted(tmp_path, pki):
    # what `certs device --ca` writes to chain.pem: leaf, intermediate, root
    registry = registry_with(tmp_path, pki["root"][0])
    verdict = judge(registry, "dev-1", [pki["leaf"][0], pki["inter"][0], pki["root"][0]])
    assert verdict.accepted, verdict.reason


def test_authenticate_leaf_without_intermediate_refused(tmp_path, pki):
    registry = registry_with(tmp_path, pki["root"][0])
    verdict = judge(registry, "dev-1", [pki["leaf"][0]])
    assert verdict.code == mqtt.CONNACK_NOT_AUTHORIZED
    assert "does not verify to a verified CA" in verdict.reason


def test_authenticate_unverified_root_refused_naming_the_ca(tmp_path, pki):
    registry = registry_with(tmp_path, pki["root"][0], verified=False)
    verdict = judge(registry, "dev-1", [pki["leaf"][0], pki["inter"][0]])
    assert not verdict.accepted and "'root' is not verified" in verdict.reason


def test_authenticate_other_device_certificate_refused_cn(tmp_path, pki):
    registry = registry_with(tmp_path, pki["root"][0], devices=("dev-2",))
    verdict = judge(registry, "dev-2", [pki["leaf"][0], pki["inter"][0]])
    assert not verdict.accepted and "is not the device id" in verdict.reason


def test_authenticate_forged_by_a_device_leaf_key_refused(tmp_path, pki):
    # dev-1 signs a certificate for dev-2 with its own key (its certificate is CA:FALSE)
    registry = registry_with(tmp_path, pki["root"][0], devices=("dev-1", "dev-2"))
    leaf, leaf_key = pki["leaf"]
    forged = make_cert("dev-2", new_key(), (leaf, leaf_key))
    verdict = judge(registry, "dev-2", [forged, leaf, pki["inter"][0]])
    assert not verdict.accepted
    assert "basicConstraints.cA must be asserted" in verdict.reason, verdict.reason


def _through(pki, intermediate_key, **intermediate):
    """A dev-1 chain through an intermediate made with `intermediate` options, under the root."""
    inter = make_cert("Odd Intermediate", intermediate_key, pki["root"], **intermediate)
    return [make_cert("dev-1", new_key(), (inter, intermediate_key)), inter]


@pytest.mark.parametrize(
    "intermediate, reason",
    [
        ({"ca": False, "eku": None}, "basicConstraints.cA must be asserted"),
        ({"ca": True, "usage": ("digital_signature", "crl_sign")}, "keyCertSign"),
        ({"ca": True, "basic_constraints": False}, "basicConstraints"),
        ({"ca": True, "not_before": NOW - 9 * DAY, "not_after": NOW - DAY}, "expired on"),
        ({"ca": True, "not_before": NOW + DAY}, "is not valid before"),
    ],
    ids=["ca-false", "no-keycertsign", "no-basic-constraints", "expired", "not-yet-valid"],
)
def test_authenticate_bad_intermediate_refused(tmp_path, pki, intermediate, reason):
    registry = registry_with(tmp_path, pki["root"][0])
    verdict = judge(registry, "dev-1", _through(pki, new_key(), **intermediate))
    assert verdict.code == mqtt.CONNACK_NOT_AUTHORIZED
    assert reason in verdict.reason, verdict.reason


def test_authenticate_rsa1024_intermediate_refused(tmp_path, pki):
    registry = registry_with(tmp_path, pki["root"][0])
    verdict = judge(registry, "dev-1", _through(pki, new_key("rsa1024"), ca=True))
    assert not verdict.accepted and "too weak" in verdict.reason, verdict.reason


def test_authenticate_sha1_signed_leaf_refused(tmp_path, pki):
    registry = registry_with(tmp_path, pki["root"][0])
    inter, inter_key = pki["inter"]
    leaf = resign_sha1(make_cert("dev-1", new_key(), (inter, inter_key)), inter_key)
    verdict = judge(registry, "dev-1", [leaf, inter])
    assert not verdict.accepted and "signature algorithm" in verdict.reason, verdict.reason


def test_authenticate_path_length_exceeded_refused(tmp_path, pki):
    # a root with path length 0 may sign devices, not an intermediate CA
    root_key = pki["root"][1]
    strict_root = make_cert("Strict Root CA", root_key, ca=True, path_length=0)
    inter_key = new_key()
    inter = make_cert("Intermediate CA", inter_key, (strict_root, root_key), ca=True)
    leaf = make_cert("dev-1", new_key(), (inter, inter_key))
    registry = registry_with(tmp_path, strict_root)
    verdict = judge(registry, "dev-1", [leaf, inter])
    assert not verdict.accepted and "path length" in verdict.reason, verdict.reason


@pytest.mark.parametrize(
    "validity, reason",
    [
        ({"not_before": NOW - 9 * DAY, "not_after": NOW - DAY}, "expired on"),
        ({"not_before": NOW + DAY}, "is not valid before"),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_authenticate_leaf_out_of_validity_refused(tmp_path, pki, validity, reason):
    registry = registry_with(tmp_path, pki["root"][0])
    inter, inter_key = pki["inter"]
    leaf = make_cert("dev-1", new_key(), (inter, inter_key), **validity)
    verdict = judge(registry, "dev-1", [leaf, inter])
    assert not verdict.accepted and reason in verdict.reason, verdict.reason


def test_authenticate_self_signed_thumbprint_accepted(tmp_path):
    key = new_key()
    cert = make_cert("dev-self", key)
    registry = Registry(tmp_path / "hub")
    registry.add_device("dev-self", AUTH_SELF_SIGNED, cert.fingerprint(hashes.SHA256()).hex())
    verdict = judge(registry, "dev-self", [cert])
    assert verdict.accepted, verdict.reason


def test_registry_add_ca_rsa1024_refused(tmp_path):
    weak = make_cert("Weak CA", new_key("rsa1024"), ca=True)
    with pytest.raises(RegistryError, match="RSA key of 1024 bits"):
        Registry(tmp_path / "hub").add_ca("weak", to_pem(weak))


def test_registry_add_ca_sha1_signed_refused(tmp_path):
    key = new_key()
    weak = resign_sha1(make_cert("SHA-1 CA", key, ca=True), key)
    with pytest.raises(RegistryError, match="SHA1 signature"):
        Registry(tmp_path / "hub").add_ca("weak", to_pem(weak))
