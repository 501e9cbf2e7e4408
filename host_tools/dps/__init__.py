"""The emulator's Device Provisioning Service: DPS's MQTT dialect beside the hub, enrollments,
allocation to the hub's registry, and the `dps ...` commands (docs/hub-emulator.md)."""
