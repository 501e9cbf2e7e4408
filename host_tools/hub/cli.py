"""`python -m host_tools hub ...`: serve the emulator, and act on it from the service side.

Service commands find the running hub through `DIR/hub.json` and talk to its HTTP API. With the
hub stopped, the commands that only touch stored state (register, list, ca, c2d, twin) edit
`DIR/registry.json` directly (and the `dps` commands `DIR/dps.json`, through the same
`request`); invoke and telemetry need a running hub.
"""

import asyncio
import errno
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

from host_tools.cli import add_command
from host_tools.errors import UserError

DEFAULT_DATA = "hub-data"


def _data_option(parser) -> None:
    parser.add_argument(
        "--data", default=DEFAULT_DATA, help="the hub's state folder (default: %(default)s)"
    )


def _json_option(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the service API's JSON")


def register(subparsers) -> None:
    """Add the `hub` command group."""
    hub = subparsers.add_parser(
        "hub",
        help="IoT Hub emulator: serve it, manage devices, talk",
        description="IoT Hub emulator: serve it, manage devices, talk to them",
    )
    commands = hub.add_subparsers(dest="hub_command", required=True)

    def command(name, handler, help, examples, parent=commands):
        parser = add_command(parent, name, help, examples)
        _data_option(parser)
        parser.set_defaults(func=handler)
        return parser

    serve = command(
        "serve",
        cmd_serve,
        "run the emulator (MQTT over mutual TLS + HTTP API)",
        (
            "--data hub-data",
            "--data hub-data --host 0.0.0.0 --verbose",
            "--data hub-data --dps-port 8884",
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument(
        "--port", type=int, default=8883, help="MQTT/TLS port (default %(default)s; 0 = a free one)"
    )
    serve.add_argument(
        "--host-name",
        default="localhost",
        help="the hub host name devices use (default %(default)s)",
    )
    serve.add_argument(
        "--http-port", type=int, default=0, help="service API port (default 0 = a free one)"
    )
    serve.add_argument(
        "--dps-port",
        type=int,
        help="also serve DPS (python -m host_tools dps ...) on this MQTT/TLS port (0 = a free one)",
    )
    serve.add_argument(
        "--dps-host-name",
        default="dps.localhost",
        help="the DPS host name devices use, also on the server certificate (default %(default)s)",
    )
    serve.add_argument("-v", "--verbose", action="store_true", help="log every connection")

    reg = command(
        "register",
        cmd_register,
        "add or replace a device identity",
        (
            "sensor-001 --cert devices/sensor-001/certs/device.crt.pem --data hub-data",
            "sensor-002 --ca --data hub-data",
        ),
    )
    reg.add_argument("device_id", help="the device id (a CA-signed device's certificate CN)")
    how = reg.add_mutually_exclusive_group(required=True)
    how.add_argument("--thumbprint", help="self-signed X.509: primary thumbprint (SHA-1/256)")
    how.add_argument("--cert", help="self-signed X.509: take the thumbprint from this PEM/DER")
    how.add_argument("--ca", action="store_true", help="CA-signed X.509 (CN = device id)")
    how.add_argument("--sas", action="store_true", help="symmetric keys (generated if omitted)")
    reg.add_argument(
        "--secondary-thumbprint", help="self-signed X.509: secondary thumbprint (SHA-1/256)"
    )
    reg.add_argument("--key", help="SAS primary key (base64)")
    reg.add_argument("--secondary-key", help="SAS secondary key (base64)")
    reg.add_argument("--disabled", action="store_true", help="register it disabled")

    listing = command(
        "list",
        cmd_list,
        "list device identities: id, authentication, status, queued C2D",
        ("--data hub-data", "--data hub-data --json"),
    )
    _json_option(listing)
    enable = command("enable", cmd_enable, "enable a device", ("sensor-001 --data hub-data",))
    enable.add_argument("device_id", help="the device id")
    disable = command(
        "disable",
        cmd_enable,
        "disable a device (drops its connection)",
        ("sensor-001 --data hub-data",),
    )
    disable.add_argument("device_id", help="the device id")

    ca = commands.add_parser(
        "ca",
        help="CA certificates: add, verify (proof of possession), list",
        description="CA certificates: add, verify (proof of possession), list",
    )
    ca_commands = ca.add_subparsers(dest="ca_command", required=True)
    ca_add = command(
        "add",
        cmd_ca_add,
        "upload a CA certificate; prints the verification code",
        (
            "contoso-devices ca/devices/ca.crt.pem --prove-with ca/devices --data hub-data",
            "contoso-devices ca/devices/ca.crt.pem --data hub-data --json",
        ),
        parent=ca_commands,
    )
    ca_verify = command(
        "verify",
        cmd_ca_verify,
        "verify with a certificate signed by the CA, CN = the code",
        ("contoso-devices verification.crt.pem --data hub-data",),
        parent=ca_commands,
    )
    for parser in (ca_add, ca_verify):
        parser.add_argument("name", help="the CA's name in the hub")
    ca_add.add_argument("certificate", help="the CA certificate (PEM file)")
    ca_verify.add_argument(
        "certificate", help="the verification certificate (PEM file, certs verification-cert)"
    )
    ca_add.add_argument(
        "--prove-with",
        metavar="CA_DIR",
        help="the CA's folder (certs ca): sign the verification certificate with its key "
        "and verify at once (what the portal's two steps do)",
    )
    ca_add.add_argument(
        "--json", action="store_true", help="print name, verificationCode, isVerified as JSON"
    )
    ca_list = command(
        "list",
        cmd_ca_list,
        "list CA certificates: name, verified, subject",
        ("--data hub-data", "--data hub-data --json"),
        parent=ca_commands,
    )
    _json_option(ca_list)

    c2d = command(
        "c2d",
        cmd_c2d,
        "queue a cloud-to-device message",
        ('sensor-001 \'{"led": "on"}\' --property priority=high --data hub-data',),
    )
    c2d.add_argument("device_id", help="the device id")
    c2d.add_argument("payload", help="the message body (text)")
    c2d.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="K=V",
        help="an application property (repeatable)",
    )

    invoke = command(
        "invoke",
        cmd_invoke,
        "call a direct method; prints status and payload",
        (
            "sensor-001 get_status --data hub-data",
            "sensor-001 get_status --payload '{}' --timeout 10 --data hub-data",
        ),
    )
    invoke.add_argument("device_id", help="the device id (connected)")
    invoke.add_argument("method", help="the method name")
    invoke.add_argument("--payload", default="null", help="JSON payload (default %(default)s)")
    invoke.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds the device has to answer (default %(default)s; 504 after)",
    )

    twin = command(
        "twin",
        cmd_twin,
        "print a device twin (JSON), or patch its desired properties",
        (
            "sensor-001 --data hub-data",
            "sensor-001 --desired '{\"interval_s\": 30}' --data hub-data",
        ),
    )
    twin.add_argument("device_id", help="the device id")
    twin.add_argument("--desired", help="JSON patch for the desired properties")

    telemetry = command(
        "telemetry",
        cmd_telemetry,
        "print telemetry received (JSON lines)",
        ("sensor-001 --data hub-data", "--follow --data hub-data"),
    )
    telemetry.add_argument(
        "device_id", nargs="?", help="only this device's messages (default: every device's)"
    )
    telemetry.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new messages until Ctrl-C"
    )


