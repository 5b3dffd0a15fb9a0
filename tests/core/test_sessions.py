"""SessionTable: HELLO starts, repeats or replaces a session; liveness verdicts per session."""
import itertools

from snakezmq._core.liveness import DEAD_AFTER, PING_INTERVAL
from snakezmq._core.sessions import HelloOutcome, SessionTable

N1, N2 = b"nonce--1", b"nonce--2"


def table():
    counter = itertools.count(1)
    return SessionTable(lambda: "c%d" % next(counter))


def test_hello_starts_a_session():
    sessions = table()
    assert sessions.hello(b"alice", N1, 0, "tcp://1.2.3.4:5", rid_is_ident=False) == HelloOutcome("c1", None)
    session = sessions.by_rid(b"alice")
    assert sessions.by_conn("c1") is session and list(sessions) == [session] and len(sessions) == 1
    assert (session.rid, session.nonce, session.peer_address, session.rid_is_ident) == (
        b"alice", N1, "tcp://1.2.3.4:5", False)


def test_repeated_hello_keeps_the_session_and_counts_as_life():
    sessions = table()
    sessions.hello(b"alice", N1, 0)
    assert sessions.hello(b"alice", N1, 5) == HelloOutcome(None, None)
    assert sessions.by_rid(b"alice").liveness.last_heard == 5 and len(sessions) == 1


def test_hello_with_new_nonce_replaces_the_session():
    sessions = table()
    sessions.hello(b"alice", N1, 0)
    assert sessions.hello(b"alice", N2, 1) == HelloOutcome("c2", "c1")
    assert sessions.by_conn("c1") is None and sessions.by_conn("c2").nonce == N2 and len(sessions) == 1


def test_end_and_conn_ids_never_reused():
    sessions = table()
    sessions.hello(b"alice", N1, 0)
    assert sessions.end(b"alice") == "c1"
    assert sessions.end(b"alice") is None and sessions.by_conn("c1") is None and len(sessions) == 0
    assert sessions.hello(b"alice", N1, 1).started == "c2"


def test_heard():
    sessions = table()
    assert sessions.heard(b"nobody", 1) is None
    sessions.hello(b"alice", N1, 0)
    assert sessions.heard(b"alice", 3) == "c1"
    assert sessions.by_rid(b"alice").liveness.last_heard == 3


def test_liveness_check():
    sessions = table()
    for rid in (b"a", b"b", b"c"):
        sessions.hello(rid, N1, 0)
    sessions.heard(b"b", 3)
    assert sessions.liveness_check(1) == ([], [])
    assert sessions.liveness_check(2.5) == ([b"a", b"c"], [])
    assert sessions.liveness_check(4) == ([], [])  # pinged once only
    sessions.heard(b"c", 5)
    assert sessions.liveness_check(6) == ([b"b"], [b"a"])
    sessions.end(b"a")
    assert sessions.liveness_check(9.5) == ([b"c"], [b"b"])


def test_liveness_scan_is_rate_limited_and_next_deadline_is_never_late():
    sessions = table()
    assert sessions.next_deadline() == float("inf")
    sessions.hello(b"a", N1, 0)
    assert sessions.next_deadline() == PING_INTERVAL
    assert sessions.liveness_check(PING_INTERVAL) == ([b"a"], [])
    assert sessions.next_deadline() == DEAD_AFTER  # waiting for the answer
    sessions.hello(b"b", N1, PING_INTERVAL + 0.01)  # a new session inside CHECK_EVERY
    assert sessions.liveness_check(PING_INTERVAL + 0.02) == ([], [])  # no scan yet
    sessions.heard(b"a", 3)  # the answer: a's next ping is due at 3 + PING_INTERVAL
    assert sessions.next_deadline() == min(3, PING_INTERVAL + 0.01) + PING_INTERVAL
    assert sessions.liveness_check(PING_INTERVAL * 2 + 0.01) == ([b"b"], [])
    assert sessions.liveness_check(3 + PING_INTERVAL) == ([b"a"], [])
    assert sessions.liveness_check(3 + DEAD_AFTER) == ([], [b"a", b"b"])


def test_liveness_check_asks_for_the_tcp_data_of_due_sessions_only():
    """A session whose peer's bytes keep arriving (a message longer in flight than DEAD_AFTER)
    is pinged every PING_INTERVAL and never ended; one whose bytes stopped ends as before."""
    sessions = table()
    sessions.hello(b"streaming", N1, 0)
    sessions.hello(b"stalled", N1, 0)
    sessions.hello(b"talking", N1, 0)
    asked = []

    def data_age(session):
        asked.append(session.rid)
        return 0.0 if session.rid == b"streaming" else None

    for t in (1, 1.5):
        sessions.heard(b"talking", t)
    assert sessions.liveness_check(PING_INTERVAL, data_age) == ([b"streaming", b"stalled"], [])
    assert asked == [b"streaming", b"stalled"]  # "talking" is not due: nothing read
    sessions.heard(b"talking", 3)
    assert sessions.liveness_check(2 * PING_INTERVAL, data_age) == ([b"streaming"], [])
    assert sessions.liveness_check(DEAD_AFTER, data_age) == ([b"streaming", b"talking"], [b"stalled"])
    sessions.end(b"stalled")
    assert sessions.liveness_check(100, data_age) == ([b"streaming"], [b"talking"])
