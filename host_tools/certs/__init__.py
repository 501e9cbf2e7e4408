"""Credentials toolkit: CAs, device and server certificates, thumbprints, trust bundles, fleets.

The CLI (`python -m host_tools certs ...`, `fleet mint`) is a thin layer over these functions.
Private keys are written 0600 in 0700 folders, atomically, and never printed.
"""

from .certfiles import load_certificate, load_certificates, thumbprints
from .device_id import check_device_id, is_valid_device_id
from .fleet import mint_fleet
from .inspect import inspect_path
from .issue import (
    CAFiles,
    DeviceFiles,
    ServerFiles,
    create_ca,
    create_device_cert,
    create_server_cert,
    create_verification_cert,
    load_ca,
)
from .keys import KEY_TYPES
from .trust import write_trust_bundle

__all__ = [
    "KEY_TYPES",
    "CAFiles",
    "DeviceFiles",
    "ServerFiles",
    "check_device_id",
    "create_ca",
    "create_device_cert",
    "create_server_cert",
    "create_verification_cert",
    "inspect_path",
    "is_valid_device_id",
    "load_ca",
    "load_certificate",
    "load_certificates",
    "mint_fleet",
    "thumbprints",
    "write_trust_bundle",
]
