"""`python -m host_tools dps ...`: enrollments and registrations of the emulator's DPS endpoint.

The DPS endpoint runs inside the hub (`hub serve --dps-port N`); these commands talk to it
through the hub's service API (DIR/hub.json), or edit DIR/dps.json when the hub is stopped,
exactly as the `hub` service commands do.
"""

import json
from urllib.parse import quote

from host_tools.cli import add_command
from host_tools.errors import UserError
from host_tools.hub.cli import DEFAULT_DATA, request


def _data_option(parser) -> None:
    parser.add_argument(
        "--data", default=DEFAULT_DATA, help="the hub's state folder (default: %(default)s)"
    )


def _json_option(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the service API's JSON")


def _common_enrollment_options(parser) -> None:
    parser.add_argument(
        "--initial-twin",
        metavar="JSON",
        help='the new device\'s twin: {"tags": {...}, "properties": {"desired": {...}}}',
    )
    parser.add_argument(
        "--disabled", action="store_true", help="create it disabled (registrations: disabled)"
    )
    parser.add_argument("--key", help="--sas: primary key, base64 (generated if omitted)")
    parser.add_argument("--secondary-key", help="--sas: secondary key, base64 (generated)")
    _json_option(parser)


def register(subparsers) -> None:
    """Add the `dps` command group."""
    dps = subparsers.add_parser(
        "dps",
        help="the hub emulator's Device Provisioning Service: enrollments, registrations",
        description="the hub emulator's Device Provisioning Service: enrollments, registrations "
        "(serve it with `hub serve --dps-port N`)",
    )
    commands = dps.add_subparsers(dest="dps_command", required=True)

    def command(name, handler, help, examples):
        parser = add_command(commands, name, help, examples)
        _data_option(parser)
        parser.set_defaults(func=handler)
        return parser

    info = command(
        "info",
        cmd_info,
        "print the id scope, the DPS endpoint and the hub it assigns to",
        ("--data hub-data", "--data hub-data --json"),
    )
    _json_option(info)

    enroll = command(
        "enroll",
        cmd_enroll,
        "add or replace an individual enrollment",
        (
            "sensor-001 --cert devices/sensor-001/certs/device.crt.pem --data hub-data",
            "sensor-002 --ca contoso-devices --data hub-data",
            "sensor-003 --sas --data hub-data",
        ),
    )
    enroll.add_argument("registration_id", help="the registration id (an X.509 device's CN)")
    how = enroll.add_mutually_exclusive_group(required=True)
    how.add_argument("--cert", help="X.509: the device certificate (PEM/DER), its thumbprints")
    how.add_argument("--thumbprint", help="X.509: primary thumbprint (SHA-1 or SHA-256)")
    how.add_argument("--ca", metavar="NAME", help="X.509 CA-signed: a CA in the hub (hub ca add)")
    how.add_argument("--sas", action="store_true", help="symmetric keys (generated if omitted)")
    enroll.add_argument(
        "--secondary-thumbprint", help="X.509: secondary thumbprint (SHA-1 or SHA-256)"
    )
    enroll.add_argument(
        "--device-id", help="the device id to create (default: the registration id)"
    )
    _common_enrollment_options(enroll)

    group = command(
        "enrollment-group",
        cmd_enrollment_group,
        "add or replace an enrollment group (by a verified CA, or by a group key)",
        (
            "contoso-fleet --ca contoso-devices --data hub-data",
            "sas-fleet --sas --data hub-data",
        ),
    )
    group.add_argument("group_id", help="the enrollment group id")
    group_how = group.add_mutually_exclusive_group(required=True)
    group_how.add_argument(
        "--ca", metavar="NAME", help="X.509: devices chaining to this CA of the hub (root or not)"
    )
    group_how.add_argument(
        "--sas", action="store_true", help="group key: device key = HMAC(group key, id)"
    )
    _common_enrollment_options(group)

    device_key = command(
        "device-key",
        cmd_device_key,
        "print a device's key derived from a symmetric-key group's primary key",
        ("sas-fleet sensor-004 --data hub-data",),
    )
    device_key.add_argument("group_id", help="the enrollment group id (a --sas group)")
    device_key.add_argument("registration_id", help="the device's registration id")

    listing = command(
        "list",
        cmd_list,
        "list enrollments and enrollment groups: id, attestation, status",
        ("--data hub-data", "--data hub-data --json"),
    )
    _json_option(listing)

    show = command(
        "show",
        cmd_show,
        "print one enrollment (or, with --group, enrollment group) as JSON",
        ("sensor-001 --data hub-data", "contoso-fleet --group --data hub-data"),
    )
    show.add_argument("id", help="the registration id (or group id with --group)")
    show.add_argument("--group", action="store_true", help="an enrollment group")

    for name, help in (
        ("enable", "enable an enrollment or group"),
        ("disable", "disable an enrollment or group (its registrations: disabled)"),
    ):
        parser = command(
            name,
            cmd_enable,
            help,
            ("sensor-001 --data hub-data", "contoso-fleet --group --data hub-data"),
        )
        parser.add_argument("id", help="the registration id (or group id with --group)")
        parser.add_argument("--group", action="store_true", help="an enrollment group")

    registrations = command(
        "registrations",
        cmd_registrations,
        "list registration records: id, status, device, group, the device's payload",
        ("--data hub-data", "sensor-001 --data hub-data --json"),
    )
    registrations.add_argument("registration_id", nargs="?", help="only this registration")
    _json_option(registrations)


def _checked(data_dir, method, path, body=None):
    status, answer = request(data_dir, method, path, body)
    if status >= 400:
        message = answer.get("message") if isinstance(answer, dict) else answer
        raise UserError(f"DPS refused {method} {path}: {message} (HTTP {status})")
    return answer


def _print_json(value) -> None:
    print(json.dumps(value, indent=2))


def _json_argument(text, option: str):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(f"{option} is not JSON: {exc}") from exc


def _body(args, attestation: dict) -> dict:
    body = {
        "attestation": attestation,
        "provisioningStatus": "disabled" if args.disabled else "enabled",
    }
    twin = _json_argument(args.initial_twin, "--initial-twin")
    if twin is not None:
        body["initialTwin"] = twin
    return body


def _sas_attestation(args) -> dict:
    keys = {"primaryKey": args.key, "secondaryKey": args.secondary_key}
    return {"type": "symmetricKey", "symmetricKey": keys}


def _ca_attestation(name: str) -> dict:
    return {"type": "x509", "x509": {"caReferences": {"primary": name}}}


def _print_enrollment(args, document: dict, what: str) -> None:
    if args.json:
        _print_json(document)
        return
    print(f"{what} {_key(document)}: {_attestation_text(document)}, {_status(document)}")
    keys = document["attestation"].get("symmetricKey")
    if keys:
        print(f"primary key: {keys['primaryKey']}")
        print(f"secondary key: {keys['secondaryKey']}")


def cmd_info(args) -> int:
    info = _checked(args.data, "GET", "/dps")
    if args.json:
        _print_json(info)
        return 0
    print(f"id scope: {info['idScope']}")
    if info["port"]:
        print(f"endpoint: mqtts://{info['hostName']}:{info['port']} (same CA as the hub)")
    else:
        print("endpoint: not serving (start `hub serve --dps-port N`)")
    print(f"assigns to: {info['assignedHub']}")
    return 0


def cmd_enroll(args) -> int:
    from host_tools.dps.enrollments import thumbprint_info

    if args.cert:
        from host_tools.certs.inspect import live_cert_thumbprint

        sha256 = live_cert_thumbprint(args.cert)
        slots = {"primary": {"info": {"sha256Thumbprint": sha256}}}
    elif args.thumbprint:
        slots = {"primary": {"info": thumbprint_info(args.thumbprint)}}
    if args.cert or args.thumbprint:
        if args.secondary_thumbprint:
            slots["secondary"] = {"info": thumbprint_info(args.secondary_thumbprint)}
        attestation = {"type": "x509", "x509": {"clientCertificates": slots}}
    elif args.ca:
        attestation = _ca_attestation(args.ca)
    else:
        attestation = _sas_attestation(args)
    body = _body(args, attestation)
    if args.device_id:
        body["deviceId"] = args.device_id
    path = f"/enrollments/{quote(args.registration_id, safe='')}"
    _print_enrollment(args, _checked(args.data, "PUT", path, body), "enrollment")
    return 0


def cmd_enrollment_group(args) -> int:
    attestation = _ca_attestation(args.ca) if args.ca else _sas_attestation(args)
    path = f"/enrollmentGroups/{quote(args.group_id, safe='')}"
    document = _checked(args.data, "PUT", path, _body(args, attestation))
    _print_enrollment(args, document, "enrollment group")
    if not args.json and args.sas:
        print(f"device keys: `dps device-key {args.group_id} REGISTRATION_ID --data {args.data}`")
    return 0


def cmd_device_key(args) -> int:
    from host_tools.dps.topics import sas_derive_device_key

    group = _checked(args.data, "GET", f"/enrollmentGroups/{quote(args.group_id, safe='')}")
    keys = group["attestation"].get("symmetricKey")
    if not keys:
        raise UserError(f"enrollment group {args.group_id} is not a symmetric-key (--sas) group")
    print(sas_derive_device_key(keys["primaryKey"], args.registration_id))
    return 0


def _key(document: dict) -> str:
    return document.get("registrationId") or document.get("enrollmentGroupId")


def _status(document: dict) -> str:
    return document.get("provisioningStatus", "enabled")


def _attestation_text(document: dict) -> str:
    attestation = document["attestation"]
    if attestation["type"] == "symmetricKey":
        return "symmetric key"
    x509 = attestation["x509"]
    if "caReferences" in x509:
        return f"X.509 CA {x509['caReferences']['primary']}"
    info = x509["clientCertificates"]["primary"]["info"]
    return f"X.509 thumbprint {info.get('sha256Thumbprint') or info.get('sha1Thumbprint')}"


def cmd_list(args) -> int:
    enrollments = _checked(args.data, "GET", "/enrollments")
    groups = _checked(args.data, "GET", "/enrollmentGroups")
    if args.json:
        _print_json({"enrollments": enrollments, "enrollmentGroups": groups})
        return 0
    for document in enrollments:
        print(f"enrollment\t{_key(document)}\t{_attestation_text(document)}\t{_status(document)}")
    for document in groups:
        print(f"group\t{_key(document)}\t{_attestation_text(document)}\t{_status(document)}")
    return 0


def _path(args) -> str:
    table = "enrollmentGroups" if args.group else "enrollments"
    return f"/{table}/{quote(args.id, safe='')}"


def cmd_show(args) -> int:
    _print_json(_checked(args.data, "GET", _path(args)))
    return 0


def cmd_enable(args) -> int:
    document = _checked(args.data, "GET", _path(args))
    document["provisioningStatus"] = args.dps_command + "d"
    _checked(args.data, "PUT", _path(args), document)
    print(f"{args.id}: {document['provisioningStatus']}")
    return 0


def cmd_registrations(args) -> int:
    if args.registration_id:
        path = f"/registrations/{quote(args.registration_id, safe='')}"
        records = [_checked(args.data, "GET", path)]
    else:
        records = _checked(args.data, "GET", "/registrations")
    if args.json:
        _print_json(records if not args.registration_id else records[0])
        return 0
    for record in records:
        group = (record.get("x509") or record.get("symmetricKey") or {}).get("enrollmentGroupId")
        print(
            f"{record['registrationId']}\t{record['status']}\t"
            f"device {record.get('deviceId') or '-'}\tgroup {group or '-'}\t"
            f"payload {json.dumps(record.get('payload'))}"
        )
    return 0
