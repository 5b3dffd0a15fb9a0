"""Turn snakemq addresses and ZeroMQ endpoint strings into endpoints (no DNS here)."""
from __future__ import annotations

from typing import Any, Tuple, Union

Address = Union[Tuple[str, int], str]
SCHEMES = ("tcp://", "ipc://", "inproc://")
ALL_INTERFACES = ("", "0.0.0.0", "*")


def to_endpoint(address: Any, listening: bool) -> str:
    """``(host, port)`` or ``"tcp://..."`` / ``"ipc://..."`` / ``"inproc://..."`` -> endpoint.

    Raises:
        TypeError / ValueError: with what a valid address looks like.
    """
    if isinstance(address, str):
        if not address.startswith(SCHEMES):
            raise ValueError("address %r must be (host, port) or start with one of %s"
                             % (address, ", ".join(SCHEMES)))
        return address
    if not isinstance(address, tuple) or len(address) != 2:
        raise TypeError("address must be a (host, port) tuple or a ZeroMQ endpoint string, "
                        "not %r" % (address,))
    host, port = address
    if not isinstance(host, str) or type(port) is not int or not 0 <= port <= 65535:
        raise ValueError("address %r: host must be a str and port an int in 0..65535" % (address,))
    if host in ALL_INTERFACES:
        if not listening:
            raise ValueError("cannot connect to %r: name the host to connect to" % (address,))
        host = "0.0.0.0"
    if not listening and port == 0:
        raise ValueError("cannot connect to port 0 (%r)" % (address,))
    if ":" in host:
        host = "[%s]" % host
    return "tcp://%s:%s" % (host, port if port else "*")


def tcp_address(endpoint: str) -> Tuple[str, int]:
    """``"tcp://1.2.3.4:5"`` -> ``("1.2.3.4", 5)``."""
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    return host.strip("[]"), int(port)


def is_end_of(address: Any, endpoint: str) -> bool:
    """Whether ``address`` (as ``getsockname()`` / ``getpeername()`` report it) is ``endpoint``'s end
    of a connection: the same port for ``tcp://`` (the host may be a name or ``*``), the same
    path for ``ipc://`` (``@name``: Linux's abstract namespace). Never for ``inproc://``."""
    if endpoint.startswith("tcp://"):
        return (isinstance(address, tuple) and len(address) >= 2
                and str(address[1]) == endpoint.rpartition(":")[2])
    if endpoint.startswith("ipc://"):
        path = endpoint[len("ipc://"):]
        if isinstance(address, bytes):
            address = address.decode("utf-8", "replace")
        return bool(path) and (address == path or (path[0] == "@" and address == "\0" + path[1:]))
    return False
