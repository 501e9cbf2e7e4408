"""Stopping a test server's listening socket while a thread blocks in accept() on it."""

import socket


def stop_listening(listener: socket.socket, accept_thread=None, timeout: float = 5) -> None:
    """Shut the listener down, let its accept thread return, then close it.

    close() alone does not wake the thread: the old socket stays listening, and a thread that
    then loops into accept() again can do so on the descriptor number the next test's listener
    was given, and take that test's connections (the next test's broker saw nothing while its
    client got a CONNACK from this one).
    """
    try:
        listener.shutdown(socket.SHUT_RDWR)  # accept() returns EINVAL at once
    except OSError:
        pass
    if accept_thread is not None:
        accept_thread.join(timeout)
    listener.close()
