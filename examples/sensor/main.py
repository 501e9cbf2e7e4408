# main.py (example app): a sensor that sends a reading every telemetry_interval_s, answers the
# "get_status" direct method, follows the "interval_s" desired property and prints C2D messages.
# `make demo` deploys it as the board's main.py, beside the firmware modules.
import gc
import time

from agent import Agent

agent = Agent.from_config()


def read_temperature():
    try:
        import esp32

        return esp32.mcu_temperature()  # ESP32-S2/S3/C3/C6
    except (ImportError, AttributeError):
        return 20 + (time.ticks_ms() // 1000) % 10  # no sensor here: a slow sawtooth


def free_heap():
    gc.collect()  # without it mem_free() counts garbage as used
    return gc.mem_free() if hasattr(gc, "mem_free") else None


def telemetry():
    return {"temperature": read_temperature(), "free_heap": free_heap()}


def get_status(payload):
    return {"free_heap": free_heap(), "messages_acked": agent.stats["acked"]}


def on_desired(patch, version):
    interval = patch.get("interval_s")
    if isinstance(interval, (int, float)) and interval > 0:
        agent.telemetry_interval_s = interval
        agent.report({"interval_s": interval})


def on_c2d(body, properties):
    print("app: cloud says %s %s" % (body.decode(), properties))


agent.on_telemetry(telemetry)
agent.on_method("get_status", get_status)
agent.on_desired(on_desired)
agent.on_c2d(on_c2d)
try:
    agent.run()
except KeyboardInterrupt:
    print("agent: stopped")
