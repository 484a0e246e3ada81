"""Loaded at start-up by any Python process whose PYTHONPATH includes this folder (tests only).

When LLAMACLI_TEST_NETLOG names a file, every attempt to open an internet connection or resolve a host
name is appended to that file and refused, so a test can prove that a command made zero attempts.
Each guarded process also appends its pid to that file's name + ".guarded", so a test can prove the
guard was loaded at all (a process started through a pty, for instance).
"""

import os
import socket

_LOG = os.environ.get("LLAMACLI_TEST_NETLOG")


def _refuse(what: str) -> OSError:
    with open(_LOG or os.devnull, "a", encoding="utf-8") as log:
        log.write(what + "\n")
    return OSError(f"network blocked by the test: {what}")


if _LOG:
    with open(_LOG + ".guarded", "a", encoding="utf-8") as _marker:
        _marker.write(f"{os.getpid()}\n")
    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex

    def connect(self, address):  # type: ignore[no-untyped-def]
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise _refuse(f"connect {address!r}")
        return _connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise _refuse(f"connect_ex {address!r}")
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise _refuse(f"getaddrinfo {host!r}")

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
