"""The service side as a local HTTP API (JSON), shaped like IoT Hub's REST API where cheap.

Routes (all on 127.0.0.1):
  GET    /devices                               identities
  GET    /devices/{id}          PUT (body: identity)     DELETE
  GET    /twins/{id}            PATCH {"properties": {"desired": {...}}}
  POST   /twins/{id}/methods    {"methodName", "payload", "responseTimeoutInSeconds"}
  POST   /devices/{id}/messages/deviceBound   {"body": "...", "properties": {...}}
  GET    /telemetry?deviceId=&since=N&wait=S  records after index N (long-poll up to S s)
  GET    /certificates          PUT /certificates/{name} {"certificate": PEM}
  POST   /certificates/{name}/generateVerificationCode
  POST   /certificates/{name}/verify            {"certificate": PEM}
  GET    /connections                          the connection log
  /dps, /enrollments, /enrollmentGroups, /registrations: DPS (host_tools/dps/service_api.py)
The running hub also writes `DIR/hub.json` (pid, ports, host name, token; 0600) so the CLI
finds it.

Every request needs `Authorization: Bearer TOKEN` (a new random token at each start, in
hub.json), `Host: 127.0.0.1:PORT` or `localhost:PORT` (a rebinding DNS name gets 403), no
`Origin` but the API's own (a web page gets 403) and, with a body method, `Content-Type:
application/json` (a form or `text/plain` POST, which a page may send without asking, gets 415).
"""

import asyncio
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from host_tools.hub.registry import AUTH_SAS, AUTH_SELF_SIGNED, RegistryError
from host_tools.hub.storage import write_secret

HUB_FILE = "hub.json"
DPS_ROUTES = ("dps", "enrollments", "enrollmentGroups", "registrations")  # dps/service_api.py
MAX_BODY = 1 << 20
MAX_HEADER_LINES = 100
HEAD_TIMEOUT_S = 10
LOCAL_HOST_NAMES = ("127.0.0.1", "localhost")
BODY_METHODS = ("POST", "PUT", "PATCH")
SINGLE_HEADERS = ("host", "origin", "authorization", "content-type", "content-length")
REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    504: "Gateway Timeout",
}


async def start_service(
    hub, host: str, port: int, http_port: int = 0, dps_port: int | None = None
) -> tuple:
    """Start MQTT, the HTTP API and (`dps_port` not None) the DPS endpoint; write DIR/hub.json.

    Returns (mqtt port, http port); `hub.dps.port` is the DPS one.
    """
    mqtt_port = await hub.start(host, port)
    if dps_port is not None:
        from host_tools.dps.server import start_dps

        await start_dps(hub, host, dps_port)
    hub.http_token = secrets.token_urlsafe(32)
    server = await asyncio.start_server(lambda r, w: _serve(hub, r, w), "127.0.0.1", http_port)
    hub.http_server = server
    http_port = hub.http_port = server.sockets[0].getsockname()[1]
    info = {
        "pid": os.getpid(),
        "host": host,
        "port": mqtt_port,
        "http_port": http_port,
        "host_name": hub.host_name,
        # absolute: read by other processes, from other working directories
        "ca_file": str(Path(hub.credentials["ca_file"]).resolve()),
        "token": hub.http_token,
    }
    if hub.dps is not None:
        info.update(
            dps_port=hub.dps.port, dps_host_name=hub.dps.host_name, id_scope=hub.dps.id_scope
        )
    write_secret(Path(hub.data_dir, HUB_FILE), json.dumps(info, indent=1))
    return mqtt_port, http_port


async def stop_service(hub) -> None:
    server = getattr(hub, "http_server", None)
    if server is not None:
        server.close()
        hub.http_server = None
    Path(hub.data_dir, HUB_FILE).unlink(missing_ok=True)
    if hub.dps is not None:
        await hub.dps.stop()
    await hub.stop()


def access_problem(hub, method: str, headers: dict) -> tuple | None:
    """(status, message) when a request may not be served, else None.

    Host first (a rebinding DNS name must learn nothing, not even that a token is needed), then
    Origin, the token, and the content type of a body.
    """
    port = hub.http_port
    own = {f"{name}:{port}" for name in LOCAL_HOST_NAMES}
    host = headers.get("host", "")
    if host.lower() not in own:
        return 403, (
            f"Host {host!r} is not 127.0.0.1:{port} or localhost:{port}: the service API answers "
            "local clients only"
        )
    origin = headers.get("origin")
    if origin is not None and origin.lower() not in {f"http://{name}" for name in own}:
        return 403, f"Origin {origin!r}: the service API does not serve web pages"
    scheme, _, token = headers.get("authorization", "").partition(" ")
    expected = getattr(hub, "http_token", None)
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(token.strip().encode(), expected.encode())
    ):
        return 401, (
            'missing or wrong token: send `Authorization: Bearer TOKEN` with the "token" of '
            f"{Path(hub.data_dir, HUB_FILE).resolve()} (new at every hub start)"
        )
    if method in BODY_METHODS:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return 415, f"Content-Type {content_type or 'none'!r}: send application/json"
    return None


async def _read_head(reader: asyncio.StreamReader) -> tuple:
    """(method, target, headers with lower-case names); ValueError when malformed."""
    request_line = (await reader.readline()).decode("latin-1")
    method, target, _ = request_line.split(" ", 2)
    headers: dict = {}
    for _ in range(MAX_HEADER_LINES):
        line = (await reader.readline()).decode("latin-1").strip()
        if not line:
            return method, target, headers
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in SINGLE_HEADERS and name in headers:
            raise ValueError(f"header {name} sent twice")
        headers[name] = value.strip()
    raise ValueError(f"more than {MAX_HEADER_LINES} header lines")


