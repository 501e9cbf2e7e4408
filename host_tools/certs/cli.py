"""`python -m host_tools certs ...` and `fleet mint`: a thin CLI over host_tools.certs.

Every command takes `--json` for scripts. User errors print one line and exit 2 (see
host_tools.errors); `certs inspect` exits 0 clean, 1 with warnings, 2 with errors.
"""

import json

from host_tools.cli import add_command, command_group

from . import issue, keys
from ._files import read_passphrase_file
from .certfiles import load_certificate, thumbprints
from .fleet import mint_fleet
from .inspect import format_report, inspect_path
from .trust import write_trust_bundle


def _passphrase(path):
    return read_passphrase_file(path) if path else None


def _emit(args, data: dict, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def _paths(obj) -> dict:
    return {k: (str(v) if v is not None else None) for k, v in obj.__dict__.items()}


def cmd_ca(args) -> int:
    files = issue.create_ca(
        args.out_dir,
        common_name=args.cn or "",
        key_type=args.key_type,
        parent_dir=args.parent,
        days=args.days,
        passphrase=_passphrase(args.passphrase_file),
        parent_passphrase=_passphrase(args.parent_passphrase_file),
        force=args.force,
    )
    kind = "intermediate CA" if args.parent else "root CA"
    text = (
        f"{kind} written: {files.cert_pem} (key {files.key_pem}, 0600)\n"
        f"SHA-1    {files.sha1}\nSHA-256  {files.sha256}\n"
        f"valid until {files.not_after:%Y-%m-%d}; upload {files.cert_pem} to the hub, then prove "
        f"possession with `certs verification-cert --ca {args.out_dir} --code CODE OUT`"
    )
    _emit(args, _paths(files), text)
    return 0


def cmd_device(args) -> int:
    files = issue.create_device_cert(
        args.device_id,
        args.out_dir,
        ca_dir=args.ca,
        self_signed=args.self_signed,
        days=args.days,
        key_type=args.key_type,
        secondary=args.secondary,
        ca_passphrase=_passphrase(args.passphrase_file),
        force=args.force,
    )
    which = "secondary" if args.secondary else "primary"
    board_cert = files.chain_pem or files.cert_der  # CA-signed: the hub needs the intermediates
    text = (
        f"device {files.device_id} ({which}): {board_cert} + {files.key_der} for the board, "
        f"{files.cert_pem} for humans\nSHA-1    {files.sha1}\nSHA-256  {files.sha256}\n"
        f"valid until {files.not_after:%Y-%m-%d}"
    )
    if args.self_signed:
        flag = "--stp" if args.secondary else "--ptp"
        hub_flag = "--secondary-thumbprint" if args.secondary else "--thumbprint"
        text += (
            f"\nregister: az iot hub device-identity create --hub-name HUB --device-id "
            f"{files.device_id} --am x509_thumbprint {flag} {files.sha256}"
            f"\n  or, with the hub emulator: python -m host_tools hub register "
            f"{files.device_id} {hub_flag} {files.sha256} --data HUB_DATA"
        )
    else:
        text += (
            f"\nregister: az iot hub device-identity create --hub-name HUB --device-id "
            f"{files.device_id} --am x509_ca"
            f"\n  or, with the hub emulator: python -m host_tools hub register "
            f"{files.device_id} --ca --data HUB_DATA"
        )
    _emit(args, _paths(files), text)
    return 0


def cmd_server(args) -> int:
    files = issue.create_server_cert(
        args.ca,
        args.out_dir,
        hostnames=args.host or ["localhost"],
        days=args.days,
        key_type=args.key_type,
        ca_passphrase=_passphrase(args.passphrase_file),
        force=args.force,
    )
    _emit(
        args, _paths(files), f"server certificate written: {files.chain_pem} (key {files.key_pem})"
    )
    return 0


def cmd_thumbprint(args) -> int:
    sha1, sha256 = thumbprints(load_certificate(args.cert))
    _emit(
        args,
        {"path": args.cert, "sha1": sha1, "sha256": sha256},
        f"SHA-1    {sha1}\nSHA-256  {sha256}",
    )
    return 0


def cmd_verification_cert(args) -> int:
    path = issue.create_verification_cert(
        args.ca,
        args.code,
        args.out,
        days=args.days,
        ca_passphrase=_passphrase(args.passphrase_file),
        force=args.force,
    )
    text = f"verification certificate written: {path}; upload it to the hub's CA verify step"
    _emit(args, {"path": str(path), "code": args.code}, text)
    return 0


def cmd_inspect(args) -> int:
    report = inspect_path(
        args.path, key=args.key, ca=args.ca, passphrase=_passphrase(args.passphrase_file)
    )
    _emit(args, report.as_dict(), format_report(report))
    return report.exit_code


def cmd_trust_bundle(args) -> int:
    path = write_trust_bundle(
        args.out,
        extra_ca=args.extra_ca or (),
        include_azure_roots=not args.no_azure_roots,
        force=args.force,
    )
    count = path.read_bytes().count(b"-----BEGIN CERTIFICATE-----")
    _emit(args, {"path": str(path), "certificates": count}, f"{path}: {count} root certificate(s)")
    return 0


def cmd_fleet_mint(args) -> int:
    result = mint_fleet(
        args.ca,
        args.count,
        args.prefix,
        args.out_dir,
        days=args.days,
        key_type=args.key_type,
        force=args.force,
        workers=args.workers,
        start=args.start,
        ca_passphrase=_passphrase(args.passphrase_file),
        progress=None if not args.json else False,
    )
    data = result.as_dict()
    rate = len(result.devices) / result.seconds if result.seconds else 0.0
    text = (
        f"{len(result.devices)} identities in {result.out_dir} ({result.created} new, "
        f"{result.completed} completed, {result.reused} kept) in {result.seconds:.2f} s "
        f"({rate:,.0f}/s)\nmanifest: {result.manifest_csv}, {result.manifest_json}"
    )
    _emit(args, data, text)
    return 0


def _common(parser, force=True):
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    if force:
        parser.add_argument("--force", action="store_true", help="replace existing files")


def _key_options(parser, days: int):
    parser.add_argument(
        "--key-type",
        default=keys.DEFAULT_KEY_TYPE,
        metavar="TYPE",
        help=f"key algorithm: one of {', '.join(keys.KEY_TYPES)} (default %(default)s)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help=f"validity in days (default {days}, never past the CA's)",
    )


def _ca_passphrase(parser):
    parser.add_argument("--passphrase-file", help="file holding the CA key's passphrase")


def register(subparsers) -> None:
    """Add the `certs` command group and `fleet mint`."""
    certs = subparsers.add_parser(
        "certs",
        help="make and check X.509 credentials",
        description="make and check X.509 credentials; every command takes --json",
    )
    sub = certs.add_subparsers(dest="certs_command", required=True)

    p = add_command(
        sub,
        "ca",
        "create a root CA, or an intermediate with --parent",
        ("ca/root --cn 'Contoso Root CA'", "ca/devices --parent ca/root --cn 'Contoso Devices CA'"),
    )
    p.add_argument("out_dir", help="folder for ca.crt.pem and ca.key.pem (made if missing)")
    p.add_argument("--parent", metavar="CA_DIR", help="sign with this CA folder (intermediate)")
    p.add_argument("--cn", help="common name of the CA")
    _key_options(p, 3650)
    p.add_argument("--passphrase-file", help="encrypt the new CA key with this file's passphrase")
    p.add_argument("--parent-passphrase-file", help="file holding the parent CA key's passphrase")
    _common(p)
    p.set_defaults(func=cmd_ca)

    p = add_command(
        sub,
        "device",
        "create a device certificate and key",
        (
            "sensor-001 devices/sensor-001/certs --self-signed",
            "sensor-002 devices/sensor-002/certs --ca ca/devices",
        ),
    )
    p.add_argument("device_id", help="the IoT Hub device id, also the certificate's CN")
    p.add_argument("out_dir", help="folder for the certificate, chain and key (made if missing)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--ca", metavar="CA_DIR", help="sign with this CA folder")
    mode.add_argument(
        "--self-signed", action="store_true", help="no CA: the hub registers its thumbprint"
    )
    p.add_argument(
        "--secondary", action="store_true", help="write the secondary identity (secondary.*)"
    )
    _key_options(p, 365)
    _ca_passphrase(p)
    _common(p)
    p.set_defaults(func=cmd_device)

    p = add_command(
        sub,
        "server",
        "create a TLS server certificate (hub emulator)",
        ("hub-tls --ca ca/root --host localhost --host 127.0.0.1",),
    )
    p.add_argument("out_dir", help="folder for server.crt.pem, .key.pem and .chain.pem")
    p.add_argument("--ca", metavar="CA_DIR", required=True, help="CA folder that signs it")
    p.add_argument(
        "--host", action="append", help="DNS name or IP it serves (repeatable; default localhost)"
    )
    _key_options(p, 825)
    _ca_passphrase(p)
    _common(p)
    p.set_defaults(func=cmd_server)

    p = add_command(
        sub,
        "thumbprint",
        "SHA-1 and SHA-256 thumbprints to register",
        (
            "devices/sensor-001/certs/device.crt.der",
            "devices/sensor-001/certs/device.crt.pem --json",
        ),
    )
    p.add_argument("cert", help="certificate file, PEM or DER")
    _common(p, force=False)
    p.set_defaults(func=cmd_thumbprint)

    p = add_command(
        sub,
        "verification-cert",
        "proof of CA possession for the hub",
        ("--ca ca/devices --code 1A2B3C4D5E6F verification.crt.pem",),
    )
    p.add_argument("out", help="file to write (PEM), or a folder for verification.crt.pem")
    p.add_argument("--ca", metavar="CA_DIR", required=True, help="CA folder whose key signs it")
    p.add_argument("--code", required=True, help="the verification code the hub shows")
    p.add_argument("--days", type=int, default=None, help="validity in days (default 30)")
    _ca_passphrase(p)
    _common(p)
    p.set_defaults(func=cmd_verification_cert)

    p = add_command(
        sub,
        "inspect",
        "check a certificate or a folder (exit 0 clean, 1 warnings, 2 errors)",
        ("devices/sensor-002/certs --ca ca/root", "devices/sensor-001/certs/device.crt.pem --json"),
    )
    p.add_argument("path", help="certificate file (PEM or DER) or a device or CA folder")
    p.add_argument("--key", help="the private key file that should match")
    p.add_argument("--ca", help="CA folder or certificate the chain must verify to")
    p.add_argument("--passphrase-file", help="file holding the passphrase of an encrypted key")
    _common(p, force=False)
    p.set_defaults(func=cmd_inspect)

    p = add_command(
        sub,
        "trust-bundle",
        "write the server roots the device trusts",
        (
            "devices/sensor-001/certs/trust.pem",
            "devices/sensor-001/certs/trust.pem --extra-ca hub-data/ca.pem --no-azure-roots",
        ),
    )
    p.add_argument("out", help="bundle file to write (PEM), or a folder for trust.pem")
    p.add_argument(
        "--extra-ca", action="append", help="another root: CA file or folder (repeatable)"
    )
    p.add_argument(
        "--no-azure-roots", action="store_true", help="leave Azure's roots out: --extra-ca only"
    )
    _common(p)
    p.set_defaults(func=cmd_trust_bundle)

    fleet = command_group(subparsers, "fleet", "many boards at once")
    p = add_command(
        fleet,
        "mint",
        "mint N device identities and a manifest",
        ("fleet --ca ca/devices --count 100 --prefix sensor-",),
    )
    p.add_argument("out_dir", help="folder for the identities, manifest.csv and manifest.json")
    p.add_argument("--ca", metavar="CA_DIR", required=True, help="CA folder that signs them")
    p.add_argument("--count", type=int, required=True, help="how many identities")
    p.add_argument("--prefix", required=True, help="device ids are PREFIX0001, PREFIX0002...")
    p.add_argument("--start", type=int, default=1, help="first number (default %(default)s)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: 2 per core)")
    _key_options(p, 365)
    _ca_passphrase(p)
    _common(p)
    p.set_defaults(func=cmd_fleet_mint)
