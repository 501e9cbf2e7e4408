"""`flash`, `deploy`, `rotate`, `config` and `fleet flash`: thin commands over host_tools.deploy."""

import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path

from host_tools.cli import add_command, add_epilog_lines, command_group
from host_tools.deploy.profiles import known_boards
from host_tools.errors import UserError

# secrets of `config`: (option, environment variable). A secret given on the command line is
# readable by every user in `ps` and stays in the shell history; a file or the environment is not.
SECRETS = {
    "sas_key": ("--sas-key", "IOTHUB_SAS_KEY"),
    "wifi_password": ("--wifi-password", "IOTHUB_WIFI_PASSWORD"),
    "dps_group_key": ("--dps-group-key", "IOTHUB_DPS_GROUP_KEY"),
}
# the options that describe a dps section: each needs --dps-id-scope
DPS_OPTIONS = {
    "registration_id": "--registration-id",
    "dps_endpoint": "--dps-endpoint",
    "dps_port": "--dps-port",
    "dps_payload": "--dps-payload",
    "dps_group_key": "--dps-group-key",
    "dps_group_key_file": "--dps-group-key-file",
}


def _json_option(parser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON; progress goes to stderr"
    )


def _reporting(args, call):
    """`call()`; with --json whatever it prints (progress, esptool's) goes to stderr instead."""
    if not args.json:
        return call()
    with contextlib.redirect_stdout(sys.stderr):
        return call()


def _print_report(args, report, text: str) -> None:
    if args.json:
        print(json.dumps(_as_json(report), indent=2, default=str))
    else:
        print(text)


def _as_json(report):
    if isinstance(report, list):
        return [dataclasses.asdict(item) for item in report]
    return dataclasses.asdict(report)


