"""Endpoints: snakemq (host, port) tuples and ZeroMQ strings, validated without DNS."""
import pytest

from snakezmq._core import endpoints
from snakezmq._core.endpoints import tcp_address, to_endpoint


@pytest.mark.parametrize("address, listening, endpoint", [
    (("127.0.0.1", 4000), False, "tcp://127.0.0.1:4000"),
    (("localhost", 65535), True, "tcp://localhost:65535"),
    (("", 4000), True, "tcp://0.0.0.0:4000"),
    (("*", 4000), True, "tcp://0.0.0.0:4000"),
    (("0.0.0.0", 0), True, "tcp://0.0.0.0:*"),
    (("::1", 5), False, "tcp://[::1]:5"),
    (("::", 0), True, "tcp://[::]:*"),
    ("tcp://10.0.0.1:5", False, "tcp://10.0.0.1:5"),
    ("ipc:///tmp/snakezmq.sock", True, "ipc:///tmp/snakezmq.sock"),
    ("inproc://queue", False, "inproc://queue"),
])
def test_valid(address, listening, endpoint):
    assert to_endpoint(address, listening) == endpoint


@pytest.mark.parametrize("address, listening, error", [
    (["localhost", 5], False, TypeError),
    (("localhost", 5, 6), False, TypeError),
    (None, True, TypeError),
    (b"tcp://1.2.3.4:5", False, TypeError),
    (5000, True, TypeError),
    ("localhost:5000", False, ValueError),
    ("udp://1.2.3.4:5", False, ValueError),
    (("localhost", "5000"), False, ValueError),
    (("localhost", 5000.0), False, ValueError),
    (("localhost", True), False, ValueError),
    (("localhost", -1), True, ValueError),
    (("localhost", 65536), True, ValueError),
    ((b"localhost", 5000), False, ValueError),
    (("localhost", 0), False, ValueError),
])
def test_invalid(address, listening, error):
    with pytest.raises(error, match="(host, port)|port 0|must"):
        to_endpoint(address, listening)


@pytest.mark.parametrize("endpoint, address", [
    ("tcp://1.2.3.4:5", ("1.2.3.4", 5)),
    ("tcp://[::1]:6000", ("::1", 6000)),
    ("tcp://localhost:0", ("localhost", 0)),
])
def test_tcp_address(endpoint, address):
    assert tcp_address(endpoint) == address


@pytest.mark.parametrize("address, endpoint, expected", [
    (("127.0.0.1", 5000), "tcp://127.0.0.1:5000", True),
    (("127.0.0.1", 5000), "tcp://localhost:5000", True),
    (("::1", 5000, 0, 0), "tcp://[::1]:5000", True),
    (("127.0.0.1", 5001), "tcp://127.0.0.1:5000", False),
    ("/tmp/x.ipc", "ipc:///tmp/x.ipc", True),
    ("\0name", "ipc://@name", True),
    (b"\0name", "ipc://@name", True),
    ("", "ipc:///tmp/x.ipc", False),
    ("inproc://a", "inproc://a", False),
])
def test_is_end_of(address, endpoint, expected):
    assert endpoints.is_end_of(address, endpoint) is expected
