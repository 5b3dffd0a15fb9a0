"""A peer in another language: interop/node/peer.js (Node.js, npm's zeromq and @msgpack/msgpack),
written from docs/protocol.md, against a snakezmq listener in this process.

The setup runs ``npm ci`` (the lock file pins both packages; zeromq ships prebuilt
binaries). Without node or npm, or when npm cannot install, the tests are skipped
with the reason printed.
"""
from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import threading
from typing import Any, Dict, Iterator, List, Optional

import pytest

from snakezmq.exceptions import DuplicateIdent
from snakezmq.message import Message

from ..processes import stop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_DIR = os.path.join(ROOT, "interop", "node")
WAIT = 15.0


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "node or npm is not installed: the Node.js interop tests need Node 18 or newer"
        print(reason)
        pytest.skip(reason)
    try:
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                                text=True, timeout=600)
    except subprocess.TimeoutExpired:
        result = None
    if result is None or result.returncode != 0:
        reason = "npm ci in interop/node failed: %s" % (result.stderr[-2000:] if result else "timed out")
        print(reason)
        pytest.skip(reason)
    return node


class NodePeer:
    """peer.js in a subprocess: JSON commands in, JSON events out."""

    def __init__(self, node: str, address: Any, ident: str) -> None:
        endpoint = "tcp://%s:%d" % address
        self.proc = subprocess.Popen([node, os.path.join(NODE_DIR, "peer.js"), "--connect", endpoint,
                                      "--ident", ident], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events: List[Dict[str, Any]] = []
        self._queue: "queue.Queue[Dict[str, Any]]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(json.loads(line))

    def of(self, kind: str) -> List[Dict[str, Any]]:
        while not self._queue.empty():
            self.events.append(self._queue.get())
        return [event for event in self.events if event["event"] == kind]

    def command(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        stop(self.proc)


@pytest.fixture
def node_peers(node: str) -> Iterator[Any]:
    started: List[NodePeer] = []

    def start(address: Any, ident: str = "node") -> NodePeer:
        peer = NodePeer(node, address, ident)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.close()


def python_listener(links: Any) -> Any:
    link, _, messaging = links.stack("py")
    return link.add_listener(("127.0.0.1", 0)), messaging, links.record(messaging)


def test_node_peer_handshakes_and_sends_messages_python_receives_intact(links, node_peers):
    address, _, events = python_listener(links)
    peer = node_peers(address)
    links.pump(lambda: peer.of("connected") and events.connected("node"), WAIT, "the full handshake")
    assert peer.of("welcome")[0]["version"] == 1 and peer.of("identified")[0] == {
        "event": "identified", "ident": "py", "version": 2}
    sent = [(bytes(range(256)), 30, 0), (b"", None, 5), (b"x" * 70000, 3600, 0xFFFFFFFF)]
    for data, ttl, flags in sent:
        peer.command(cmd="send", to="py", data=base64.b64encode(data).decode(), ttl=ttl, flags=flags)
    links.pump(lambda: len(events.of("recv")) == 3 and len(peer.of("acked")) >= 1, WAIT, "3 messages")
    received = [e[3] for e in events.of("recv")]
    assert [(m.data, m.ttl, m.flags) for m in received] == [
        (data, None if ttl is None else float(ttl), flags) for data, ttl, flags in sent]
    assert [m.uuid.hex() for m in received] == [e["uuid"] for e in peer.of("queued")]
    links.pump(lambda: sum(len(e["uuids"]) for e in peer.of("acked")) == 3, WAIT, "Python's acks")


def test_node_peer_acknowledges_without_duplicates_across_a_reconnect(links, node_peers):
    address, messaging, events = python_listener(links)
    acked: List[bytes] = []
    messaging.on_message_sent.add(lambda conn_id, ident, uuid: acked.append(uuid))
    peer = node_peers(address)
    links.pump(lambda: events.connected("node"), WAIT, "node connected")
    peer.command(cmd="hold_acks", value=True)  # as if its acks were lost
    first = [Message(b"before %d" % i, ttl=60) for i in range(4)]
    for message in first:
        messaging.send_message("node", message)
    links.pump(lambda: len(peer.of("recv")) == 4, WAIT, "node delivered 4")
    links.pump_for(0.3)
    assert acked == []  # nothing acknowledged yet
    peer.command(cmd="reconnect")  # drops the connection at once, then HELLO, IDENT, RESUME again
    links.pump(lambda: len(events.of("connect")) == 2 and len(peer.of("connected")) == 2, WAIT, "reconnect")
    # The RESUME said how far node delivered: those count as acknowledged, nothing is sent again.
    links.pump(lambda: len(acked) == 4, WAIT, "the 4 acknowledged through RESUME")
    second = [Message(b"after %d" % i, ttl=60) for i in range(2)]
    for message in second:
        messaging.send_message("node", message)
    links.pump(lambda: len(acked) == 6, WAIT, "all 6 acknowledged")
    links.pump_for(0.3)
    recv = peer.of("recv")
    assert [base64.b64decode(e["data"]) for e in recv] == [m.data for m in first + second]
    assert len({e["uuid"] for e in recv}) == 6 and [e["seq"] for e in recv] == [1, 2, 3, 4, 5, 6]
    assert sorted(acked) == sorted(m.uuid for m in first + second)


def test_node_peer_with_a_taken_ident_is_refused(links, node_peers):
    address, _, events = python_listener(links)
    first = node_peers(address)
    links.pump(lambda: events.connected("node"), WAIT, "the first node connected")
    second = node_peers(address)
    links.pump(lambda: second.proc.poll() is not None, WAIT, "the second node refused")
    assert second.proc.returncode == 5
    [refused] = second.of("refused")
    assert refused["code"] == "duplicate" and "'node' is in use" in refused["text"]
    assert any(isinstance(e[2], DuplicateIdent) for e in events.of("error"))
    assert first.proc.poll() is None and len(events.of("connect")) == 1