async def _serve(hub, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    extra = ""
    try:
        method, target, headers = await asyncio.wait_for(_read_head(reader), HEAD_TIMEOUT_S)
        length = int(headers.get("content-length", 0))
        if length > MAX_BODY:
            raise RegistryError("request body too large", 413)
        # read before any refusal: closing with unread bytes would reset the answer away
        raw = await asyncio.wait_for(reader.readexactly(length), HEAD_TIMEOUT_S) if length else b""
        problem = access_problem(hub, method, headers)
        if problem is not None:
            status, message = problem
            if status == 401:
                extra = "WWW-Authenticate: Bearer\r\n"
            raise RegistryError(message, status)
        body = json.loads(raw) if raw.strip() else None
        status, answer = await route(hub, method, target, body)
    except RegistryError as exc:
        status, answer = exc.status, {"message": str(exc)}
    except (ValueError, KeyError, TypeError) as exc:
        status, answer = 400, {"message": f"bad request: {exc}"}
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        writer.close()
        return
    data = json.dumps(answer).encode()
    writer.write(
        f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
        f"{extra}Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        + data
    )
    try:
        await writer.drain()
    finally:
        writer.close()


async def route(hub, method: str, target: str, body) -> tuple:
    """Dispatch one request; returns (HTTP status, JSON-able answer)."""
    url = urlsplit(target)
    parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    registry = hub.registry
    if parts and parts[0] in DPS_ROUTES:
        from host_tools.dps.service_api import route_dps

        return route_dps(hub, method, parts, body)
    match method, parts:
        case "GET", ["devices"]:
            return 200, [registry.describe(d) for d in sorted(registry.devices)]
        case "GET", ["devices", device_id]:
            return 200, registry.describe(device_id)
        case "PUT", ["devices", device_id]:
            _put_device(hub, device_id, body or {})
            return 200, registry.describe(device_id)
        case "DELETE", ["devices", device_id]:
            registry.remove_device(device_id)
            connection = hub.sessions.get(device_id)
            if connection is not None:
                connection.drop("device deleted")
            return 204, None
        case "GET", ["twins", device_id]:
            return 200, _twin_document(hub, device_id)
        case "PATCH", ["twins", device_id]:
            desired = ((body or {}).get("properties") or {}).get("desired")
            if not isinstance(desired, dict):
                raise RegistryError('body must be {"properties": {"desired": {...}}}')
            hub.update_desired(device_id, desired)
            return 200, _twin_document(hub, device_id)
        case "POST", ["twins", device_id, "methods"]:
            body = body or {}
            timeout = float(body.get("responseTimeoutInSeconds", 30))
            status, payload = await hub.invoke(
                device_id, body["methodName"], body.get("payload"), timeout
            )
            if status in (404, 504) and isinstance(payload, dict) and "errorCode" in payload:
                return status, payload
            return 200, {"status": status, "payload": payload}
        case "POST", ["devices", device_id, "messages", "deviceBound"]:
            body = body or {}
            text = body.get("body", "")
            message = hub.c2d(device_id, text.encode(), body.get("properties") or {})
            return 200, {"messageId": message["id"]}
        case "GET", ["telemetry"]:
            return 200, await _telemetry(hub, query)
        case "GET", ["certificates"]:
            return 200, [_ca_document(entry) for entry in registry.cas.values()]
        case "PUT", ["certificates", name]:
            return 200, _ca_document(registry.add_ca(name, (body or {})["certificate"]))
        case "POST", ["certificates", name, "generateVerificationCode"]:
            code = registry.ca_verification_code(name)
            return 200, {**_ca_document(registry.ca(name)), "verificationCode": code}
        case "POST", ["certificates", name, "verify"]:
            return 200, _ca_document(registry.ca_verify(name, (body or {})["certificate"]))
        case "GET", ["connections"]:
            return 200, [event.to_json() for event in hub.connection_log[-1000:]]
    raise RegistryError(f"no route {method} {url.path}", 404)


def _put_device(hub, device_id: str, body: dict) -> None:
    auth = body.get("authentication") or {}
    auth_type = auth.get("type", AUTH_SAS)
    primary = secondary = None
    if auth_type == AUTH_SELF_SIGNED:
        prints = auth.get("x509Thumbprint") or {}
        primary, secondary = prints.get("primaryThumbprint"), prints.get("secondaryThumbprint")
    elif auth_type == AUTH_SAS:
        keys = auth.get("symmetricKey") or {}
        primary, secondary = keys.get("primaryKey"), keys.get("secondaryKey")
    enabled = body.get("status", "enabled") == "enabled"
    hub.registry.add_device(device_id, auth_type, primary, secondary, enabled)
    connection = hub.sessions.get(device_id)
    if connection is not None and not enabled:
        connection.drop("device disabled")


def _twin_document(hub, device_id: str) -> dict:
    twin = hub.twin(device_id)
    device = hub.registry.device(device_id)
    return {
        "deviceId": device_id,
        "status": device["status"],
        "connectionState": "Connected" if hub.device_online(device_id) else "Disconnected",
        "properties": twin,
    }


def _ca_document(entry: dict) -> dict:
    return {
        "name": entry["name"],
        "properties": {
            "subject": entry.get("subject"),
            "thumbprint": entry.get("thumbprint"),
            "isVerified": entry.get("isVerified", False),
            "expiry": entry.get("expiry"),
        },
    }


async def _telemetry(hub, query: dict) -> list:
    since = int(query.get("since", 0))
    device_id = query.get("deviceId") or None
    deadline = time.monotonic() + min(float(query.get("wait", 0)), 30)
    while True:
        records = hub.telemetry(device_id, since)
        if records or time.monotonic() >= deadline:
            return [r.to_json() for r in records[:1000]]
        await asyncio.sleep(0.1)
