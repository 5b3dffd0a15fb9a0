"""snakemq's SSLConfig is importable, but using it fails loudly: never plaintext by surprise."""
from __future__ import annotations

import pytest

from snakezmq.exceptions import SnakeMQException, SSLNotSupported
from snakezmq.link import SSLConfig


def _config() -> SSLConfig:
    return SSLConfig(keyfile="key.pem", certfile="cert.pem")


def test_ssl_not_supported_is_a_snakemq_exception():
    assert issubclass(SSLNotSupported, SnakeMQException)


def test_add_listener_with_ssl_raises_and_names_curvezmq(links):
    link = links.new()
    with pytest.raises(SSLNotSupported) as info:
        link.add_listener(("127.0.0.1", 0), ssl_config=_config())
    assert "CurveZMQ" in str(info.value)
    assert "zmq.auth" in str(info.value)
    # Nothing was half set up: the same address still works without SSL.
    address = link.add_listener(("127.0.0.1", 0))
    assert address[1] > 0


def test_add_connector_with_ssl_raises_and_names_curvezmq(links):
    server = links.new()
    address = server.add_listener(("127.0.0.1", 0))
    client = links.new()
    with pytest.raises(SSLNotSupported) as info:
        client.add_connector(address, ssl_config=_config())
    assert "CurveZMQ" in str(info.value)
    # No connector was registered by the failed call: adding it again is not a duplicate.
    key = client.add_connector(address)
    client.del_connector(key)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:*", "inproc://ssl-refused"])
def test_ssl_refused_for_endpoint_strings_too(links, address):
    link = links.new()
    with pytest.raises(SSLNotSupported, match="CurveZMQ"):
        link.add_listener(address, ssl_config=_config())
    with pytest.raises(SSLNotSupported, match="CurveZMQ"):
        link.add_connector(address, ssl_config=_config())
