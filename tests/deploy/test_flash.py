"""`flash` with esptool against the mock ROM bootloader (esp32-mock-bootloader on a socket)."""

import os
import socket
import subprocess
import sys

import pytest
from esp32_mock_bootloader import mock_bootloader

from host_tools.deploy.flash import check_image, flash
from host_tools.deploy.profiles import load_profile
from host_tools.errors import UserError


def fake_image(tmp_path, chip_id, name="ESP32_GENERIC-20250415-v1.25.0.bin", size=32768):
    """An image with an ESP-IDF header for `chip_id` (bytes 12-13), padded to `size`."""
    data = bytearray(b"\xff" * size)
    data[0] = 0xE9
    data[1] = 3
    data[12:14] = chip_id.to_bytes(2, "little")
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


def quiet(_line):
    pass


@pytest.fixture
def esp32_mock():
    with mock_bootloader(chip="esp32") as mock:
        yield mock


def test_flash_esp32_image_on_mock_writes_and_verifies(tmp_path, esp32_mock):
    image = fake_image(tmp_path, 0)
    report = flash("esp32", esp32_mock.url(), image, log=quiet)
    assert report.chip == "ESP32"
    assert report.offset == 0x1000 and report.size == 32768
    assert len(report.mac.split(":")) == 6


def test_flash_cli_on_mock_exits_0_and_reports_verified(tmp_path, esp32_mock):
    image = fake_image(tmp_path, 0)
    result = subprocess.run(
        [sys.executable, "-m", "host_tools", "flash", "--board", "esp32"]
        + ["--port", esp32_mock.url(), "--firmware", str(image)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout.splitlines()[-1]


def test_flash_cli_is_three_lines_and_verbose_shows_esptool(tmp_path, esp32_mock):
    # an image that does not compress: esptool reports progress per 16 KB block
    image = fake_image(tmp_path, 0, size=400_000)
    data = bytearray(image.read_bytes())
    data[64:] = os.urandom(len(data) - 64)
    image.write_bytes(bytes(data))
    command = [sys.executable, "-m", "host_tools", "flash", "--board", "esp32"]
    command += ["--port", esp32_mock.url(), "--firmware", str(image)]
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stdout.splitlines()
    assert len(lines) == 3 and lines[1] == "writing 100%", lines
    verbose = subprocess.run(command + ["-v"], capture_output=True, text=True, timeout=120)
    assert verbose.returncode == 0, verbose.stderr
    assert "Hash of data verified" in verbose.stdout  # esptool's own words


def test_flash_image_for_other_chip_refused_naming_both(tmp_path):
    image = fake_image(tmp_path, 9, name="ESP32_GENERIC_S3-20250415-v1.25.0.bin")
    with pytest.raises(UserError, match="built for ESP32-S3 but board esp32 is ESP32"):
        flash("esp32", "socket://127.0.0.1:9", image, log=quiet)


def test_flash_not_an_image_refused(tmp_path):
    path = tmp_path / "notes.bin"
    path.write_bytes(b"hello world, not firmware" * 10)
    with pytest.raises(UserError, match="not an ESP firmware image"):
        flash("esp32", "socket://127.0.0.1:9", path, log=quiet)


def test_flash_board_chip_differs_from_profile_names_both(tmp_path):
    image = fake_image(tmp_path, 0)
    with mock_bootloader(chip="esp32c3") as mock:
        with pytest.raises(
            UserError, match=r"is an ESP32-C3 but board esp32 is ESP32: use --board"
        ):
            flash("esp32", mock.url(), image, log=quiet)


def test_flash_no_board_on_socket_port_is_clear_error(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    image = fake_image(tmp_path, 0)
    with pytest.raises(
        UserError, match=f"no ESP bootloader answered on socket://127.0.0.1:{free_port}"
    ):
        flash("esp32", f"socket://127.0.0.1:{free_port}", image, log=quiet)


def test_flash_cli_missing_port_exits_2_with_one_line(tmp_path):
    image = fake_image(tmp_path, 0)
    result = subprocess.run(
        [sys.executable, "-m", "host_tools", "flash", "--board", "esp32"]
        + ["--port", "/dev/ttyUSB42", "--firmware", str(image)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: no board on /dev/ttyUSB42: the port does not exist; check the cable and --port\n"
    )


def test_flash_port_busy_names_port(tmp_path):
    import serial

    master, slave = os.openpty()
    port = os.ttyname(slave)
    holder = serial.serial_for_url(port, exclusive=True)
    try:
        with pytest.raises(UserError, match=f"port {port} is busy"):
            flash("esp32", port, fake_image(tmp_path, 0), log=quiet)
    finally:
        holder.close()
        os.close(master)
        os.close(slave)


def test_flash_cli_unknown_board_lists_known_ones(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "host_tools", "flash", "--board", "esp8266"]
        + ["--port", "/dev/null", "--firmware", str(fake_image(tmp_path, 0))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: unknown board 'esp8266': known boards are "
        "esp32, esp32c3, esp32c6, esp32s2, esp32s3, virtual\n"
    )


def test_flash_virtual_board_refused(tmp_path):
    with pytest.raises(UserError, match="nothing to flash"):
        flash("virtual", "/dev/null", fake_image(tmp_path, 0), log=quiet)


@pytest.mark.parametrize(
    "board, chip_id",
    [("esp32", 0), ("esp32s2", 2), ("esp32s3", 9), ("esp32c3", 5), ("esp32c6", 13)],
)
def test_check_image_matching_chip_accepted(board, chip_id):
    check_image(
        load_profile(board),
        b"\xe9" + b"\x00" * 11 + chip_id.to_bytes(2, "little") + b"\x00" * 16,
        "x.bin",
    )
