import pytest

from host_tools.certs.device_id import check_device_id, device_id_problem, is_valid_device_id
from host_tools.errors import UserError


@pytest.mark.parametrize(
    "device_id",
    ["sensor-001", "a", "A.b_c%d*e?f!g(h)i,j:k=l@m$n'o", "x" * 128],
)
def test_is_valid_device_id_allowed_characters_accepted(device_id):
    assert is_valid_device_id(device_id)


@pytest.mark.parametrize(
    ("device_id", "reason"),
    [
        ("", "empty"),
        ("x" * 129, "129 characters"),
        ("has space", "' '"),
        ("slash/no", "'/'"),
        ("caf\u00e9", "'\u00e9'"),
        ("hash#", "'#'"),
    ],
)
def test_device_id_problem_invalid_id_says_why(device_id, reason):
    assert reason in device_id_problem(device_id)


def test_check_device_id_invalid_raises_user_error():
    with pytest.raises(UserError, match="not valid for IoT Hub"):
        check_device_id("bad id")
