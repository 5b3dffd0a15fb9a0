"""ConnectorState: every (phase, input) pair, then the documented transitions one by one."""
import itertools

import pytest

from snakezmq._core import connector as c
from snakezmq._core.connector import Phase
from snakezmq.exceptions import ConnectionRefused, DuplicateIdent, SnakeMQException

ACTION_TYPES = (c.CreateSocket, c.DestroySocket, c.SendHello, c.SendPing, c.SendBye, c.OpenProbe,
                c.CloseProbe, c.Connected, c.Disconnected, c.Problem)


def new_state(reconnect_interval=0.5):
    nonces, conn_ids = itertools.count(1), itertools.count(1)
    return c.ConnectorState("tcp://127.0.0.1:9", reconnect_interval, lambda: "c%d" % next(conn_ids),
                            lambda: next(nonces).to_bytes(8, "big"))


SETUP = {  # inputs at t=0 that lead into each phase
    Phase.WAITING: [],
    Phase.CONNECTING: [lambda s: s.start(0)],
    Phase.HELLO_SENT: [lambda s: s.start(0), lambda s: s.transport_up(0)],
    Phase.PROBING: [lambda s: s.start(0), lambda s: s.transport_up(0), lambda s: s.tick(c.HELLO_TIMEOUT)],
    Phase.ESTABLISHED: [lambda s: s.start(0), lambda s: s.transport_up(0), lambda s: s.welcome(s.nonce, 0)],
}
INPUTS = {
    "transport_up": lambda s, t: s.transport_up(t),
    "transport_down": lambda s, t: s.transport_down(t),
    "welcome": lambda s, t: s.welcome(s.nonce, t),
    "welcome-wrong-nonce": lambda s, t: s.welcome(b"\xff" * 8, t),
    "heard": lambda s, t: s.heard(t) or [],
    "bye": lambda s, t: s.bye(t),
    "reset": lambda s, t: s.reset(t),
    "close": lambda s, t: s.close(t),
    "refused": lambda s, t: s.refused("version", "we speak 2", t),
    "probed-retry": lambda s, t: s.probed("retry", "", "alice", t),
    "probed-wait": lambda s, t: s.probed("wait", "", "alice", t),
    "probed-duplicate": lambda s, t: s.probed("duplicate", "in use", "alice", t),
    "tick-early": lambda s, t: s.tick(t),
    "tick-2.5s": lambda s, t: s.tick(t + 2.5),
    "tick-10s": lambda s, t: s.tick(t + 10),
    "tick-100s": lambda s, t: s.tick(t + 100),
}


def in_phase(phase, reconnect_interval=0.5):
    state, probe_open = new_state(reconnect_interval), False
    for step in SETUP[phase]:
        probe_open = track_probe(probe_open, step(state))
    assert state.phase is phase
    return state, probe_open


def track_probe(probe_open, actions):
    for action in actions:
        probe_open = {c.OpenProbe: True, c.CloseProbe: False}.get(type(action), probe_open)
    return probe_open


PAIRS = [pytest.param(phase, name, id="%s-%s" % (phase.name, name))
         for phase, name in itertools.product(Phase, INPUTS)]


@pytest.mark.parametrize("phase, name", PAIRS)
def test_every_phase_and_input(phase, name):
    state, probe_open = in_phase(phase)
    actions = INPUTS[name](state, 0.25)
    assert isinstance(actions, list) and all(isinstance(a, ACTION_TYPES) for a in actions), actions
    for problem in (a for a in actions if isinstance(a, c.Problem)):
        assert problem.level in ("warning", "error") and problem.text
        assert problem.error is None or isinstance(problem.error, SnakeMQException)
    assert (state.conn_id is not None) == (state.liveness is not None) == (state.phase is Phase.ESTABLISHED)
    assert track_probe(probe_open, actions) == (state.phase is Phase.PROBING)
    assert isinstance(state.next_deadline(), float)


