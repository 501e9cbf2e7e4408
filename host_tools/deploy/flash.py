"""`flash`: erase a board and write a MicroPython image with esptool's Python API, then verify.

The image and the board are both checked against the profile first: the image's own header
names the chip it was built for, and esptool reads the chip on the port. Either mismatch stops
before anything is erased.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import serial

from host_tools.deploy.esptool_output import quiet_esptool
from host_tools.deploy.ports import check_port, is_url
from host_tools.deploy.profiles import IMAGE_CHIP_NAMES, BoardProfile, load_profile
from host_tools.errors import UserError

IMAGE_MAGIC = 0xE9
CONNECT_BAUD = 115200  # the ROM bootloader's speed; the profile's baud is used once connected


@dataclass
class FlashReport:
    port: str
    board: str
    chip: str
    mac: str
    offset: int
    size: int
    seconds: float


def image_chip_id(data: bytes) -> int:
    """The chip id in an ESP-IDF image's extended header (bytes 12-13)."""
    return int.from_bytes(data[12:14], "little")


def check_image(profile: BoardProfile, data: bytes, name: str) -> None:
    """UserError unless `data` is an ESP image built for the profile's chip."""
    if len(data) < 24 or data[0] != IMAGE_MAGIC:
        raise UserError(f"{name} is not an ESP firmware image (no 0x{IMAGE_MAGIC:X} header byte)")
    chip_id = image_chip_id(data)
    if chip_id != profile.image_chip_id:
        built_for = IMAGE_CHIP_NAMES.get(chip_id, f"unknown chip id {chip_id}")
        raise UserError(
            f"{name} is built for {built_for} but board {profile.board} is {profile.chip_label}: "
            f"use a {profile.firmware_pattern} image"
        )


def flash(
    board: str,
    port: str,
    firmware,
    baud: int | None = None,
    erase: bool = True,
    verify: bool = True,
    log=print,
    verbose: bool = False,
) -> FlashReport:
    """Erase (optionally), write and verify `firmware` on the board at `port`.

    esptool's own output shows only with `verbose`; else warnings and one progress line.
    """
    with quiet_esptool(verbose):
        return _flash(board, port, firmware, baud, erase, verify, log)


def _flash(board, port, firmware, baud, erase, verify, log) -> FlashReport:
    import esptool.cmds as cmds
    from esptool.util import FatalError

    started = time.monotonic()
    profile = load_profile(board)
    if not profile.flashable:
        raise UserError(f"board {board} has nothing to flash: `deploy` to it directly")
    path = Path(firmware)
    if not path.is_file():
        raise UserError(f"firmware image {path} does not exist")
    data = path.read_bytes()
    check_image(profile, data, path.name)
    if not profile.firmware_name_matches(path):
        log(f"note: {path.name} does not look like {profile.firmware_pattern}; flashing anyway")
    check_port(port)
    try:
        esp = cmds.detect_chip(port, CONNECT_BAUD, connect_attempts=2)
    except (FatalError, serial.SerialException, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "is the board plugged in and in its bootloader (hold BOOT, press RESET)?"
        if is_url(port):
            hint = "is the bootloader (or its mock) listening there?"
        raise UserError(f"no ESP bootloader answered on {port}: {hint} ({reason})") from None
    try:
        if esp.CHIP_NAME != profile.chip_label:
            found = esp.CHIP_NAME.lower().replace("-", "")
            raise UserError(
                f"the board on {port} is an {esp.CHIP_NAME} but board {board} is "
                f"{profile.chip_label}: use --board {found}"
            )
        mac = ":".join(f"{b:02x}" for b in (esp.read_mac("BASE_MAC") or b""))
        log(f"{port}: {esp.CHIP_NAME}, MAC {mac}")
        esp = cmds.run_stub(esp)
        target_baud = baud or profile.baud
        if target_baud and target_baud != CONNECT_BAUD:
            esp.change_baud(target_baud)
        cmds.attach_flash(esp)
        if erase:
            cmds.erase_flash(esp)
        cmds.write_flash(esp, [(profile.firmware_offset, data)], flash_size="keep")
        if verify:
            cmds.verify_flash(esp, [(profile.firmware_offset, data)])
        cmds.reset_chip(esp, "hard-reset")
    except FatalError as exc:
        raise UserError(f"flashing {port} failed: {exc}") from None
    finally:
        try:
            esp._port.close()
        except Exception:
            pass
    return FlashReport(
        port=port,
        board=board,
        chip=esp.CHIP_NAME,
        mac=mac,
        offset=profile.firmware_offset,
        size=len(data),
        seconds=time.monotonic() - started,
    )
