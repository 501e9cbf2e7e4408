"""The hub's data folder at rest: 0700, secrets 0600 from the first byte, looser modes tightened."""

import json
import logging
import os
import stat

from host_tools.hub import storage
from host_tools.hub.registry import AUTH_SAS, Registry
from host_tools.hub.testing import running_hub


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_running_hub_data_folder_private_and_secrets_0600(tmp_path):
    data = tmp_path / "hub"
    with running_hub(data) as hub:
        hub.register_sas("dev-sas", None)
        assert mode(data) == 0o700
        assert mode(data / "registry.json") == 0o600
        assert mode(data / "hub.json") == 0o600  # it holds the service API's token
        assert mode(data / "ca" / "ca.key.pem") == 0o600
        assert mode(data / "server" / "server.key.pem") == 0o600
        assert mode(data / "ca") == 0o700


def test_registry_save_writes_temp_file_0600_then_renames(tmp_path, monkeypatch):
    registry = Registry(tmp_path / "hub")
    renamed = []
    real_replace = os.replace

    def spy(source, target):
        renamed.append((mode(source), os.path.dirname(source), target))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    registry.add_device("dev-sas", AUTH_SAS)
    assert renamed, "registry.json must be written by rename"
    source_mode, source_dir, target = renamed[-1]
    assert source_mode == 0o600
    assert source_dir == str(tmp_path / "hub")  # same folder, so the rename is atomic
    assert str(target).endswith("registry.json")


def test_existing_loose_modes_tightened_with_one_warning_line(tmp_path, caplog):
    data = tmp_path / "hub"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "registry.json").write_text(json.dumps({"devices": {}, "certificates": {}}))
    os.chmod(data / "registry.json", 0o644)
    (data / "ca").mkdir()
    (data / "ca" / "ca.key.pem").write_text("not really a key")
    os.chmod(data / "ca" / "ca.key.pem", 0o644)
    with caplog.at_level(logging.WARNING, logger="host_tools.hub"):
        Registry(data)
    assert mode(data) == 0o700
    assert mode(data / "registry.json") == 0o600
    assert mode(data / "ca" / "ca.key.pem") == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "registry.json" in warnings[0] and "0644 -> 0600" in warnings[0]


def test_existing_private_modes_no_warning(tmp_path, caplog):
    data = tmp_path / "hub"
    Registry(data).save()
    with caplog.at_level(logging.WARNING, logger="host_tools.hub"):
        Registry(data)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_folder_with_other_files_not_chmodded_but_warned(tmp_path, caplog):
    data = tmp_path / "shared"
    data.mkdir()
    os.chmod(data, 0o755)
    (data / "notes.txt").write_text("someone else's")
    with caplog.at_level(logging.WARNING, logger="host_tools.hub"):
        storage.prepare_data_dir(data)
    assert mode(data) == 0o755  # not the hub's folder to change
    assert "readable by others" in caplog.records[-1].getMessage()
