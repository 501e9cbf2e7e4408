"""RAM: the .mpy agent does a full session on the Unix port with a small heap.

The budget the product promises is 48 KB on the 32-bit build of the Unix port (i386): its objects
have the ESP32's word size, so its heap use is what an ESP32 without PSRAM sees. The x86-64 build
stores every pointer, qstr-pool entry and dict slot in 8 bytes instead of 4 and needs more; its
budget guards against regressions (`make bench` prints the smallest heap for both).
"""

import json

import pytest

from host_tools.hub.testing import running_hub
from host_tools.unix_port import run_unix_port

from .conftest import MAIN_HEADER, Device

FULL_SESSION = (
    MAIN_HEADER
    + """
import gc
agent.on_method("ping", lambda payload: {"pong": payload})
agent.on_c2d(lambda body, properties: print("test: c2d", body.decode()))
agent.report({"ram": "48k"})
for i in range(100):
    agent.send({"n": i})
    agent.run(for_ms=5)
print("test: queued 100")
agent.run(until=lambda: agent.stats["acked"] >= 100)
gc.collect()
print("test: acked 100, free", gc.mem_free())
agent.run()
"""
)


# (word size, fixture naming the binary, heap budget)
BUDGETS = [("32-bit", "micropython32_bin", "48k"), ("64-bit", "micropython_bin", "72k")]


@pytest.mark.micropython
@pytest.mark.parametrize(("word", "binary", "heap"), BUDGETS, ids=[b[0] for b in BUDGETS])
def test_mpy_agent_within_heap_budget_completes_full_session(
    tmp_path, hub, request, word, binary, heap
):
    micropython = request.getfixturevalue(binary)
    device = Device(tmp_path, "micropython-unix", hub, "ram-1", "x509", True, {})
    device.write_flash(FULL_SESSION)
    with run_unix_port(device.flash, heapsize=heap, micropython=micropython) as board:
        board.wait_for_line(r"^agent: connected to .* as ram-1 \(x509\)$", timeout=30)
        records = hub.wait_for_telemetry(100, device_id="ram-1", timeout=60)
        assert sorted(json.loads(r.body)["n"] for r in records) == list(range(100))
        board.wait_for_line(r"^test: acked 100", timeout=30)
        board.wait_for_line(r"^agent: twin received", timeout=30)
        board.wait_for_line(r"^agent: reported properties", timeout=30)
        assert hub.twin("ram-1")["reported"]["ram"] == "48k"
        hub.wait_for_connection("ram-1", timeout=10, topic_filter="$iothub/methods/POST/#")
        assert hub.invoke("ram-1", "ping", 1, timeout=15) == (200, {"pong": 1})
        hub.c2d("ram-1", "hello-48k")
        board.wait_for_line(r"^test: c2d hello-48k$", timeout=15)
        assert "MemoryError" not in board.output
        assert board.running()


@pytest.mark.micropython
def test_mpy_agent_provisioning_through_dps_within_the_32_bit_budget(tmp_path, micropython32_bin):
    # The same session, the board knowing only DPS: provisioning's modules come and go before
    # the hub's TLS handshake, so the 48k budget holds with a dps section too.
    with running_hub(tmp_path / "hub", dps=True, dps_host_name="localhost") as hub:
        hub.dps.set_timing(retry_after_s=1)
        device = Device(tmp_path, "micropython-unix", hub, "ram-dps", "x509", False, {})
        hub.dps.enroll_x509("ram-dps", certificate=device.identity.cert_pem)
        values = device.files["config.json"]
        del values["hub_host"], values["device_id"]
        values["dps"] = {
            "id_scope": hub.dps.id_scope,
            "registration_id": "ram-dps",
            "endpoint": "localhost",
            "port": hub.dps.port,
        }
        device.write_flash(FULL_SESSION)
        with run_unix_port(device.flash, heapsize="48k", micropython=micropython32_bin) as board:
            board.wait_for_line(r"^agent: provisioned ram-dps: device ram-dps at hub", 30)
            records = hub.wait_for_telemetry(100, device_id="ram-dps", timeout=60)
            assert sorted(json.loads(r.body)["n"] for r in records) == list(range(100))
            board.wait_for_line(r"^agent: reported properties", timeout=30)
            hub.wait_for_connection("ram-dps", timeout=10, topic_filter="$iothub/methods/POST/#")
            assert hub.invoke("ram-dps", "ping", 1, timeout=15) == (200, {"pong": 1})
            assert "MemoryError" not in board.output and "out of memory" not in board.output
