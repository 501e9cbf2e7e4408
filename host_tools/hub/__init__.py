"""IoT Hub emulator: MQTT over mutual TLS with the hub's rules, a registry and a service side.

`host_tools.hub.testing.running_hub` runs it as a test fixture; `python -m host_tools hub serve`
runs it as a process. See docs/hub-emulator.md.
"""