def register(subparsers):
    p = add_command(
        subparsers,
        "flash",
        "erase a board and write a MicroPython image with esptool, then verify",
        ("--board esp32 --port /dev/ttyUSB0 --firmware ESP32_GENERIC-v1.25.0.bin",),
    )
    p.add_argument("--board", required=True, help=f"board profile: {', '.join(known_boards())}")
    p.add_argument("--port", required=True, help="serial port (or socket://host:port)")
    p.add_argument("--firmware", required=True, help="MicroPython .bin image")
    p.add_argument("--baud", type=int, help="baud rate once connected (default: the profile's)")
    p.add_argument("--no-erase", action="store_true", help="write without erasing first")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show esptool's own output, stage by stage"
    )
    _json_option(p)
    p.set_defaults(func=run_flash)

    p = add_command(
        subparsers,
        "deploy",
        "copy firmware (.mpy), config.json and credentials with mpremote",
        (
            "devices/sensor-001 --port /dev/ttyUSB0 --main examples/sensor/main.py",
            "devices/sensor-001 --port /dev/ttyUSB0 --dry-run",
        ),
    )
    p.add_argument("device_dir", help="device folder: config.json and certs/")
    p.add_argument(
        "--port", required=True, help="the board's serial port (a pty for `board serve`)"
    )
    p.add_argument("--dry-run", action="store_true", help="list what would change, copy nothing")
    p.add_argument("--no-compile", action="store_true", help="ship .py sources, not .mpy")
    p.add_argument(
        "--no-reset",
        action="store_true",
        help="no machine.reset() at the end: soft-reset (Ctrl-D), so main.py runs again",
    )
    p.add_argument("--firmware-dir", help="firmware folder (default: firmware/)")
    p.add_argument(
        "--main",
        help="your application, installed as main.py (default: firmware/main.py, the agent alone;"
        " see examples/sensor/main.py)",
    )
    p.add_argument(
        "--forget-key",
        action="store_true",
        help="delete the host's copy of the private key once the board's copy matches it",
    )
    _json_option(p)
    p.set_defaults(func=run_deploy)

    p = add_command(
        subparsers,
        "rotate",
        "switch a device to its secondary certificate without downtime",
        ("devices/sensor-001 --port /dev/ttyUSB0 --hub-data hub-data",),
    )
    p.add_argument("device_dir", help="device folder holding certs/secondary.crt.der and .key.der")
    p.add_argument("--port", required=True, help="the board's serial port")
    p.add_argument("--hub-data", required=True, help="data folder of the running hub emulator")
    p.add_argument(
        "--new-cert",
        help="the certificate to switch to (default: certs/secondary.chain.pem when the device "
        "is CA-signed, else certs/secondary.crt.der)",
    )
    p.add_argument(
        "--new-key",
        default="certs/secondary.key.der",
        help="its private key (default: %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for reconnection (default %(default)s)",
    )
    _json_option(p)
    p.set_defaults(func=run_rotate)

    p = add_command(
        subparsers,
        "config",
        "write a device folder's config.json (version 1)",
        (
            "devices/sensor-001 --hub-host myhub.azure-devices.net --device-id sensor-001 "
            "--wifi-ssid MyWiFi --wifi-password-file wifi.txt",
            "devices/sensor-002 --hub-host localhost --device-id sensor-002 --no-wifi",
            "devices/sensor-003 --dps-id-scope 0ne00ABC123 --wifi-ssid MyWiFi "
            "--wifi-password-file wifi.txt",
        ),
    )
    p.add_argument("device_dir", help="device folder to write config.json into (certs/ inside)")
    p.add_argument(
        "--hub-host",
        help="the hub's host name (HUB.azure-devices.net); required unless --dps-id-scope",
    )
    p.add_argument(
        "--hub-port",
        type=int,
        default=8883,
        help="MQTT/TLS port of the hub (with DPS: of the hub it assigns; default %(default)s)",
    )
    p.add_argument(
        "--device-id",
        help="the device id registered in the hub; required unless --dps-id-scope",
    )
    _secret_arguments(p, "sas_key", "base64 device key (instead of X.509)")
    _dps_arguments(p)
    p.add_argument(
        "--registration-id",
        help="with --dps-id-scope: the id DPS knows the device by (default for X.509: the CN of "
        "the device folder's certificate; required with a SAS key)",
    )
    p.add_argument(
        "--dps-payload",
        metavar="JSON",
        help="with --dps-id-scope: JSON the board sends DPS when it registers (custom payload)",
    )
    _secret_arguments(
        p,
        "dps_group_key",
        "DPS symmetric-key group's primary key (only the device key derived from it is written)",
    )
    _wifi_arguments(p)
    p.add_argument(
        "--telemetry-interval",
        type=float,
        dest="telemetry_interval_s",
        metavar="SECONDS",
        help="seconds between telemetry messages (default: the firmware's, 60)",
    )
    p.add_argument(
        "--keepalive",
        type=int,
        dest="keepalive_s",
        metavar="SECONDS",
        help="MQTT keep-alive in seconds (default: the firmware's, 60)",
    )
    p.add_argument("--model-id", help="IoT Plug and Play model id (dtmi:...)")
    p.add_argument(
        "--cert-file",
        help="certificate, relative to the device folder (default: certs/device.crt.der, or "
        "certs/chain.pem when that exists)",
    )
    p.add_argument(
        "--key-file", help="private key, relative to the device folder (certs/device.key.der)"
    )
    p.add_argument(
        "--trust-file", help="trust bundle, relative to the device folder (certs/trust.pem)"
    )
    p.set_defaults(func=run_config)

    fleet = command_group(subparsers, "fleet", help="fleet identities: mint, flash")
    p = add_command(
        fleet,
        "flash",
        "deploy a fleet manifest's identities to several boards",
        (
            "fleet/manifest.json --ports /dev/ttyUSB0,/dev/ttyUSB1 --hub-host "
            "myhub.azure-devices.net --trust trust.pem --wifi-ssid MyWiFi --wifi-password-file "
            "wifi.txt",
            "fleet/manifest.json --ports /dev/ttyUSB0,/dev/ttyUSB1 --dps-id-scope 0ne00ABC123 "
            "--trust trust.pem --wifi-ssid MyWiFi --wifi-password-file wifi.txt",
        ),
    )
    p.add_argument("manifest", help="manifest.json of `fleet mint` (or its folder)")
    p.add_argument("--ports", required=True, help="comma-separated serial ports, one per board")
    p.add_argument(
        "--hub-host",
        help="the hub's host name (HUB.azure-devices.net); or --dps-id-scope",
    )
    p.add_argument(
        "--hub-port",
        type=int,
        default=8883,
        help="MQTT/TLS port of the hub (with DPS: of the hub it assigns; default %(default)s)",
    )
    _dps_arguments(p, "each board registers with its certificate's CN (the manifest's device id)")
    p.add_argument("--trust", required=True, help="trust bundle (PEM) for the boards")
    p.add_argument("--devices", help="comma-separated device ids (default: the first N)")
    p.add_argument("--board", help="flash MicroPython first: board profile")
    p.add_argument("--firmware", help="flash MicroPython first: .bin image")
    p.add_argument(
        "--telemetry-interval",
        type=float,
        dest="telemetry_interval_s",
        metavar="SECONDS",
        help="seconds between telemetry messages (default: the firmware's, 60)",
    )
    _wifi_arguments(p)
    _json_option(p)
    p.set_defaults(func=run_fleet_flash)


