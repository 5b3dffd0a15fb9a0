"""CurveZMQ (issue 7): encrypted exchange, only allowed keys get in, idents bound to keys.

Keys come from zmq.auth.create_certificates in a temporary directory. The
listener's allowlist is a directory of IDENT.key public certificates: the file
name is the ident that key may use.
"""
from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest
import zmq
import zmq.auth

import snakezmq.link
from snakezmq._core import wire
from snakezmq._transport.curve import ZAP
from snakezmq.exceptions import ConnectionRefused, SSLNotSupported
from snakezmq.message import Message
from snakezmq.security import ANY_IDENT, CurveConfig

WAIT = 10.0


@pytest.fixture
def keys(tmp_path: Any) -> Dict[str, Any]:
    """server, clients/alice, clients/bob (allowed); stray/mallory and stray/fakeserver (not)."""
    clients, stray = tmp_path / "clients", tmp_path / "stray"
    clients.mkdir()
    stray.mkdir()
    zmq.auth.create_certificates(str(tmp_path), "server")
    for name in ("alice", "bob"):
        zmq.auth.create_certificates(str(clients), name)
    for name in ("mallory", "fakeserver"):
        zmq.auth.create_certificates(str(stray), name)
    return {"dir": tmp_path, "server_secret": str(tmp_path / "server.key_secret"),
            "server_public": str(tmp_path / "server.key"), "clients": str(clients),
            "secret": lambda name: str((clients if name in ("alice", "bob") else stray)
                                       / (name + ".key_secret"))}


def server_config(keys: Dict[str, Any]) -> CurveConfig:
    return CurveConfig.from_files(keys["server_secret"], allowed_clients_dir=keys["clients"])


def client_config(keys: Dict[str, Any], key_name: str, server_public: Optional[str] = None) -> CurveConfig:
    return CurveConfig.from_files(keys["secret"](key_name),
                                  server_public_file=server_public or keys["server_public"])


def secure_server(links: Any, keys: Dict[str, Any], address: Any = ("127.0.0.1", 0)) -> tuple:
    link, _, messaging = links.stack("server")
    return link.add_listener(address, ssl_config=server_config(keys)), links.record(messaging), messaging


def client(links: Any, ident: str, address: Any, curve: Optional[CurveConfig]) -> tuple:
    link, _, messaging = links.stack(ident)
    link.add_connector(address, reconnect_interval=0.2, ssl_config=curve)
    return link, messaging, links.record(messaging)


def auth_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if type(t).__name__ == "AuthenticationThread"]


def test_encrypted_exchange(links, keys):
    address, server_events, server = secure_server(links, keys)
    _, alice, alice_events = client(links, "alice", address, client_config(keys, "alice"))
    alice.send_message("server", Message(b"hello from alice", ttl=60))
    server.send_message("alice", Message(b"hello from server", ttl=60))
    links.pump(lambda: server_events.received() == [b"hello from alice"]
               and alice_events.received() == [b"hello from server"], WAIT, "both messages")
    assert server_events.connected("alice") and alice_events.connected("server")
    assert server_events.of("error") == [] and alice_events.of("error") == []


def test_rpc_over_curve(links, keys):
    import snakezmq.messaging
    import snakezmq.rpc

    class Calculator:
        def add(self, a: int, b: int) -> int:
            return a + b

    address, _, server = secure_server(links, keys)
    snakezmq.rpc.RpcServer(snakezmq.messaging.ReceiveHook(server)).register_object(Calculator(), "calc")
    _, alice, _ = client(links, "alice", address, client_config(keys, "alice"))
    rpc_client = snakezmq.rpc.RpcClient(snakezmq.messaging.ReceiveHook(alice))
    proxy = rpc_client.get_proxy("server", "calc")
    proxy.add.set_timeout(WAIT)
    result: List[Any] = []
    caller = threading.Thread(target=lambda: result.append(proxy.add(2, 40)), daemon=True)
    links.pump(lambda: "server" in rpc_client._connections, WAIT, "RPC client sees the server")
    caller.start()
    links.pump(lambda: not caller.is_alive(), WAIT, "the RPC call")
    caller.join(WAIT)
    assert result == [42]


# -- clients that are not allowed ------------------------------------------------------------------

