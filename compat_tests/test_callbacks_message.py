"""Callback, Message, constants, exceptions, and callbacks assigned as plain functions."""
from __future__ import annotations

import subprocess
import sys

import pytest

from compat_helpers import record


def test_callback_add_remove_call(backend):
    calls = []
    first = lambda *args, **kwargs: calls.append(("first", args, kwargs))  # noqa: E731
    second = lambda *args, **kwargs: calls.append(("second", args, kwargs))  # noqa: E731
    callback = backend.callbacks.Callback()
    callback()
    callback.add(first)
    callback.add(second)
    callback(1, key="value")
    callback.remove(first)
    callback(2)
    assert calls == [("first", (1,), {"key": "value"}), ("second", (1,), {"key": "value"}),
                     ("second", (2,), {})]


def test_message_defaults(backend):
    one, two = backend.message.Message(b"data"), backend.message.Message(b"data")
    assert (one.data, one.ttl, one.flags) == (b"data", 0.0, 0)
    assert isinstance(one.ttl, float)
    assert isinstance(one.uuid, bytes) and len(one.uuid) == 16
    assert one.uuid != two.uuid


@pytest.mark.parametrize("ttl, expected", [(5, 5.0), (0.25, 0.25), (None, None)])
def test_message_keeps_given_fields(backend, ttl, expected):
    message = backend.message.Message(b"x", ttl=ttl, flags=backend.message.FLAG_PERSISTENT,
                                      uuid=b"U" * 16)
    assert (message.ttl, message.flags, message.uuid) == (expected, 1, b"U" * 16)
    assert expected is None or isinstance(message.ttl, float)


def test_message_constants(backend):
    assert backend.message.FLAG_PERSISTENT == 1
    assert backend.message.MAX_UUID_LENGTH == 16


HIERARCHY = [
    ("SnakeMQException", "Exception"),
    ("NoConnection", "SnakeMQException"),
    ("SendNotFinished", "SnakeMQException"),
    ("SnakeMQBrokenFormat", "SnakeMQException"),
    ("SnakeMQBrokenPacket", "SnakeMQBrokenFormat"),
    ("SnakeMQBrokenMessage", "SnakeMQBrokenFormat"),
    ("SnakeMQIncompatibleProtocol", "SnakeMQException"),
    ("SnakeMQNoIdent", "SnakeMQException"),
    ("SnakeMQUnknownRoute", "SnakeMQException"),
]


# ids without "SnakeMQ", so that ``-k snakemq`` selects one backend only
@pytest.mark.parametrize("name, parent", HIERARCHY,
                         ids=[name.replace("SnakeMQ", "") for name, _ in HIERARCHY])
def test_exception_hierarchy(backend, name, parent):
    exceptions = backend.exceptions
    assert issubclass(getattr(exceptions, name), getattr(exceptions, parent, Exception))


def test_message_module_is_reachable_through_messaging(backend):
    """The seed scripts use X.message.Message after importing only link, packeter, messaging."""
    code = ("import {0}.link, {0}.packeter, {0}.messaging\n"
            "print(len({0}.message.Message(b'seed').uuid))").format(backend.name)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, "16\n"), done.stderr


# How the connecting side sends b"payload" at each layer.
SENDS = {
    "link": lambda backend, link, conn: link.send(conn, b"payload"),
    "packeter": lambda backend, packeter, conn: packeter.send_packet(conn, b"payload"),
    "messaging": lambda backend, messaging, conn: messaging.send_message(
        "server", backend.message.Message(b"payload", ttl=60)),
}


def layer(links, layer_name, ident):
    """A Link, then Packeter, then Messaging, up to ``layer_name``; returns (link, top object)."""
    link = links.new()
    top = link
    if layer_name != "link":
        top = links.backend.packeter.Packeter(link)
    if layer_name == "messaging":
        top = links.backend.messaging.Messaging(ident, "", top)
    return link, top


def payload(calls):
    """What the receiving callbacks got, concatenated (a link stream may come in fragments)."""
    return b"".join(getattr(args[-1], "data", args[-1]) for args in calls)


@pytest.mark.parametrize("layer_name, attribute", [
    ("link", "on_connect"), ("link", "on_recv"), ("packeter", "on_connect"),
    ("packeter", "on_packet_recv"), ("messaging", "on_connect"), ("messaging", "on_message_recv"),
])
def test_callback_attribute_replaced_by_a_plain_function(links, layer_name, attribute):
    (listener_link, listener), (connector_link, connector) = (layer(links, layer_name, ident)
                                                              for ident in ("server", "client"))
    calls = []
    setattr(listener, attribute, lambda *args: calls.append(args))
    connected = record(connector, "on_connect")["on_connect"]
    connector_link.add_connector(listener_link.add_listener(("127.0.0.1", 0)), reconnect_interval=0.1)
    links.pump(lambda: connected, what="connection")
    SENDS[layer_name](links.backend, connector, connected[0][0])
    if attribute == "on_connect":
        links.pump(lambda: calls, what="the plain on_connect")
        assert len(calls) == 1 and calls[0][1:] == (("client",) if layer_name == "messaging" else ())
    else:
        links.pump(lambda: len(payload(calls)) >= 7, what="the plain receive function")
        assert payload(calls) == b"payload"
