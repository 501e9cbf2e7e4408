"""Flash, deploy, rotate and fleet flash, driven by the board profiles in boards/."""

from host_tools.deploy.deploy import DeployReport, deploy
from host_tools.deploy.device_config import build_config, read_config, write_config
from host_tools.deploy.profiles import BoardProfile, known_boards, load_profile

__all__ = [
    "BoardProfile",
    "DeployReport",
    "build_config",
    "deploy",
    "known_boards",
    "load_profile",
    "read_config",
    "write_config",
]