REJECTED = {
    # key material of the rejected client, what the listener's log says
    "unknown key": (lambda keys: client_config(keys, "mallory"), "not in the listener's allowed client keys"),
    "no key": (lambda keys: None, "another security mechanism"),
    "wrong server key": (lambda keys: CurveConfig.from_files(
        keys["secret"]("alice"), server_public_file=str(keys["dir"] / "stray" / "fakeserver.key")),
        "wrong server public key"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_rejected_client_gets_nothing_through(links, keys, caplog, case):
    caplog.set_level(logging.DEBUG, logger="snakezmq")
    make_config, listener_says = REJECTED[case]
    address, server_events, server = secure_server(links, keys)
    _, alice, alice_events = client(links, "alice", address, client_config(keys, "alice"))
    links.pump(lambda: server_events.connected("alice"), WAIT, "alice connected")

    # The intruder uses bob's ident, so only its key decides.
    _, intruder, intruder_events = client(links, "bob", address, make_config(keys))
    intruder.send_message("server", Message(b"intruder payload", ttl=60))
    links.pump(lambda: any(listener_says in r.getMessage() for r in caplog.records
                           if r.levelno >= logging.ERROR), WAIT, "the listener's log line")

    # Alice, connected at the same time, is unaffected.
    alice.send_message("server", Message(b"from alice", ttl=60))
    server.send_message("alice", Message(b"to alice", ttl=60))
    links.pump(lambda: server_events.received() == [b"from alice"]
               and alice_events.received() == [b"to alice"], WAIT, "alice's exchange")
    links.pump_for(0.5)
    assert server_events.received() == [b"from alice"]
    assert not server_events.connected("bob") and intruder_events.of("connect") == []
    assert [e[2] for e in server_events.of("connect")] == ["alice"]
    assert alice_events.of("disconnect") == []
    if case == "unknown key":  # the listener refused the key explicitly: the client hears it
        links.pump(lambda: any(isinstance(e[2], ConnectionRefused) for e in intruder_events.of("error")),
                   WAIT, "on_error(ConnectionRefused) on the refused client")


def test_valid_key_with_another_clients_ident_is_refused(links, keys, caplog):
    """Alice's key claiming bob's ident: refused (REFUSE "ident"), logged on both sides."""
    caplog.set_level(logging.INFO, logger="snakezmq")
    address, server_events, _ = secure_server(links, keys)
    _, _, impostor_events = client(links, "bob", address, client_config(keys, "alice"))
    links.pump(lambda: impostor_events.of("error"), WAIT, "on_error on the impostor")
    error = impostor_events.of("error")[0][2]
    assert isinstance(error, ConnectionRefused) and "ident" in str(error) and "'bob'" in str(error)
    alice_key = CurveConfig.from_files(keys["secret"]("alice")).public_key.decode()
    listener_lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
                      and "claiming ident 'bob'" in r.getMessage()]
    assert listener_lines and alice_key[:8] in listener_lines[0]
    assert any("refused the connection (ident)" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)
    assert server_events.of("connect") == [] and impostor_events.of("connect") == []


def test_impostor_while_the_real_client_is_connected(links, keys, caplog):
    """ZeroMQ parks the impostor's connection (bob's routing id is in use): the PROBE is refused."""
    caplog.set_level(logging.INFO, logger="snakezmq")
    address, server_events, server = secure_server(links, keys)
    _, bob, bob_events = client(links, "bob", address, client_config(keys, "bob"))
    links.pump(lambda: server_events.connected("bob"), WAIT, "bob connected")
    _, impostor, impostor_events = client(links, "bob", address, client_config(keys, "alice"))
    impostor.send_message("server", Message(b"forged", ttl=60))
    links.pump(lambda: impostor_events.of("error"), WAIT, "on_error on the impostor")
    assert isinstance(impostor_events.of("error")[0][2], ConnectionRefused)
    assert "ident" in str(impostor_events.of("error")[0][2])
    assert any("claiming ident 'bob'" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)
    bob.send_message("server", Message(b"real bob", ttl=60))
    links.pump(lambda: server_events.received() == [b"real bob"], WAIT, "bob's message")
    assert bob_events.of("disconnect") == [] and len(server_events.of("connect")) == 1


# -- the wire ---------------------------------------------------------------------------------------


class Relay:
    """A TCP relay thread: accepts on a free port, forwards to ``target``, records every byte."""

    def __init__(self, target: Tuple[str, int]) -> None:
        self.target = target
        self.captured = bytearray()
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(8)
        self._server.setblocking(False)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay", daemon=True)
        self._thread.start()

    def bytes(self) -> bytes:
        with self._lock:
            return bytes(self.captured)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._server, selectors.EVENT_READ)
        peers: Dict[socket.socket, socket.socket] = {}
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(0.05):
                    sock = key.fileobj
                    if sock is self._server:
                        self._accept(selector, peers)
                    else:
                        self._forward(selector, peers, sock)  # type: ignore[arg-type]
        finally:
            for sock in list(peers) + [self._server]:
                sock.close()
            selector.close()

    def _accept(self, selector: Any, peers: Dict[socket.socket, socket.socket]) -> None:
        downstream, _ = self._server.accept()
        upstream = socket.create_connection(self.target, timeout=5)
        for a, b in ((downstream, upstream), (upstream, downstream)):
            a.setblocking(True)
            peers[a] = b
            selector.register(a, selectors.EVENT_READ)

    def _forward(self, selector: Any, peers: Dict[socket.socket, socket.socket], sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        other = peers.get(sock)
        if data and other is not None:
            with self._lock:
                self.captured += data
            try:
                other.sendall(data)
                return
            except OSError:
                pass
        for s in (sock, other):
            if s is not None and s in peers:
                selector.unregister(s)
                peers.pop(s)
                s.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        assert not self._thread.is_alive(), "relay thread did not stop"


@pytest.mark.parametrize("secure", [True, False], ids=["curve", "plaintext-control"])
def test_payload_never_on_the_wire_in_plaintext(links, keys, secure):
    payload = b"TOP-SECRET-" + os.urandom(12).hex().encode()
    reply = b"SECRET-REPLY-" + os.urandom(12).hex().encode()
    server_link, _, server = links.stack("server")
    address = server_link.add_listener(("127.0.0.1", 0),
                                       ssl_config=server_config(keys) if secure else None)
    server_events = links.record(server)
    relay = Relay(address)
    try:
        _, alice, alice_events = client(links, "alice", ("127.0.0.1", relay.port),
                                        client_config(keys, "alice") if secure else None)
        alice.send_message("server", Message(payload, ttl=60))
        server.send_message("alice", Message(reply, ttl=60))
        links.pump(lambda: server_events.received() == [payload]
                   and alice_events.received() == [reply], WAIT, "exchange through the relay")
        captured = relay.bytes()
    finally:
        links.cleanup_all()
        relay.close()
    assert len(captured) > len(payload) + len(reply)
    if secure:
        assert payload not in captured and reply not in captured
        assert payload[:11] not in captured  # not even the prefix
    else:  # the same relay sees plaintext without Curve, so the check above can fail
        assert payload in captured and reply in captured


# -- listener-side checks on frames (the User-Id of each message) ---------------------------------------


class FakeFrame:
    """What the listener reads from a received frame: bytes, and the User-Id/Peer-Address properties."""

    def __init__(self, data: bytes, user_id: Optional[str] = None) -> None:
        self.bytes = data
        self._props = {"User-Id": user_id, "Peer-Address": "10.0.0.9"}

    def get(self, name: str) -> Any:
        value = self._props.get(name)
        if value is None:
            raise zmq.ZMQError(zmq.EINVAL)
        return value


def test_listener_checks_the_key_of_every_frame(links, keys, caplog):
    """A frame for bob's session with another key never acts for bob (stranger after a reconnect)."""
    caplog.set_level(logging.INFO, logger="snakezmq")
    link = links.new()  # a bare Link: nothing sends to the fake routing id
    address = link.add_listener(("127.0.0.1", 0), ssl_config=server_config(keys))
    listener = link._connections.listeners[address]
    bob_key = CurveConfig.from_files(keys["secret"]("bob")).public_key.decode()
    alice_key = CurveConfig.from_files(keys["secret"]("alice")).public_key.decode()
    hello = wire.encode_link(wire.LinkKind.HELLO, wire.MAGIC, wire.LINK_VERSION, b"n" * 8, True)
    data = wire.encode_link(wire.LinkKind.DATA)
    bye = wire.encode_link(wire.LinkKind.BYE)
    connects: List[str] = []
    link.on_connect.add(connects.append)
    now = time.monotonic()

    listener._handle([b"bob", FakeFrame(hello)], now)  # no key at all
    listener._handle([b"bob", FakeFrame(hello, alice_key)], now)  # alice's key
    assert connects == []
    listener._handle([b"bob", FakeFrame(hello, bob_key)], now)
    assert len(connects) == 1
    received: List[bytes] = []
    link.on_recv.add(lambda conn_id, packet: received.append(packet))
    listener._handle([b"bob", FakeFrame(data, alice_key), b"forged"], now)
    listener._handle([b"bob", FakeFrame(bye, alice_key)], now)
    assert received == [] and listener.sessions.by_rid(b"bob") is not None
    listener._handle([b"bob", FakeFrame(data, bob_key), b"real"], now)
    assert received == [b"real"]
    refusals = [r.getMessage() for r in caplog.records if "claiming ident 'bob'" in r.getMessage()]
    assert len(refusals) == 2 and "no key" in refusals[0] and alice_key[:8] in refusals[1]


def test_any_ident_key_and_ident_binding_in_code(keys):
    public, secret = zmq.auth.load_certificate(keys["secret"]("alice"))
    config = CurveConfig(public, secret, allowed_clients={public: ["a1", "a2"], b"x" * 32: ANY_IDENT})
    key = public.decode()
    assert config.ident_refusal(key, "a1") is None and config.ident_refusal(key, "a2") is None
    assert "not allowed" in config.ident_refusal(key, "b")
    assert config.ident_refusal(key, None) is not None
    any_key = [k for k, v in config.allowed_clients.items() if v is ANY_IDENT][0].decode()
    assert config.ident_refusal(any_key, "whatever") is None
    assert config.ident_refusal(None, "a1") is not None
    assert secret.decode() not in repr(config) and secret.decode()[:8] not in repr(config)


# -- the ZAP handler's life ------------------------------------------------------------------------


def test_zap_handler_runs_while_a_secure_listener_exists(links, keys):
    assert not ZAP.running()
    link = links.new()
    first = link.add_listener(("127.0.0.1", 0), ssl_config=server_config(keys))
    second = link.add_listener(("127.0.0.1", 0), ssl_config=server_config(keys))
    other = links.new()
    third = other.add_listener(("127.0.0.1", 0), ssl_config=server_config(keys))
    assert ZAP.running() and len(auth_threads()) == 1
    link.del_listener(first)
    other.cleanup()
    assert ZAP.running()
    link.del_listener(second)
    assert not ZAP.running() and auth_threads() == []
    # and it starts again for the next one
    again = link.add_listener(("127.0.0.1", 0), ssl_config=server_config(keys))
    assert ZAP.running()
    link.cleanup()
    assert not ZAP.running() and auth_threads() == []
    del third, again


def test_failed_bind_releases_the_zap_handler(links, keys):
    link = links.new()
    address = link.add_listener(("127.0.0.1", 0), ssl_config=server_config(keys))
    with pytest.raises(zmq.ZMQError):
        links.new().add_listener(address, ssl_config=server_config(keys))
    link.cleanup()
    assert not ZAP.running()


# -- configuration errors: loud, never plaintext ---------------------------------------------------


def test_misconfigurations_raise(links, keys):
    link = links.new()
    client_only = client_config(keys, "alice")
    with pytest.raises(ValueError, match="allowed_clients"):
        link.add_listener(("127.0.0.1", 0), ssl_config=client_only)
    with pytest.raises(ValueError, match="server_public_key"):
        link.add_connector(("127.0.0.1", 9), ssl_config=server_config(keys))
    with pytest.raises(ValueError, match="inproc"):
        link.add_listener("inproc://curve", ssl_config=server_config(keys))
    with pytest.raises(TypeError, match="CurveConfig"):
        link.add_connector(("127.0.0.1", 9), ssl_config={"keyfile": "x"})
    with pytest.raises(ValueError, match="key_secret"):
        CurveConfig.from_files(keys["server_public"])
    with pytest.raises(ValueError, match="CURVE key"):
        CurveConfig(b"short", b"short")
    assert link._connections.listeners == {} and link._connections.connectors == {} and not ZAP.running()


def test_ssl_config_message_shows_the_two_replacing_lines(links):
    link = links.new()
    with pytest.raises(SSLNotSupported) as listening:
        link.add_listener(("127.0.0.1", 0), ssl_config=snakezmq.link.SSLConfig("k.pem", "c.pem"))
    with pytest.raises(SSLNotSupported) as connecting:
        link.add_connector(("127.0.0.1", 9), ssl_config=snakezmq.link.SSLConfig("k.pem", "c.pem"))
    for info, method in ((listening, "add_listener"), (connecting, "add_connector")):
        text = str(info.value)
        assert "CurveZMQ" in text and "zmq.auth.create_certificates" in text
        assert "curve = snakezmq.security.CurveConfig.from_files(" in text
        assert "link.%s(address, ssl_config=curve)" % method in text


# -- the examples ---------------------------------------------------------------------------------


def test_secure_examples_exchange_a_message_each_way(tmp_path):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    examples = os.path.join(root, "examples")
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-m", "snakezmq", "keys", str(tmp_path / "keys"), "client"],
                   check=True, env=env, capture_output=True, timeout=60)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    # 8 s: a client that tried before the server was bound retries after 3 to 6 s (libzmq adds jitter)
    args = ["8", port, str(tmp_path / "keys")]
    server = subprocess.Popen([sys.executable, os.path.join(examples, "secure_server.py")] + args,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client_out = subprocess.run([sys.executable, os.path.join(examples, "secure_client.py")] + args,
                                    env=env, capture_output=True, text=True, timeout=60)
        server_out, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=10)
    assert "client received" in client_out.stderr and "from: server" in client_out.stderr
    assert "server received" in server_out and "from: client" in server_out
    assert "ERROR" not in client_out.stderr + server_out