def run_flash(args) -> int:
    from host_tools.deploy.flash import flash

    report = _reporting(
        args,
        lambda: flash(
            args.board,
            args.port,
            args.firmware,
            baud=args.baud,
            erase=not args.no_erase,
            verbose=args.verbose,
        ),
    )
    text = (
        f"flashed {report.size} bytes at 0x{report.offset:x} on {report.port} "
        f"({report.chip}, MAC {report.mac}) in {report.seconds:.1f} s; verified"
    )
    _print_report(args, report, text)
    return 0


def run_deploy(args) -> int:
    from host_tools.deploy.deploy import deploy
    from host_tools.paths import FIRMWARE_DIR

    report = _reporting(
        args,
        lambda: deploy(
            args.port,
            args.device_dir,
            dry_run=args.dry_run,
            firmware_dir=args.firmware_dir or FIRMWARE_DIR,
            compile=not args.no_compile,
            reset=not args.no_reset,
            main=args.main,
            forget_key=args.forget_key,
        ),
    )
    _print_report(args, report, report.summary() + f"; umqtt.simple: {report.umqtt}")
    return 0


def run_rotate(args) -> int:
    from host_tools.deploy.rotate import HttpHubAdmin, rotate

    report = _reporting(
        args,
        lambda: rotate(
            args.port,
            args.device_dir,
            HttpHubAdmin(args.hub_data),
            new_cert=args.new_cert,
            new_key=args.new_key,
            timeout=args.timeout,
        ),
    )
    text = (
        f"{report.device_id}: now on {report.new_thumbprint}; {report.old_thumbprint} retired; "
        f"reconnected {report.reconnect_seconds:.1f} s after the switch"
    )
    _print_report(args, report, text)
    return 0


def run_config(args) -> int:
    from host_tools.deploy.device_config import build_config, write_config

    extra = {
        name: getattr(args, name)
        for name in (
            "telemetry_interval_s",
            "keepalive_s",
            "model_id",
            "cert_file",
            "key_file",
            "trust_file",
        )
    }
    extra.update(_wifi(args))
    sas_key = _secret(args, "sas_key")
    if args.dps_id_scope is None:
        _refuse_dps_options_without_scope(args)
        _require_hub(args)
        config = build_config(
            args.hub_host,
            args.device_id,
            args.hub_port,
            sas_key=sas_key,
            device_dir=args.device_dir,
            **extra,
        )
    else:
        dps, sas_key = _config_dps(args, sas_key)
        config = build_config(
            hub_port=args.hub_port,
            sas_key=sas_key,
            device_dir=args.device_dir,
            dps=dps,
            **extra,
        )
    path = write_config(args.device_dir, config)
    if config.get("sas_key"):
        _say_where_the_key_came_from(args)
    print(f"wrote {path}")
    return 0


def _say_where_the_key_came_from(args) -> None:
    # A key taken from the environment makes this a SAS device without a word on the command
    # line: say so (once, on stderr), so an export meant for another device is noticed.
    for name in ("sas_key", "dps_group_key"):
        _, env = SECRETS[name]
        given = getattr(args, name) is not None or getattr(args, f"{name}_file") is not None
        if not given and os.environ.get(env):
            print(
                f"note: {env} is set: this device gets a SAS key (unset it for X.509)",
                file=sys.stderr,
            )


