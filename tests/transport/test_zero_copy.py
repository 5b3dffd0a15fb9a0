"""Frames sent without a copy stay alive while libzmq may read them."""
from __future__ import annotations

import os
import time

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


def test_a_frame_libzmq_still_holds_is_kept_when_the_wait_runs_out():
    """Queued for a peer that never comes: libzmq holds it until the socket closes."""
    sender = zmq.Context.instance().socket(zmq.DEALER)
    frames = ZeroCopyFrames()
    try:
        sender.connect("inproc://nobody-%s" % os.urandom(4).hex())
        assert send_now(sender, [b"head", LARGE], frames)
        assert frames.release(time.monotonic()) == 1  # kept for the life of the process
    finally:
        sender.close(linger=0)


def test_small_frames_are_copied():
    sender = zmq.Context.instance().socket(zmq.DEALER)
    frames = ZeroCopyFrames()
    try:
        sender.connect("inproc://nobody-%s" % os.urandom(4).hex())
        assert send_now(sender, [b"s" * COPY_THRESHOLD], frames)
        assert frames.release(time.monotonic()) == 0
    finally:
        sender.close(linger=0)
