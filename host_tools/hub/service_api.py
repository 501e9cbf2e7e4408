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
The running hub also writes `DIR/hub.json` (pid, ports, host name) so the CLI finds it.
"""

import asyncio
import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from host_tools.hub.registry import AUTH_SAS, AUTH_SELF_SIGNED, RegistryError

HUB_FILE = "hub.json"
MAX_BODY = 1 << 20


async def start_service(hub, host: str, port: int, http_port: int = 0) -> tuple:
    """Start MQTT and the HTTP API; write DIR/hub.json. Returns (mqtt port, http port)."""
    mqtt_port = await hub.start(host, port)
    server = await asyncio.start_server(lambda r, w: _serve(hub, r, w), "127.0.0.1", http_port)
    hub.http_server = server
    http_port = server.sockets[0].getsockname()[1]
    info = {
        "pid": os.getpid(),
        "host": host,
        "port": mqtt_port,
        "http_port": http_port,
        "host_name": hub.host_name,
        "ca_file": str(hub.credentials["ca_file"]),
    }
    Path(hub.data_dir, HUB_FILE).write_text(json.dumps(info, indent=1))
    return mqtt_port, http_port


async def stop_service(hub) -> None:
    server = getattr(hub, "http_server", None)
    if server is not None:
        server.close()
        hub.http_server = None
    Path(hub.data_dir, HUB_FILE).unlink(missing_ok=True)
    await hub.stop()


async def _serve(hub, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request_line = await asyncio.wait_for(reader.readline(), 10)
        method, target, _ = request_line.decode("latin-1").split(" ", 2)
        length = 0
        while True:
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length > MAX_BODY:
            raise RegistryError("request body too large", 413)
        raw = await reader.readexactly(length) if length else b""
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
    reason = {200: "OK", 204: "No Content", 404: "Not Found", 504: "Gateway Timeout"}
    writer.write(
        f"HTTP/1.1 {status} {reason.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
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
