"""The service HTTP API refuses what a web page or a rebinding DNS name could send."""

import http.client
import json
import os
import stat

import pytest

from host_tools.hub.cli import request


def call(hub, method, path, body=None, headers=None, token=True):
    """One raw HTTP request; returns (status, JSON answer, response headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", hub.http_port, timeout=10)
    sent = {"Host": f"127.0.0.1:{hub.http_port}", "Content-Type": "application/json"}
    if token:
        sent["Authorization"] = f"Bearer {hub.http_token}"
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v is not None}
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in sent.items():
        connection.putheader(name, value)
    if data is not None:
        connection.putheader("Content-Length", str(len(data)))
    connection.endheaders(data)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    return response.status, json.loads(raw) if raw else None, response


def test_token_in_hub_json_0600_and_not_empty(hub):
    info_file = hub.data_dir / "hub.json"
    info = json.loads(info_file.read_text())
    assert len(info["token"]) >= 32 and info["token"] == hub.http_token
    assert stat.S_IMODE(os.stat(info_file).st_mode) == 0o600


def test_request_with_token_host_and_json_answered(hub):
    hub.register_sas("dev-sas", None)
    status, answer, _ = call(hub, "GET", "/devices")
    assert status == 200 and answer[0]["deviceId"] == "dev-sas"


@pytest.mark.parametrize("host", ["localhost:{port}", "LocalHost:{port}", "127.0.0.1:{port}"])
def test_request_local_host_names_accepted(hub, host):
    status, _, _ = call(hub, "GET", "/devices", headers={"Host": host.format(port=hub.http_port)})
    assert status == 200


def test_request_without_token_refused_401(hub):
    hub.register_sas("dev-sas", None)
    status, answer, response = call(hub, "GET", "/devices", token=False)
    assert status == 401
    assert "token" in answer["message"] and "hub.json" in answer["message"]
    assert response.getheader("WWW-Authenticate") == "Bearer"
    assert "primaryKey" not in json.dumps(answer)


def test_request_wrong_token_refused_401(hub):
    headers = {"Authorization": "Bearer " + "x" * 43}
    assert call(hub, "GET", "/devices", headers=headers)[0] == 401


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1.nip.io:{port}", "127.0.0.1:1", "localhost", None]
)
def test_request_foreign_host_header_refused_403(hub, host):
    """DNS rebinding: the browser sends the attacker's name in Host, with the right port."""
    value = None if host is None else host.format(port=hub.http_port)
    status, answer, _ = call(hub, "GET", "/devices", headers={"Host": value})
    assert status == 403 and "Host" in answer["message"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost:1"])
def test_request_foreign_origin_refused_403(hub, origin):
    body = {"body": "x"}
    path = "/devices/dev-sas/messages/deviceBound"
    hub.register_sas("dev-sas", None)
    status, answer, _ = call(hub, "POST", path, body, headers={"Origin": origin})
    assert status == 403 and "Origin" in answer["message"]
    assert hub.hub.registry.device("dev-sas")["c2d"] == []


def test_request_same_origin_accepted(hub):
    origin = f"http://127.0.0.1:{hub.http_port}"
    assert call(hub, "GET", "/devices", headers={"Origin": origin})[0] == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_post_not_json_refused_415(hub, content_type):
    hub.register_sas("dev-sas", None)
    path = "/devices/dev-sas/messages/deviceBound"
    headers = {"Content-Type": content_type}
    status, answer, _ = call(hub, "POST", path, b'{"body": "x"}', headers=headers)
    assert status == 415 and "application/json" in answer["message"]
    assert hub.hub.registry.device("dev-sas")["c2d"] == []


def test_post_json_with_charset_accepted(hub):
    hub.register_sas("dev-sas", None)
    path = "/devices/dev-sas/messages/deviceBound"
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert call(hub, "POST", path, {"body": "x"}, headers=headers)[0] == 200


def test_cli_request_sends_token_transparently(hub):
    hub.register_sas("dev-sas", None)
    status, answer = request(hub.data_dir, "GET", "/devices", need_running=True)
    assert status == 200 and answer[0]["deviceId"] == "dev-sas"


def test_handle_request_sends_token_transparently(hub):
    hub.register_sas("dev-sas", None)
    status, answer = hub.request("POST", "/devices/dev-sas/messages/deviceBound", {"body": "hi"})
    assert status == 200 and answer["messageId"]
