"""ConnectorState: a WELCOME with another link version is refused, reported, and backed off."""
import itertools

import pytest

from snakezmq._core import connector as c
from snakezmq._core.connector import Phase
from snakezmq._core.wire import LINK_VERSION
from snakezmq.exceptions import SnakeMQIncompatibleProtocol


def hello_sent(reconnect_interval=0.2, probing=False):
    nonces, conn_ids = itertools.count(1), itertools.count(1)
    state = c.ConnectorState("tcp://127.0.0.1:9", reconnect_interval, lambda: "c%d" % next(conn_ids),
                             lambda: next(nonces).to_bytes(8, "big"))
    state.start(0)
    state.transport_up(0)
    if probing:
        state.tick(c.HELLO_TIMEOUT)
    return state


@pytest.mark.parametrize("probing", [False, True], ids=["hello sent", "probing"])
def test_welcome_of_another_version_is_refused(probing):
    state = hello_sent(probing=probing)
    actions = state.welcome(state.nonce, 2.0, LINK_VERSION + 98)
    assert not any(isinstance(a, c.Connected) for a in actions)
    problem = [a for a in actions if isinstance(a, c.Problem)][0]
    assert problem.level == "error"
    assert isinstance(problem.error, SnakeMQIncompatibleProtocol)
    assert "version %d" % (LINK_VERSION + 98) in problem.text and "tcp://127.0.0.1:9" in problem.text
    # BYE (the listener made a session for us), then no socket until the back-off is over
    kinds = [type(a) for a in actions]  # (actions without fields compare equal: compare types)
    assert kinds.index(c.SendBye) < kinds.index(c.DestroySocket)
    assert (c.CloseProbe in kinds) is probing
    assert state.phase is Phase.WAITING and state.conn_id is None
    assert state.retry_at >= 2.0 + 1.0


def test_refused_versions_back_off_and_do_not_spin():
    state = hello_sent()
    delays = []
    now = 0.0
    for _ in range(8):
        state.welcome(state.nonce, now, 99)
        delays.append(state.retry_at - now)
        now = state.retry_at
        assert [type(a) for a in state.tick(now)] == [c.CreateSocket]
        state.transport_up(now)
    assert delays == sorted(delays) and delays[0] >= 1.0 and delays[-1] == c.MAX_REFUSED_BACKOFF


def test_welcome_of_the_same_version_still_connects():
    state = hello_sent()
    assert state.welcome(state.nonce, 1.0, LINK_VERSION) == [c.Connected("c1")]
    assert state.phase is Phase.ESTABLISHED
