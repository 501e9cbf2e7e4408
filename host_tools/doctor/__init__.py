"""`doctor`: why a device does not connect (host_tools.doctor.run_doctor, see docs/doctor.md)."""

from host_tools.doctor.checks import Check
from host_tools.doctor.doctor import has_failure, run_doctor

__all__ = ["Check", "has_failure", "run_doctor"]
