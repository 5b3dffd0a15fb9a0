"""ConnectorState: a listener cut off by libzmq while sending is reported; a hang-up is not."""
import itertools

import pytest

from snakezmq._core import connector as c
from snakezmq._core.drops import Hangup
from snakezmq.exceptions import DuplicateIdent, MessageSizeExceeded

HB = 4.0


def established(now=0.0):
    nonces, conn_ids = itertools.count(1), itertools.count(1)
    state = c.ConnectorState("tcp://127.0.0.1:9", 0.2, lambda: "c%d" % next(conn_ids),
                             lambda: next(nonces).to_bytes(8, "big"))
    state.start(now)
    state.transport_up(now)
    state.welcome(state.nonce, now)
    return state


def test_cut_while_sending_is_a_warning_and_on_error_before_the_disconnect():
    state = established()
    state.heard(10.0)
    actions = state.transport_down(10.5, Hangup.MID_MESSAGE, 10064, HB, "127.0.0.1:9")
    problem, disconnected = actions[:2]
    assert isinstance(problem, c.Problem) and problem.level == "warning" and problem.conn_id == "c1"
    assert isinstance(problem.error, MessageSizeExceeded) and problem.error.limit == 10064
    assert "c1" in problem.text and "max_packet_size" in problem.text
    assert disconnected == c.Disconnected("c1")
    assert state.phase is c.Phase.CONNECTING


@pytest.mark.parametrize("hangup,heard_at", [
    (Hangup.PEER, 10.0),  # the listener closed or died
    (None, 10.0),  # nothing known
    (Hangup.QUIET, 5.0),  # silent for 5.5 s: a heartbeat timeout
])
def test_other_drops_are_plain_disconnects(hangup, heard_at):
    state = established()
    state.heard(heard_at)
    actions = state.transport_down(10.5, hangup, 10064, HB, "127.0.0.1:9")
    assert actions == [c.Disconnected("c1")]


def test_no_report_without_a_session_or_a_heartbeat_timeout():
    state = established()
    assert state.transport_down(0.1, Hangup.MID_MESSAGE, 10064) == [c.Disconnected("c1")]
    assert state.transport_down(0.2, Hangup.MID_MESSAGE, 10064, HB) == []  # no session any more


def test_duplicate_ident_names_this_side():
    state = established()
    state.transport_down(1.0)
    state.transport_up(1.0)
    state.tick(1.0 + c.HELLO_TIMEOUT)
    assert state.phase is c.Phase.PROBING
    actions = state.probed("duplicate", "ident 'a' is in use by the peer at 10.0.0.1:5", "a", 2.5,
                           "10.0.0.2:6")
    problem = [a for a in actions if isinstance(a, c.Problem)][0]
    assert isinstance(problem.error, DuplicateIdent)
    assert "10.0.0.1:5" in problem.text and "this side is 10.0.0.2:6" in problem.text