def _dps_arguments(parser, registration: str = "") -> None:
    """--dps-id-scope, --dps-endpoint, --dps-port: the board asks DPS for its hub."""
    parser.add_argument(
        "--dps-id-scope",
        metavar="SCOPE",
        help="provision through DPS instead of naming the hub: the DPS instance's id scope "
        "(0ne...); DPS assigns the hub and the device id"
        + (f"; {registration}" if registration else ""),
    )
    parser.add_argument(
        "--dps-endpoint",
        metavar="HOST",
        help="with --dps-id-scope: the DPS host name (default: the firmware's, "
        "global.azure-devices-provisioning.net)",
    )
    parser.add_argument(
        "--dps-port",
        type=int,
        metavar="N",
        help="with --dps-id-scope: the DPS MQTT/TLS port (default: the firmware's, 8883)",
    )


def _given(args, name: str) -> bool:
    return getattr(args, name, None) is not None


def _refuse_dps_options_without_scope(args) -> None:
    given = [option for name, option in DPS_OPTIONS.items() if _given(args, name)]
    if given:
        raise UserError(
            f"{', '.join(given)} describe{'s' if len(given) == 1 else ''} DPS provisioning: "
            "pass --dps-id-scope SCOPE too, or drop them"
        )


def _require_hub(args) -> None:
    missing = [
        option
        for name, option in (("hub_host", "--hub-host"), ("device_id", "--device-id"))
        if not getattr(args, name)
    ]
    if missing:
        raise UserError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required: name the "
            "hub and the device's id in it (--hub-host HUB.azure-devices.net --device-id ID), or "
            "pass --dps-id-scope SCOPE to have DPS assign both"
        )


def _config_dps(args, sas_key: str | None) -> tuple[dict, str | None]:
    """(the dps section, the device's SAS key: given, derived from a group key, or None)."""
    given = [
        option
        for name, option in (("hub_host", "--hub-host"), ("device_id", "--device-id"))
        if getattr(args, name) is not None
    ]
    if given:
        raise UserError(
            f"{' and '.join(given)} with --dps-id-scope: DPS assigns the hub and the device id; "
            f"drop {'it' if len(given) == 1 else 'them'} (--registration-id names the device to "
            "DPS)"
        )
    group_key = _secret(args, "dps_group_key")
    if group_key and sas_key:
        raise UserError(
            "a SAS device key (--sas-key, its -file or IOTHUB_SAS_KEY) and a DPS group key "
            "(--dps-group-key, its -file or IOTHUB_DPS_GROUP_KEY) both given: pass one"
        )
    registration_id = args.registration_id
    if registration_id is None:
        if group_key or sas_key:
            raise UserError(
                "--registration-id ID is required with a SAS key: the id the DPS enrollment "
                "knows the device by (for a group, each device's own)"
            )
        registration_id = _certificate_registration_id(args)
    if group_key:
        sas_key = _derive_device_key(group_key, registration_id)
    dps = {"id_scope": args.dps_id_scope, "registration_id": registration_id}
    if args.dps_endpoint is not None:
        dps["endpoint"] = args.dps_endpoint
    if args.dps_port is not None:
        dps["port"] = args.dps_port
    if args.dps_payload is not None:
        try:
            dps["payload"] = json.loads(args.dps_payload)
        except ValueError as exc:
            raise UserError(
                f"--dps-payload is not JSON ({exc}); quote it for the shell, e.g. "
                """--dps-payload '{"site": "lab"}'"""
            ) from None
    return dps, sas_key


def _certificate_registration_id(args) -> str:
    """The CN of the device folder's certificate: the registration id DPS expects of X.509."""
    from host_tools.deploy.device_config import (
        CHAIN_FILE,
        DEVICE_CERT_FILE,
        certificate_common_name,
    )

    folder = Path(args.device_dir)
    names = [args.cert_file] if args.cert_file else [CHAIN_FILE, DEVICE_CERT_FILE]
    for name in names:
        common_name = certificate_common_name(folder / name)
        if common_name:
            return common_name
    raise UserError(
        f"no certificate with a CN in {folder / names[-1]} to take the registration id from: "
        f"issue one (python -m host_tools certs device ID {folder / 'certs'} ...) or pass "
        "--registration-id ID"
    )


