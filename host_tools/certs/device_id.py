"""IoT Hub's device id rule: up to 128 ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '."""

import re

from host_tools.errors import UserError

MAX_DEVICE_ID_LENGTH = 128
_DEVICE_ID = re.compile(r"[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}")
ALLOWED_PUNCTUATION = "- . % _ * ? ! ( ) , : = @ $ '"


def device_id_problem(device_id: str) -> str | None:
    """Why `device_id` is not a valid IoT Hub device id, or None when it is."""
    if not device_id:
        return "it is empty"
    if len(device_id) > MAX_DEVICE_ID_LENGTH:
        return f"it has {len(device_id)} characters, at most {MAX_DEVICE_ID_LENGTH} are allowed"
    if not _DEVICE_ID.fullmatch(device_id):
        bad = sorted({c for c in device_id if not _DEVICE_ID.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad)
        return f"it contains {shown}; allowed are ASCII letters, digits and {ALLOWED_PUNCTUATION}"
    return None


def is_valid_device_id(device_id: str) -> bool:
    """Whether IoT Hub accepts `device_id`."""
    return device_id_problem(device_id) is None


def check_device_id(device_id: str) -> str:
    """Return `device_id` or raise a one-line UserError saying what is wrong with it."""
    problem = device_id_problem(device_id)
    if problem:
        raise UserError(f"device id {device_id!r} is not valid for IoT Hub: {problem}")
    return device_id
