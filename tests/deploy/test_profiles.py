"""boards/: one JSON profile per board, loaded and checked."""

import pytest

from host_tools.deploy.profiles import known_boards, load_all_profiles, load_profile
from host_tools.errors import UserError


@pytest.mark.parametrize(
    "board, chip, offset, pattern",
    [
        ("esp32", "esp32", 0x1000, "ESP32_GENERIC-*.bin"),
        ("esp32s2", "esp32s2", 0x1000, "ESP32_GENERIC_S2-*.bin"),
        ("esp32s3", "esp32s3", 0x0, "ESP32_GENERIC_S3-*.bin"),
        ("esp32c3", "esp32c3", 0x0, "ESP32_GENERIC_C3-*.bin"),
        ("esp32c6", "esp32c6", 0x0, "ESP32_GENERIC_C6-*.bin"),
    ],
)
def test_load_profile_esp_boards_chip_offset_pattern(board, chip, offset, pattern):
    profile = load_profile(board)
    assert (profile.chip, profile.firmware_offset, profile.firmware_pattern) == (
        chip,
        offset,
        pattern,
    )
    assert profile.flashable and profile.frozen_umqtt
    assert profile.baud >= 115200 and profile.flash_size.endswith("MB")
    assert isinstance(profile.status_led_pin, int)


def test_load_profile_virtual_has_nothing_to_flash():
    profile = load_profile("virtual")
    assert not profile.flashable and not profile.frozen_umqtt


def test_known_boards_lists_every_file():
    assert known_boards() == ["esp32", "esp32c3", "esp32c6", "esp32s2", "esp32s3", "virtual"]
    assert set(load_all_profiles()) == set(known_boards())


@pytest.mark.parametrize("name", ["esp8266", "", "../boards/esp32"])
def test_load_profile_unknown_name_lists_known(name):
    with pytest.raises(UserError, match="known boards are esp32, esp32c3"):
        load_profile(name)


def test_firmware_name_matches_pattern():
    profile = load_profile("esp32c3")
    assert profile.firmware_name_matches("/tmp/ESP32_GENERIC_C3-20250415-v1.25.0.bin")
    assert not profile.firmware_name_matches("ESP32_GENERIC-20250415-v1.25.0.bin")
