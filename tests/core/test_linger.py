"""What a closing Link waits for: PONGs that prove the peer has the DATA (pure, no sockets)."""
from __future__ import annotations

import pytest

from snakezmq._core.linger import MAX_IDLE_LEDGERS, Farewell, PingLedger, RidLedgers
from snakezmq._core.wire import LinkKind


def run(steps: str) -> PingLedger:
    """``steps``: d = DATA sent, p = PING sent, o = PONG received."""
    ledger = PingLedger()
    actions = {"d": ledger.data_sent, "p": ledger.ping_sent, "o": ledger.pong_received}
    for step in steps:
        actions[step]()
    return ledger


@pytest.mark.parametrize("steps, confirmed", [
    ("", True),  # nothing sent, nothing to confirm
    ("d", False),
    ("dpo", True),
    ("pdo", False),  # that PONG answers the PING before the DATA
    ("pdpo", False),  # the first PONG still answers the first PING
    ("pdpoo", True),
    ("ppdpoo", False),  # two PINGs before the DATA: two PONGs prove nothing
    ("dppo", True),  # the first PONG answers the first PING after the DATA
    ("pood", False),  # an unasked-for PONG is not counted, so it cannot confirm later DATA
    ("dpodpo", True),
    ("dpodp", False),
], ids=repr)
def test_data_is_confirmed_only_by_a_pong_to_a_ping_sent_after_it(steps, confirmed):
    assert run(steps).confirmed is confirmed


def test_a_lost_pong_only_delays_the_confirmation():
    ledger = run("dpp")  # the first PING's PONG was lost; the second PING's PONG comes
    ledger.pong_received()
    assert ledger.confirmed
    assert run("pdp").owed == 2


@pytest.mark.parametrize("steps, due", [("", False), ("d", True), ("dp", False), ("dpd", True),
                                        ("dpo", False)])
def test_a_ping_is_due_when_none_followed_the_last_data(steps, due):
    assert run(steps).ping_due is due


def test_a_routing_ids_ledger_outlives_its_session_while_pongs_are_owed():
    ledgers = RidLedgers()
    ledgers[b"a"].data_sent()
    ledgers.ping_sent(b"a", in_session=True)
    ledgers.session_ended(b"a", pipe_gone=False)
    ledgers.session_started(b"a")  # RESET, then HELLO again on the same pipe
    ledgers[b"a"].data_sent()
    ledgers.pong_received(b"a")  # the answer to the old session's PING
    assert not ledgers.confirmed(b"a")
    ledgers.ping_sent(b"a", in_session=True)
    ledgers.pong_received(b"a")
    assert ledgers.confirmed(b"a")


def test_a_routing_ids_ledger_is_forgotten_when_nothing_is_owed_or_the_pipe_is_gone():
    ledgers = RidLedgers()
    ledgers.ping_sent(b"idle", in_session=False)  # a reachability PING
    ledgers.ping_sent(b"gone", in_session=True)
    ledgers.pong_received(b"idle")
    ledgers.session_ended(b"gone", pipe_gone=True)
    ledgers[b"quiet"].data_sent()
    ledgers.session_ended(b"quiet", pipe_gone=False)  # no PING owed
    assert ledgers._by_rid == {}


def test_idle_ledgers_are_capped():
    ledgers = RidLedgers()
    for number in range(MAX_IDLE_LEDGERS + 10):
        ledgers.ping_sent(b"%d" % number, in_session=False)
    assert len(ledgers._by_rid) == MAX_IDLE_LEDGERS
    assert b"0" not in ledgers._by_rid  # the oldest went first


@pytest.mark.parametrize("frames, answers, waiting", [
    ([LinkKind.PING], [LinkKind.PONG], True),
    ([LinkKind.DATA, LinkKind.PING], [None, LinkKind.BYE], True),
    ([LinkKind.BYE], [None], False),
    ([LinkKind.RESET, LinkKind.PING], [None, LinkKind.PONG], False),
    ([LinkKind.WELCOME], [None], True),
])
def test_a_lingering_link_answers_pings_unless_it_threw_data_away(frames, answers, waiting):
    peer = Farewell(waiting=True)
    assert [peer.frame(kind) for kind in frames] == answers
    assert peer.waiting is waiting
