"""Board profiles: one JSON file per board in boards/, loaded into a small frozen dataclass."""

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

from host_tools.errors import UserError
from host_tools.paths import BOARDS_DIR

# the chip id field of an ESP-IDF image's extended header (byte 12, little-endian 16 bits)
IMAGE_CHIP_NAMES = {
    0: "ESP32",
    2: "ESP32-S2",
    5: "ESP32-C3",
    9: "ESP32-S3",
    12: "ESP32-C2",
    13: "ESP32-C6",
    16: "ESP32-H2",
    18: "ESP32-P4",
}


@dataclass(frozen=True)
class BoardProfile:
    board: str
    name: str
    chip: str | None  # esptool's --chip name; None for the virtual board
    image_chip_id: int | None
    firmware_offset: int | None
    baud: int
    flash_size: str | None
    status_led_pin: int | None
    firmware_pattern: str | None
    frozen_umqtt: bool
    notes: str = ""

    @property
    def flashable(self) -> bool:
        return self.chip is not None

    @property
    def chip_label(self) -> str:
        return IMAGE_CHIP_NAMES.get(self.image_chip_id, self.chip or "none")

    def firmware_name_matches(self, path) -> bool:
        pattern = self.firmware_pattern
        return bool(pattern) and fnmatch.fnmatch(Path(path).name, pattern)


def known_boards(boards_dir: Path = BOARDS_DIR) -> list[str]:
    """The board names, sorted: the JSON file names in boards/ without the extension."""
    return sorted(p.stem for p in Path(boards_dir).glob("*.json"))


def load_profile(board: str, boards_dir: Path = BOARDS_DIR) -> BoardProfile:
    """The profile of `board`; an unknown name is a UserError listing the known ones."""
    path = Path(boards_dir) / f"{board}.json"
    if not board or "/" in board or not path.is_file():
        known = ", ".join(known_boards(boards_dir))
        raise UserError(f"unknown board {board!r}: known boards are {known}")
    try:
        data = json.loads(path.read_text())
        offset = data.get("firmware_offset")
        return BoardProfile(
            board=data["board"],
            name=data["name"],
            chip=data.get("chip"),
            image_chip_id=data.get("image_chip_id"),
            firmware_offset=int(offset, 0) if isinstance(offset, str) else offset,
            baud=int(data.get("baud", 115200)),
            flash_size=data.get("flash_size"),
            status_led_pin=data.get("status_led_pin"),
            firmware_pattern=data.get("firmware_pattern"),
            frozen_umqtt=bool(data.get("frozen_umqtt", False)),
            notes=data.get("notes", ""),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"board profile {path} is malformed: {exc}") from None


def load_all_profiles(boards_dir: Path = BOARDS_DIR) -> dict[str, BoardProfile]:
    return {name: load_profile(name, boards_dir) for name in known_boards(boards_dir)}