# the service side's transport: HTTP to a running hub, or the stored state -----------------


def running_hub_info(data_dir) -> dict | None:
    """The contents of DIR/hub.json when that hub still runs, else None.

    A hub killed without its clean-up leaves hub.json behind, and its pid may since belong to
    another process: the hub counts as running only while its service port takes connections.
    """
    path = Path(data_dir) / "hub.json"
    try:
        info = json.loads(path.read_text())
        os.kill(info["pid"], 0)
        socket.create_connection(("127.0.0.1", int(info["http_port"])), timeout=2).close()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def _not_running(data_dir) -> UserError:
    return UserError(
        f"no hub running for {data_dir}: start `python -m host_tools hub serve --data {data_dir}`"
    )


def request(data_dir, method: str, path: str, body=None, need_running: bool = False):
    """One service API call: (status, answer). Falls back to the stored state when stopped.

    The stored state is the hub's registry.json and DPS's dps.json: a GET on a folder that
    holds neither (a mistyped --data, say) says no hub runs rather than create the folder.
    The token comes from DIR/hub.json, which only the hub's user can read.
    """
    info = running_hub_info(data_dir)
    if info is None:
        if need_running or (method == "GET" and not _holds_state(data_dir)):
            raise _not_running(data_dir)
        return _offline(data_dir, method, path, body)
    data = None if body is None else json.dumps(body).encode()
    url = f"http://127.0.0.1:{info['http_port']}{path}"
    req = urllib.request.Request(url, data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {info.get('token', '')}")
    try:
        with urllib.request.urlopen(req, timeout=600) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except urllib.error.URLError as exc:
        raise UserError(f"hub for {data_dir} does not answer on {url}: {exc.reason}") from exc
    return status, json.loads(raw) if raw else None


def _holds_state(data_dir) -> bool:
    from host_tools.dps.enrollments import DPS_FILE
    from host_tools.hub.registry import REGISTRY_FILE

    return any(Path(data_dir, name).exists() for name in (REGISTRY_FILE, DPS_FILE))


def _offline(data_dir, method, path, body):
    from host_tools.hub.registry import RegistryError
    from host_tools.hub.server import Hub
    from host_tools.hub.service_api import route

    hub = Hub(data_dir, serve=False)  # the registry makes the folder, 0700
    try:
        return asyncio.run(route(hub, method, path, body))
    except RegistryError as exc:
        return exc.status, {"message": str(exc)}


def _checked(data_dir, method, path, body=None, need_running=False):
    status, answer = request(data_dir, method, path, body, need_running)
    if status >= 400:
        message = answer.get("message") if isinstance(answer, dict) else answer
        raise UserError(f"hub refused {method} {path}: {message} (HTTP {status})")
    return answer


def _print_json(value) -> None:
    print(json.dumps(value, indent=2))


# commands -----------------------------------------------------------------------------


def cmd_serve(args) -> int:
    """Run the emulator until interrupted; one line on stdout once it listens."""
    import logging

    from host_tools.hub.server import Hub
    from host_tools.hub.service_api import start_service, stop_service

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s hub %(levelname)s %(message)s",
    )
    if running_hub_info(args.data):
        raise UserError(f"a hub is already running for {args.data} (see {args.data}/hub.json)")

    async def serve():
        dps_host_name = args.dps_host_name if args.dps_port is not None else None
        hub = Hub(args.data, args.host_name, dps_host_name=dps_host_name)
        try:
            port, http_port = await start_service(
                hub, args.host, args.port, args.http_port, args.dps_port
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                ports = f"port {args.port}"
                if args.dps_port:
                    ports += f" or DPS port {args.dps_port}"
                raise UserError(
                    f"{ports} on {args.host} is in use: stop what holds it or pass "
                    "--port N (and give devices that port)"
                ) from exc
            raise
        print(
            f"hub ready: mqtts://{args.host}:{port} (host name {hub.host_name}), devices trust "
            f"{hub.credentials['ca_file']}, service API http://127.0.0.1:{http_port}",
            flush=True,
        )
        if hub.dps is not None:
            print(
                f"dps ready: mqtts://{args.host}:{hub.dps.port} (host name {hub.dps.host_name}), "
                f"id scope {hub.dps.id_scope}",
                flush=True,
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await stop_service(hub)

    asyncio.run(serve())
    return 0


def cmd_register(args) -> int:
    from host_tools.hub.registry import AUTH_CA, AUTH_SAS, AUTH_SELF_SIGNED

    if args.cert:
        from host_tools.certs.inspect import live_cert_thumbprint

        args.thumbprint = live_cert_thumbprint(args.cert)
    if args.thumbprint:
        auth = {
            "type": AUTH_SELF_SIGNED,
            "x509Thumbprint": {
                "primaryThumbprint": args.thumbprint,
                "secondaryThumbprint": args.secondary_thumbprint,
            },
        }
    elif args.ca:
        auth = {"type": AUTH_CA}
    else:
        auth = {
            "type": AUTH_SAS,
            "symmetricKey": {"primaryKey": args.key, "secondaryKey": args.secondary_key},
        }
    body = {"authentication": auth, "status": "disabled" if args.disabled else "enabled"}
    _print_json(_checked(args.data, "PUT", f"/devices/{quote(args.device_id, safe='')}", body))
    return 0


def cmd_list(args) -> int:
    devices = _checked(args.data, "GET", "/devices")
    if args.json:
        _print_json(devices)
        return 0
    for device in devices:
        auth = device["authentication"]["type"]
        queued = device.get("cloudToDeviceMessageCount", 0)
        print(f"{device['deviceId']}\t{auth}\t{device['status']}\tc2d queued: {queued}")
    return 0


def cmd_enable(args) -> int:
    path = f"/devices/{quote(args.device_id, safe='')}"
    device = _checked(args.data, "GET", path)
    device["status"] = "enabled" if args.hub_command == "enable" else "disabled"
    _checked(args.data, "PUT", path, device)
    print(f"{args.device_id}: {device['status']}")
    return 0


def _read_pem(path) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read certificate {path}: {exc}") from exc


def cmd_ca_add(args) -> int:
    name = quote(args.name, safe="")
    _checked(
        args.data, "PUT", f"/certificates/{name}", {"certificate": _read_pem(args.certificate)}
    )
    answer = _checked(args.data, "POST", f"/certificates/{name}/generateVerificationCode")
    code = answer["verificationCode"]
    verified = False
    if args.prove_with:
        import tempfile

        from host_tools.certs import create_verification_cert

        with tempfile.TemporaryDirectory(prefix="pop-") as tmp:
            proof = create_verification_cert(args.prove_with, code, Path(tmp) / "proof.pem")
            body = {"certificate": proof.read_text()}
            result = _checked(args.data, "POST", f"/certificates/{name}/verify", body)
        verified = bool(result["properties"]["isVerified"])
    if args.json:
        _print_json({"name": args.name, "verificationCode": code, "isVerified": verified})
    elif verified:
        print(f"{args.name}: uploaded and verified (proof of possession with {args.prove_with})")
    else:
        print(f"verification code: {code}")
        print(
            "sign a certificate with CN = this code using the CA key (`python -m host_tools certs "
            "verification-cert --ca CA_DIR --code CODE OUT`), then "
            f"`hub ca verify {args.name} OUT` (or add again with --prove-with CA_DIR)"
        )
    return 0


def cmd_ca_verify(args) -> int:
    name = quote(args.name, safe="")
    body = {"certificate": _read_pem(args.certificate)}
    answer = _checked(args.data, "POST", f"/certificates/{name}/verify", body)
    print(f"{args.name}: verified={answer['properties']['isVerified']}")
    return 0


def cmd_ca_list(args) -> int:
    entries = _checked(args.data, "GET", "/certificates")
    if args.json:
        _print_json(entries)
        return 0
    for entry in entries:
        props = entry["properties"]
        print(f"{entry['name']}\tverified={props['isVerified']}\t{props['subject']}")
    return 0


def cmd_c2d(args) -> int:
    properties = {}
    for item in args.property:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--property {item!r}: expected KEY=VALUE")
        properties[key] = value
    path = f"/devices/{quote(args.device_id, safe='')}/messages/deviceBound"
    answer = _checked(args.data, "POST", path, {"body": args.payload, "properties": properties})
    print(f"queued {answer['messageId']}")
    return 0


def _json_argument(text: str, option: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(f"{option} is not JSON: {exc}") from exc


def cmd_invoke(args) -> int:
    body = {
        "methodName": args.method,
        "payload": _json_argument(args.payload, "--payload"),
        "responseTimeoutInSeconds": args.timeout,
    }
    path = f"/twins/{quote(args.device_id, safe='')}/methods"
    status, answer = request(args.data, "POST", path, body, need_running=True)
    if status == 200:
        print(json.dumps(answer))
        return 0
    print(json.dumps({"status": status, "payload": answer}))
    return 1


def cmd_twin(args) -> int:
    path = f"/twins/{quote(args.device_id, safe='')}"
    if args.desired:
        patch = {"properties": {"desired": _json_argument(args.desired, "--desired")}}
        _print_json(_checked(args.data, "PATCH", path, patch))
    else:
        _print_json(_checked(args.data, "GET", path))
    return 0


def cmd_telemetry(args) -> int:
    since = 0
    while True:
        query = {"since": since, "wait": 10 if args.follow else 0}
        if args.device_id:
            query["deviceId"] = args.device_id
        records = _checked(args.data, "GET", f"/telemetry?{urlencode(query)}", need_running=True)
        for record in records:
            print(json.dumps(record), flush=True)
            since = record["index"]
        if not records and not args.follow:
            return 0
        if not records:
            time.sleep(0.1)
