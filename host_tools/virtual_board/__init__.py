"""The virtual board: the MicroPython Unix port behind a pty, driven by stock mpremote."""

from host_tools.virtual_board.board import VirtualBoard, serve

__all__ = ["VirtualBoard", "serve"]
