"""Messaging's keepalive (snakemq's keepalive_interval / keepalive_wait) through the protocol's
tick: a PING after the interval without a packet, the peer given up when the PING got no sign
of life within the wait; TCP data from the peer is a sign of life (``_core.liveness``)."""
from snakezmq._core import wire
from snakezmq._core.actions import Silent, Transmit
from snakezmq._core.protocol import MessagingProtocol

INTERVAL, WAIT = 1.0, 0.5


def protocol_with(*conn_ids):
    protocol = MessagingProtocol("me", b"incarnat")
    protocol.keepalive_interval, protocol.keepalive_wait = INTERVAL, WAIT
    for conn_id in conn_ids:
        protocol.link_connected(conn_id, None, 0.0)
    return protocol


def keepalive_actions(protocol, now, data_age=None):
    actions = protocol.tick(now, data_age) if data_age else protocol.tick(now)
    return [(type(a).__name__, a.conn_id) for a in actions
            if isinstance(a, Silent) or (isinstance(a, Transmit) and a.packet == wire.PING_PACKET)]


def test_a_peer_without_an_answer_is_given_up_as_before():
    protocol = protocol_with("c1")
    assert keepalive_actions(protocol, 0.9) == []
    assert keepalive_actions(protocol, 1.0) == [("Transmit", "c1")]
    assert keepalive_actions(protocol, 1.5) == []  # "longer than wait"
    assert keepalive_actions(protocol, 1.55) == [("Silent", "c1")]


def test_a_packet_answers():
    protocol = protocol_with("c1")
    keepalive_actions(protocol, 1.0)
    protocol.packet_received("c1", wire.PONG_PACKET, None, 1.2)
    assert keepalive_actions(protocol, 2.0) == [] and keepalive_actions(protocol, 2.2) == [("Transmit", "c1")]


def test_tcp_data_after_the_ping_answers_it_and_the_peer_is_pinged_every_interval():
    """A packet longer in flight than the keepalive: its bytes arrive until 5.2."""
    protocol = protocol_with("streaming", "stalled")
    now = [0.0]

    def data_age(conn_id):
        return max(0.0, now[0] - 5.2) if conn_id == "streaming" else 100.0

    seen = {}
    for step in range(1, 161):
        now[0] = step / 20
        actions = keepalive_actions(protocol, now[0], data_age)
        if actions:
            seen[now[0]] = actions
        for _, conn_id in [a for a in actions if a[0] == "Silent"]:
            protocol.link_disconnected(conn_id, now[0])  # (the driver closes it)
    assert seen[1.0] == [("Transmit", "streaming"), ("Transmit", "stalled")]
    assert seen[1.55] == [("Silent", "stalled")]
    assert [t for t, actions in seen.items() if ("Transmit", "streaming") in actions] == [1, 2, 3, 4, 5, 6]
    assert seen[6.55] == [("Silent", "streaming")]  # the PING at 6 saw no byte