def test_start_creates_the_socket():
    state = new_state()
    assert state.start(3) == [c.CreateSocket()] and state.phase is Phase.CONNECTING


def test_handshake():
    state, _ = in_phase(Phase.CONNECTING)
    assert state.transport_up(1) == [c.SendHello((1).to_bytes(8, "big"))]
    assert state.phase is Phase.HELLO_SENT and state.next_deadline() == 1 + c.HELLO_TIMEOUT
    assert state.transport_up(1) == []  # only from CONNECTING
    assert state.welcome(b"\xff" * 8, 1.5) == [] and state.phase is Phase.HELLO_SENT
    assert state.welcome(state.nonce, 1.5) == [c.Connected("c1")] and state.phase is Phase.ESTABLISHED
    assert state.welcome(state.nonce, 1.6) == []  # a repeated WELCOME changes nothing


def test_hello_timeout_opens_a_probe_and_welcome_closes_it():
    state, _ = in_phase(Phase.HELLO_SENT)
    assert state.tick(c.HELLO_TIMEOUT - 0.01) == []
    assert state.tick(c.HELLO_TIMEOUT) == [c.OpenProbe(state.nonce)] and state.phase is Phase.PROBING
    assert state.welcome(state.nonce, 1.5) == [c.CloseProbe(), c.Connected("c1")]


def test_probed_retry_recreates_the_socket():
    state, _ = in_phase(Phase.PROBING)
    assert state.probed("retry", "", "alice", 2) == [c.CloseProbe(), c.DestroySocket(), c.CreateSocket()]
    assert state.phase is Phase.CONNECTING


def test_probed_wait_probes_again_later():
    state, _ = in_phase(Phase.PROBING)
    assert state.probed("wait", "", "alice", 2) == [c.CloseProbe()] and state.phase is Phase.HELLO_SENT
    assert state.tick(2 + c.PROBE_WAIT_RETRY - 0.01) == []
    assert state.tick(2 + c.PROBE_WAIT_RETRY) == [c.OpenProbe(state.nonce)]


def probe_again(state, now):
    """WAITING -> PROBING: the retry timer fires, the transport comes up, no WELCOME comes."""
    state.tick(now)
    state.transport_up(now)
    state.tick(now + c.HELLO_TIMEOUT)
    assert state.phase is Phase.PROBING
    return now + c.HELLO_TIMEOUT


@pytest.mark.parametrize("reconnect_interval, delays", [
    (0.5, [1, 2, 4, 8, 16, 30, 30]),
    (5, [5, 10, 20, 30, 30]),
])
def test_duplicate_ident_backs_off_up_to_30_s(reconnect_interval, delays):
    state, now = in_phase(Phase.PROBING, reconnect_interval)[0], 1.0
    for delay in delays:
        close, problem, *rest = state.probed("duplicate", "held by 10.0.0.2", "alice", now)
        assert close == c.CloseProbe() and rest == [c.DestroySocket()] and problem.level == "error"
        assert isinstance(problem.error, DuplicateIdent) and problem.error.ident == "alice"
        assert state.phase is Phase.WAITING and state.next_deadline() == now + delay
        now = probe_again(state, now + delay)
    state.welcome(state.nonce, now)  # a session resets the backoff
    state.close(now)
    now = probe_again(state, now + reconnect_interval)
    state.probed("duplicate", "", "alice", now)
    assert state.next_deadline() == now + max(reconnect_interval, 1)


def test_probe_timeout_warns_and_reconnects():
    state, _ = in_phase(Phase.PROBING)
    deadline = c.HELLO_TIMEOUT + c.PROBE_TIMEOUT
    assert state.tick(deadline - 0.01) == []
    close, problem, *rest = state.tick(deadline)
    assert close == c.CloseProbe() and rest == [c.DestroySocket(), c.CreateSocket()]
    assert problem.level == "warning" and problem.error is None and state.phase is Phase.CONNECTING


