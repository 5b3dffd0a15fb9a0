"""Frames sent without a copy stay alive while libzmq may read them."""
from __future__ import annotations

import os
import time

import pytest
import zmq

from snakezmq._transport.peer_io import COPY_THRESHOLD, ZeroCopyFrames, send_now

LARGE = b"z" * (COPY_THRESHOLD + 1)


def test_a_frame_is_released_once_libzmq_let_go_of_it():
    endpoint = "inproc://zero-copy-%s" % os.urandom(4).hex()
    sender = zmq.Context.instance().socket(zmq.PAIR)
    receiver = zmq.Context.instance().socket(zmq.PAIR)
    frames = ZeroCopyFrames()
    try:
        sender.bind(endpoint)
        receiver.connect(endpoint)
        assert send_now(sender, [LARGE], frames)
        assert receiver.recv() == LARGE
        assert frames.release(time.monotonic() + 10.0) == 0
    finally:
        sender.close(linger=0)
        receiver.close(linger=0)


@pytest.fixture
def lonely_dealer():
    """A DEALER connected to an endpoint nobody binds: libzmq queues what it sends."""
    sender = zmq.Context.instance().socket(zmq.DEALER)
    sender.connect("inproc://nobody-%s" % os.urandom(4).hex())
    yield sender
    sender.close(linger=0)


def test_a_frame_libzmq_still_holds_is_kept_when_the_wait_runs_out(lonely_dealer):
    frames = ZeroCopyFrames()
    assert send_now(lonely_dealer, [b"head", LARGE], frames)
    assert frames.release(time.monotonic()) == 1  # kept for the life of the process


def test_small_frames_are_copied(lonely_dealer):
    frames = ZeroCopyFrames()
    assert send_now(lonely_dealer, [b"s" * COPY_THRESHOLD], frames)
    assert frames.release(time.monotonic()) == 0
