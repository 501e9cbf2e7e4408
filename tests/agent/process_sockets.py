"""A running board's TCP connections, seen from the test: pidfd_getfd (Linux 5.6+) copies a
descriptor out of the board's process, so the options its firmware set on its real socket can be
read back. Works the same for the CPython emulated board and the MicroPython Unix port."""

import ctypes
import os
import socket

_SYS_PIDFD_GETFD = 438  # one number on every architecture (the unified syscall table)


def nodelay_by_peer_port(pid: int, port: int) -> list[bool]:
    """TCP_NODELAY of each of process `pid`'s sockets connected to 127.0.0.1:`port`."""
    libc = ctypes.CDLL(None, use_errno=True)
    found = []
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except OSError:  # closed while we looked
                continue
            fd = libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                if ctypes.get_errno() == 9:  # EBADF: closed while we looked
                    continue
                raise OSError(ctypes.get_errno(), f"pidfd_getfd on fd {name} of pid {pid}")
            with socket.socket(fileno=fd) as copy:
                if copy.family not in (socket.AF_INET, socket.AF_INET6):
                    continue
                try:
                    peer = copy.getpeername()
                except OSError:  # listening or not connected
                    continue
                if peer[1] == port:
                    found.append(bool(copy.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
    finally:
        os.close(pidfd)
    return found
