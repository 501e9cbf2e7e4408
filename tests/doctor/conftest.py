"""A deployed device on a virtual board, its hub (the emulator), and helpers to break it."""

import json

import pytest

from host_tools.deploy import deploy
from host_tools.hub.testing import running_hub
from tests.deploy.conftest import make_device_folder


def quiet(_line):
    pass


class Deployed:
    """dev-1 deployed to `board` and registered with `hub`; `flash` is the board's flash."""

    def __init__(self, board, hub, folder, identity, flash):
        self.board, self.hub, self.folder, self.identity, self.flash = (
            board,
            hub,
            folder,
            identity,
            flash,
        )

    @property
    def config(self) -> dict:
        return json.loads((self.flash / "config.json").read_text())

    def board_file(self, key: str):
        """The board's copy of the file config.json names under `key`."""
        return self.flash / self.config[key]

    def set_config(self, **values) -> None:
        config = self.config
        config.update(values)
        (self.flash / "config.json").write_text(json.dumps(config))


@pytest.fixture
def hub(tmp_path):
    with running_hub(tmp_path / "hub") as handle:
        yield handle


@pytest.fixture
def deployed(tmp_path, board, hub, flash_dir):
    folder = tmp_path / "dev-1"
    identity, _ = make_device_folder(folder, "dev-1", hub.port, hub.ca_file)
    hub.register_x509("dev-1", identity.sha1)
    start = len(board.output())
    deploy(board.port, folder, log=quiet, reset=False)
    # the virtual board drops a Ctrl-C sent while its next process starts (after deploy's soft
    # reset, before main.py runs): let main.py's agent start before the doctor interrupts it
    assert board.wait_for_output("agent: ", timeout=20, start=start)
    return Deployed(board, hub, folder, identity, flash_dir)
