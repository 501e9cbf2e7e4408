import csv
import json
import os
import stat

import pytest

from host_tools.certs import create_ca, fleet, load_certificate, thumbprints
from host_tools.certs.fleet import fleet_device_ids, mint_fleet
from host_tools.errors import UserError
from tests.certs.conftest import write_weak_ca


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_fleet_device_ids_zero_padded_from_start():
    assert fleet_device_ids("s-", 3, start=9) == ["s-0009", "s-0010", "s-0011"]


def test_fleet_device_ids_invalid_prefix_refused():
    with pytest.raises(UserError, match="not valid for IoT Hub"):
        fleet_device_ids("bad prefix ", 2)


def test_mint_fleet_writes_identities_and_manifest(root_ca, tmp_path):
    result = mint_fleet(root_ca, 20, "sensor-", tmp_path / "fleet", progress=False)
    assert result.created == 20
    rows = _read_csv(result.manifest_csv)
    assert [r["device_id"] for r in rows] == [f"sensor-{n:04d}" for n in range(1, 21)]
    document = json.loads(result.manifest_json.read_text())
    assert document["devices"] == rows
    for row in rows[:3]:
        cert_path = tmp_path / "fleet" / row["cert_der"]
        assert thumbprints(cert_path) == (row["sha1"], row["sha256"])
        key_path = tmp_path / "fleet" / row["key_der"]
        assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(key_path.parent).st_mode) == 0o700
        assert load_certificate(cert_path).subject.rfc4514_string() == f"CN={row['device_id']}"


def test_mint_fleet_pool_of_workers_matches_manifest(root_ca, tmp_path, monkeypatch):
    monkeypatch.setattr(fleet, "INLINE_BELOW", 0)
    result = mint_fleet(root_ca, 20, "pool-", tmp_path, workers=2, progress=False)
    rows = _read_csv(result.manifest_csv)
    assert len(rows) == 20 and len({r["sha256"] for r in rows}) == 20
    assert all((tmp_path / r["chain_pem"]).exists() for r in rows)


def test_mint_fleet_rerun_keeps_keys_and_reuses(root_ca, tmp_path):
    mint_fleet(root_ca, 5, "s-", tmp_path, progress=False)
    key_before = (tmp_path / "s-0003" / "device.key.der").read_bytes()
    again = mint_fleet(root_ca, 7, "s-", tmp_path, progress=False)
    assert (again.reused, again.created) == (5, 2)
    assert (tmp_path / "s-0003" / "device.key.der").read_bytes() == key_before


def test_mint_fleet_interrupted_identity_completed_from_existing_key(root_ca, tmp_path):
    mint_fleet(root_ca, 3, "s-", tmp_path, progress=False)
    folder = tmp_path / "s-0002"
    key_before = (folder / "device.key.der").read_bytes()
    for name in ("device.crt.der", "device.crt.pem", "chain.pem"):
        (folder / name).unlink()
    result = mint_fleet(root_ca, 3, "s-", tmp_path, progress=False)
    assert result.completed == 1
    assert (folder / "device.key.der").read_bytes() == key_before
    row = _read_csv(result.manifest_csv)[1]
    assert thumbprints(folder / "device.crt.der")[1] == row["sha256"]


def test_mint_fleet_other_ca_certificate_refused_without_force(root_ca, tmp_path):
    mint_fleet(root_ca, 2, "s-", tmp_path / "f", progress=False)
    other = create_ca(tmp_path / "other")
    with pytest.raises(UserError, match="s-0001/device.crt.der.*--force"):
        mint_fleet(other.cert_pem.parent, 2, "s-", tmp_path / "f", progress=False)
    forced = mint_fleet(other.cert_pem.parent, 2, "s-", tmp_path / "f", force=True, progress=False)
    assert forced.created == 2


def test_mint_fleet_encrypted_ca_wrong_passphrase_refused(encrypted_ca, tmp_path):
    folder, _ = encrypted_ca
    with pytest.raises(UserError, match="wrong passphrase"):
        mint_fleet(folder, 2, "s-", tmp_path, ca_passphrase="nope", progress=False)
    assert not list(tmp_path.iterdir())


def test_mint_fleet_zero_count_refused(root_ca, tmp_path):
    with pytest.raises(UserError, match="--count 0"):
        mint_fleet(root_ca, 0, "s-", tmp_path, progress=False)


def test_mint_fleet_progress_true_draws_bar_on_stderr(root_ca, tmp_path, capsys):
    mint_fleet(root_ca, 3, "p-", tmp_path, progress=True)
    assert "3/3" in capsys.readouterr().err


def test_mint_fleet_progress_none_not_a_terminal_stays_quiet(root_ca, tmp_path, capsys):
    mint_fleet(root_ca, 3, "q-", tmp_path)
    assert capsys.readouterr().err == ""


def test_mint_fleet_stale_temp_folder_removed_and_no_temp_left(root_ca, tmp_path):
    stale = tmp_path / f"{fleet.TEMP_PREFIX}s-0001.99999"
    stale.mkdir()
    (stale / "device.key.der").write_bytes(b"half-written")
    mint_fleet(root_ca, 2, "s-", tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.csv",
        "manifest.json",
        "s-0001",
        "s-0002",
    ]


@pytest.mark.parametrize("weakness", ["rsa1024", "sha1"])
def test_mint_fleet_weak_ca_refused_before_minting(tmp_path, weakness):
    ca = write_weak_ca(tmp_path / "ca", weakness)
    with pytest.raises(UserError, match="which IoT Hub and TLS libraries refuse"):
        mint_fleet(ca, 3, "s-", tmp_path / "fleet", progress=False)
    assert not (tmp_path / "fleet").exists()


def test_mint_fleet_ca_key_readable_by_others_refused(tmp_path):
    create_ca(tmp_path / "ca")
    os.chmod(tmp_path / "ca" / "ca.key.pem", 0o640)
    with pytest.raises(UserError, match="chmod 600"):
        mint_fleet(tmp_path / "ca", 3, "s-", tmp_path / "fleet", progress=False)