def _derive_device_key(group_key: str, registration_id: str) -> str:
    """A group enrollment's device key; the group key itself never reaches config.json."""
    import base64
    import binascii

    from host_tools.dps.topics import sas_derive_device_key

    try:
        decoded = base64.b64decode(group_key, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if not decoded:  # never quote the value: it is the secret
        raise UserError(
            "the DPS group key is not base64: copy the enrollment group's primary key as DPS "
            "shows it (az iot dps enrollment-group show ... --show-keys)"
        )
    return sas_derive_device_key(group_key, registration_id)


def _secret_arguments(parser, name: str, what: str) -> None:
    option, env = SECRETS[name]
    group = parser.add_mutually_exclusive_group()
    group.add_argument(option, dest=name, help=f"{what}; visible in `ps`: prefer {option}-file")
    group.add_argument(
        f"{option}-file", dest=f"{name}_file", metavar="PATH", help=f"file holding the {what}"
    )
    add_epilog_lines(parser, "environment:", f"{env}  the {what} when no option gives it")


def _wifi_arguments(parser) -> None:
    parser.add_argument("--wifi-ssid", help="the Wi-Fi network the board joins")
    _secret_arguments(parser, "wifi_password", "Wi-Fi password")
    parser.add_argument(
        "--no-wifi",
        action="store_true",
        help="the board is online by itself (its boot.py joins a network, or Ethernet)",
    )


def _wifi(args) -> dict:
    """wifi_ssid and wifi_password for config.json; a board without either would wait forever."""
    if args.no_wifi:
        if args.wifi_ssid:
            raise UserError("--no-wifi and --wifi-ssid contradict each other: pass one")
        return {"wifi_ssid": "", "wifi_password": ""}
    if not args.wifi_ssid:
        raise UserError(
            "no Wi-Fi network given: pass --wifi-ssid NAME (and --wifi-password-file PATH), or "
            "--no-wifi when the board's own boot.py brings the network up"
        )
    return {"wifi_ssid": args.wifi_ssid, "wifi_password": _secret(args, "wifi_password") or ""}


def _secret(args, name: str) -> str | None:
    """A secret from its option (with a warning on stderr), its -file option, or the environment."""
    option, env = SECRETS[name]
    value, path = getattr(args, name), getattr(args, f"{name}_file")
    if value is not None:
        print(
            f"warning: {option} is visible to every user in `ps` and stays in your shell "
            f"history; use {option}-file PATH or {env}",
            file=sys.stderr,
        )
        return value
    if path is None:
        return os.environ.get(env) or None
    try:
        text = Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise UserError(f"{option}-file {path}: {exc.strerror}; check the path") from None
    except UnicodeDecodeError:  # never quote the bytes: they are the secret
        raise UserError(f"{option}-file {path} is not text; write the value as UTF-8") from None
    if not text:
        raise UserError(f"{option}-file {path} is empty; put the value on its first line")
    return text


def run_fleet_flash(args) -> int:
    from host_tools.deploy.fleet import fleet_flash

    if (args.hub_host is None) == (args.dps_id_scope is None):
        raise UserError(
            "pass --hub-host HUB.azure-devices.net (every board on that hub) or --dps-id-scope "
            "SCOPE (DPS assigns each board its hub): exactly one of them"
        )
    dps = None
    if args.dps_id_scope is not None:
        dps = {"id_scope": args.dps_id_scope}
        if args.dps_endpoint is not None:
            dps["endpoint"] = args.dps_endpoint
        if args.dps_port is not None:
            dps["port"] = args.dps_port
    elif args.dps_endpoint is not None or args.dps_port is not None:
        raise UserError("--dps-endpoint and --dps-port need --dps-id-scope: pass it, or drop them")
    extra = _wifi(args)
    if args.telemetry_interval_s is not None:
        extra["telemetry_interval_s"] = args.telemetry_interval_s
    results = _reporting(
        args,
        lambda: fleet_flash(
            args.manifest,
            [p for p in args.ports.split(",") if p],
            hub_host=args.hub_host,
            hub_port=args.hub_port,
            dps=dps,
            trust_file=args.trust,
            devices=[d for d in (args.devices or "").split(",") if d] or None,
            board=args.board,
            firmware=args.firmware,
            config_extra=extra,
        ),
    )
    if args.json:  # the text is fleet_flash's own table, printed as it ends
        _print_report(args, results, "")
    return 0 if all(r.ok for r in results) else 1
