"""Why libzmq dropped a connection (_core.drops): cut while sending, or a peer that hung up."""
import pytest

from snakezmq._core import drops
from snakezmq._core.drops import Hangup, LoopStalls, PendingCuts, cut_report, cut_while_sending, host_of
from snakezmq.exceptions import MessageSizeExceeded, PacketTooLarge, WireError

HB = 4.0  # sockets.QUIET_CLOSE_AFTER (the former ZMTP heartbeat timeout)


@pytest.mark.parametrize("hangup,silent_for,cut", [
    (Hangup.MID_MESSAGE, 0.0, True),  # the rest of an oversized message was unread
    (Hangup.QUIET, 2.5, True),  # a small oversized message, all read; a live peer (pinged every 2 s)
    (Hangup.PEER, 0.0, False),  # the peer closed, or its process died
    (None, 0.0, False),  # nothing known about the connection
    (Hangup.QUIET, 4.0, False),  # a heartbeat timeout: the peer was silent
    (Hangup.MID_MESSAGE, 5.0, False),  # a timeout of a connection nobody read
])
def test_cut_while_sending(hangup, silent_for, cut):
    assert cut_while_sending(hangup, silent_for, HB) is cut


def test_cut_report_names_the_limit_and_what_to_do():
    text, error = cut_report("tcp://127.0.0.1:5000", "127.0.0.1:6000", "3zmq", 10064)
    assert isinstance(error, MessageSizeExceeded) and isinstance(error, PacketTooLarge)
    assert error.limit == 10064 and error.size is None and error.peer == "127.0.0.1:6000"
    for part in ("tcp://127.0.0.1:5000", "127.0.0.1:6000", "3zmq", "10064", "max_packet_size"):
        assert part in text


def test_cut_report_without_a_limit_is_broken_framing():
    text, error = cut_report("tcp://127.0.0.1:5000", "127.0.0.1:6000", None, -1)
    assert isinstance(error, WireError) and "framing" in text


@pytest.mark.parametrize("address,host", [
    ("1.2.3.4:5", "1.2.3.4"), ("[::1]:5", "::1"), ("1.2.3.4", "1.2.3.4"), ("::1", "::1"), ("", "")])
def test_host_of(address, host):
    assert host_of(address) == host


def test_pending_cut_matches_the_same_address_or_host():
    cuts = PendingCuts()
    cuts.add("127.0.0.1:6000", Hangup.MID_MESSAGE, 0.0)
    cuts.add("10.0.0.2:7000", Hangup.QUIET, 0.0)
    assert cuts.match("127.0.0.1:6001", 0.1) is None  # another connection from that host
    assert cuts.match("10.0.0.2", 0.1) is Hangup.QUIET  # a session that only knows its host
    assert cuts.match("127.0.0.1:6000", 0.2) is Hangup.MID_MESSAGE
    assert len(cuts) == 0
    assert cuts.match("127.0.0.1:6000", 0.3) is None  # each cut once


def test_pending_cuts_expire_and_are_bounded():
    cuts = PendingCuts()
    cuts.add("127.0.0.1:6000", Hangup.QUIET, 0.0)
    assert cuts.match("127.0.0.1:6000", drops.MATCH_WINDOW + 0.1) is None
    for port in range(drops.MAX_PENDING * 2):
        cuts.add("127.0.0.1:%d" % port, Hangup.QUIET, 1.0)
    assert len(cuts) == drops.MAX_PENDING
    assert cuts.match("127.0.0.1:%d" % (drops.MAX_PENDING * 2 - 1), 1.0) is Hangup.QUIET


def test_unknown_addresses_match_each_other():  # ipc://
    cuts = PendingCuts()
    cuts.add("", Hangup.QUIET, 0.0)
    assert cuts.match("127.0.0.1", 0.1) is None
    assert cuts.match("", 0.1) is Hangup.QUIET


def test_a_loop_that_keeps_reading_is_smooth():
    stalls = LoopStalls(0.0, HB)
    for step in range(1, 100):
        stalls.passed(step * 0.01, step * 0.01 + 0.001)
    assert stalls.smooth(1.0, 1.001)
    stalls.passed(1.0, 1.001)
    stalls.passed(3.5, 3.5)  # a poll that waited 2.5 s for something to read is not a stall
    assert stalls.smooth(3.6, 3.6)


@pytest.mark.parametrize("stall", ["long pass", "gap between passes", "this pass"])
def test_a_stall_makes_the_next_seconds_unsure(stall):
    stalls = LoopStalls(0.0, HB)
    stalls.passed(0.0, 0.01)
    if stall == "long pass":
        stalls.passed(0.02, 1.5)  # callbacks blocked the loop for 1.5 s
        at = 1.5
    elif stall == "gap between passes":
        stalls.passed(3.5, 3.51)  # the application did not run the loop for 3.5 s
        at = 3.51
    else:
        assert not stalls.smooth(0.02, 1.2)  # the current pass has been running 1.2 s
        at = 1.2
    now = at
    while now + 0.01 < at + HB + drops.STALL:
        assert not stalls.smooth(now, now + 0.001)
        stalls.passed(now, now + 0.001)
        now += 0.05
    assert stalls.smooth(now + 0.1, now + 0.101)
