"""What deploy and fleet flash take from a folder: files inside it only, a certificate that is in
date and matches its key. Every refusal comes before a port is opened."""

import json
import os

import pytest

from host_tools.certs.keys import load_private_key
from host_tools.deploy import deploy
from host_tools.deploy.fleet import fleet_flash
from host_tools.errors import UserError
from tests.certs.conftest import write_custom_cert

NO_BOARD = "/dev/ttyUSB-nobody"  # reaching the port would fail with "no board on ..."


def quiet(_line):
    pass


def outside_secret(tmp_path):
    secret = tmp_path / "home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot for boards\n")
    return secret


def hostile_path(form, folder, secret):
    """A path in config.json that reaches `secret`, outside `folder`, in one of three ways."""
    if form == "absolute":
        return str(secret), "is an absolute path"
    if form == "dotdot":
        return os.path.relpath(secret, folder), "climbs out of the folder with '..'"
    link = folder / "certs" / "innocent.key.der"
    link.symlink_to(secret)
    return "certs/innocent.key.der", f"is a symlink to {secret}, outside the folder"


def set_config(folder, **values):
    config = json.loads((folder / "config.json").read_text())
    config.update(values)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("form", ["absolute", "dotdot", "symlink"])
@pytest.mark.parametrize("key", ["key_file", "trust_file"])
def test_deploy_file_outside_device_folder_refused_in_one_line(form, key, offline_device, tmp_path):
    folder, _ = offline_device
    path, why = hostile_path(form, folder, outside_secret(tmp_path))
    set_config(folder, **{key: path})
    with pytest.raises(UserError) as caught:
        deploy(NO_BOARD, folder, log=quiet)
    message = str(caught.value)
    assert message.startswith(f"{folder}/config.json: {key} {path} {why}; refusing to copy")
    assert f"put the file inside {folder}" in message and "\n" not in message


def test_deploy_symlink_inside_device_folder_accepted(offline_device):
    folder, _ = offline_device
    (folder / "certs" / "current.key.der").symlink_to(folder / "certs" / "device.key.der")
    set_config(folder, key_file="certs/current.key.der")
    with pytest.raises(UserError, match="no board on"):  # past the checks, to the port
        deploy(NO_BOARD, folder, log=quiet)


def manifest_with(tmp_path, form):
    """A fleet folder whose manifest row points its key at a host file outside the folder."""
    fleet = tmp_path / "fleet"
    (fleet / "fleet-0001").mkdir(parents=True)
    (fleet / "fleet-0001" / "device.crt.der").write_bytes(b"cert")
    (fleet / "fleet-0001" / "device.key.der").write_bytes(b"key")
    (fleet / "certs").mkdir()
    path, why = hostile_path(form, fleet, outside_secret(tmp_path))
    rows = [{"device_id": "fleet-0001", "cert_der": "fleet-0001/device.crt.der", "key_der": path}]
    (fleet / "manifest.json").write_text(json.dumps({"devices": rows}))
    return fleet, path, why


@pytest.mark.parametrize("form", ["absolute", "dotdot", "symlink"])
def test_fleet_flash_manifest_path_outside_folder_refused_before_any_board(form, tmp_path):
    fleet, path, why = manifest_with(tmp_path, form)
    trust = tmp_path / "trust.pem"
    trust.write_text("pem")
    with pytest.raises(UserError) as caught:
        fleet_flash(fleet, [NO_BOARD], hub_host="h", trust_file=trust, log=quiet)
    assert str(caught.value).startswith(
        f"{fleet}/manifest.json (fleet-0001): key_der {path} {why}; refusing to copy"
    )


def test_deploy_key_of_another_certificate_refused(offline_device, tmp_path):
    from host_tools.certs import create_device_cert

    folder, identity = offline_device
    other = create_device_cert("someone-else", tmp_path / "other", self_signed=True)
    identity.key_der.write_bytes(other.key_der.read_bytes())
    with pytest.raises(UserError) as caught:
        deploy(NO_BOARD, folder, log=quiet)
    assert str(caught.value) == (
        f"{folder}/certs/device.key.der is not the key of {folder}/certs/device.crt.der: TLS "
        "with this pair always fails; pair the certificate with its own key, or issue both again"
    )


def test_deploy_expired_certificate_refused(offline_device):
    folder, identity = offline_device
    key = load_private_key(identity.key_der)
    write_custom_cert(
        folder / "certs" / "old.crt.pem", "dev-offline", days_before=30, days_after=-1, key=key
    )
    set_config(folder, cert_file="certs/old.crt.pem")
    with pytest.raises(UserError, match=r"old.crt.pem expired on .* UTC: the hub refuses it"):
        deploy(NO_BOARD, folder, log=quiet)