def test_unreachable_warning_after_grace_then_rate_limited():
    state = new_state()
    state.start(0)
    warnings = {t: state.tick(t) for t in (4.99, 5, 6, 30, 64.99, 65, 100, 125)}
    assert [t for t, actions in warnings.items() if actions] == [5, 65, 125]
    assert warnings[5][0].level == "warning" and "for 5 s" in warnings[5][0].text
    assert state.next_deadline() == 125 + c.UNREACHABLE_REPEAT


def test_liveness_ping_then_dead():
    state, _ = in_phase(Phase.ESTABLISHED)
    assert state.tick(1.9) == [] and state.tick(2) == [c.SendPing()] and state.tick(3) == []
    state.heard(4)
    assert state.tick(5.9) == [] and state.tick(6) == [c.SendPing()]
    disconnected, problem, *rest = state.tick(10)
    assert disconnected == c.Disconnected("c1") and problem.level == "warning"
    assert rest == [c.DestroySocket(), c.CreateSocket()] and state.phase is Phase.CONNECTING


@pytest.mark.parametrize("name, before", [("bye", []), ("close", [c.SendBye()])])
def test_bye_and_close_reconnect_after_reconnect_interval(name, before):
    state, _ = in_phase(Phase.ESTABLISHED, reconnect_interval=3)
    assert getattr(state, name)(1) == before + [c.Disconnected("c1"), c.DestroySocket()]
    assert state.phase is Phase.WAITING and state.next_deadline() == 4
    assert state.tick(3.99) == [] and state.tick(4) == [c.CreateSocket()]


def test_transport_down_ends_the_session_and_waits_for_libzmq():
    state, _ = in_phase(Phase.ESTABLISHED)
    assert state.transport_down(1) == [c.Disconnected("c1")] and state.phase is Phase.CONNECTING
    assert state.transport_up(2) == [c.SendHello((2).to_bytes(8, "big"))]


def test_refused_reports_and_backs_off():
    state, _ = in_phase(Phase.HELLO_SENT)
    problem, destroy = state.refused("version", "we speak 2", 1)
    assert isinstance(problem.error, ConnectionRefused) and problem.level == "error" and "version" in problem.text
    assert destroy == c.DestroySocket() and state.phase is Phase.WAITING and state.next_deadline() == 2


def test_reset_before_welcome_says_hello_again():
    state, _ = in_phase(Phase.HELLO_SENT)
    assert state.reset(0.5) == [c.SendHello((2).to_bytes(8, "big"))] and state.phase is Phase.HELLO_SENT


def test_reset_of_an_established_session_says_hello_again():
    state, _ = in_phase(Phase.ESTABLISHED)
    assert state.reset(1) == [c.Disconnected("c1"), c.SendHello((2).to_bytes(8, "big"))]
    assert state.phase is Phase.HELLO_SENT


def test_liveness_counts_tcp_data_from_the_listener():
    """Bytes of a message still in flight keep the session (PING every interval); once they stop,
    DEAD_AFTER later the connector reconnects, as without them."""
    state, _ = in_phase(Phase.ESTABLISHED)
    until = 9.0  # the listener's bytes arrive until then

    def data_age_at(t):
        return lambda: max(0.0, t - until)

    verdicts = {t: state.tick(t, data_age_at(t)) for t in (2, 4, 6, 8, 10, 12, 14.99)}
    assert all(verdicts[t] == [c.SendPing()] for t in (2, 4, 6, 8, 10)) and state.phase is Phase.ESTABLISHED
    assert verdicts[12] == verdicts[14.99] == []  # no bytes since the PING at 10: none again
    disconnected, problem, *rest = state.tick(until + 6, data_age_at(until + 6))
    assert disconnected == c.Disconnected("c1") and rest == [c.DestroySocket(), c.CreateSocket()]
