"""A CA-signed device on both runtimes: issued by an intermediate, only the root registered and
verified in the hub. The board loads `chain.pem` (what `config` ships by default for such a
device) and connects; loading only its leaf, it is refused with a line that says so."""

import pytest

from host_tools.certs import create_ca, create_device_cert

from .conftest import MAIN_HEADER

SEND_ONE = MAIN_HEADER + 'agent.send({"n": 1})\nagent.run()\n'


@pytest.fixture(scope="module")
def intermediate_pki(tmp_path_factory):
    """(root CA folder, intermediate CA folder under it)."""
    base = tmp_path_factory.mktemp("pki")
    create_ca(base / "root", common_name="Fleet Root CA")
    create_ca(base / "int", common_name="Fleet Intermediate CA", parent_dir=base / "root")
    return base / "root", base / "int"


def ca_signed_device(make_device, hub, intermediate_pki, tmp_path, device_id, presents):
    """A device whose flash holds its CA-signed identity; it loads the file `presents` names:
    chain.pem as written (leaf, intermediate, root), leaf + intermediate, or the leaf alone."""
    root, intermediate = intermediate_pki
    identity = create_device_cert(device_id, tmp_path / f"ca-{device_id}", ca_dir=intermediate)
    hub.register_ca("fleet-root", root / "ca.crt.pem")  # verified: proof is tested elsewhere
    hub.register_x509_ca(device_id)
    device = make_device(device_id, register=False)
    board_file, data = {
        "chain.pem": ("certs/chain.pem", identity.chain_pem.read_bytes()),
        "leaf+intermediate": (
            "certs/two.pem",
            identity.cert_pem.read_bytes() + (intermediate / "ca.crt.pem").read_bytes(),
        ),
        "leaf": ("certs/device.crt.der", identity.cert_der.read_bytes()),
    }[presents]
    device.files[board_file] = data
    device.files["certs/device.key.der"] = identity.key_der.read_bytes()
    device.files["config.json"]["cert_file"] = board_file
    return device


@pytest.mark.parametrize("presents", ["chain.pem", "leaf+intermediate"])
def test_firmware_ca_signed_chain_through_intermediate_connects(
    make_device, hub, intermediate_pki, tmp_path, presents
):
    device = ca_signed_device(make_device, hub, intermediate_pki, tmp_path, "dev-ca", presents)
    board = device.start(SEND_ONE)
    board.wait_for_line(r"^agent: connected to localhost:\d+ as dev-ca \(x509\)$", timeout=30)
    assert hub.wait_for_telemetry(1, device_id="dev-ca", timeout=30)


def test_firmware_ca_signed_leaf_alone_refused_with_clear_cause(
    make_device, hub, intermediate_pki, tmp_path
):
    device = ca_signed_device(make_device, hub, intermediate_pki, tmp_path, "dev-leaf", "leaf")
    board = device.start(SEND_ONE)
    line = board.wait_for_line(r"^agent: error: ", timeout=30)
    assert "certificate" in line and "cert_file the chain" in line, line
    (refusal,) = hub.refusals("dev-leaf")[-1:]
    assert "does not verify to a verified CA" in refusal.reason, refusal.reason
    assert hub.telemetry("dev-leaf") == []
