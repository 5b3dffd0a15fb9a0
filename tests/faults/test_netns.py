"""The fault fixture itself: the BPF program, drops that really happen, nothing left behind."""
from __future__ import annotations

import subprocess
import sys

import pytest

from .netns import ADDRESSES, NetPair, drop_fraction_bytecode, run

COUNT_UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 1 << 23)  # SO_RCVBUFFORCE: hold the whole burst
s.bind((sys.argv[1], 9999))
print("ready", flush=True)
s.settimeout(1.0)
n = 0
try:
    while True:
        if s.recv(16) == b"end":
            break
        n += 1
except socket.timeout:
    pass
print(n, flush=True)
"""
SEND_UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(b"x", (sys.argv[1], 9999))
for _ in range(50):
    s.sendto(b"end", (sys.argv[1], 9999))
"""
DATAGRAMS = 2000


def test_drop_fraction_bytecode():
    assert drop_fraction_bytecode(0.25) == "4,32 0 0 4294963256,53 0 1 1073741824,6 0 0 0,6 0 0 2"
    assert drop_fraction_bytecode(1.0).split(",")[2] == "53 0 1 4294967295"
    with pytest.raises(ValueError):
        drop_fraction_bytecode(1.5)


def _udp_through(net: NetPair) -> int:
    """Datagrams from b that reached a (the receiver stops at the first "end" or 1 s of silence)."""
    receiver = subprocess.Popen([*net.prefix("a"), sys.executable, "-c", COUNT_UDP, ADDRESSES["a"]],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        subprocess.run([*net.prefix("b"), sys.executable, "-c", SEND_UDP, ADDRESSES["a"],
                        str(DATAGRAMS)], check=True, timeout=20)
        out, _ = receiver.communicate(timeout=20)
    finally:
        receiver.kill()
        receiver.wait(timeout=10)
    return int(out.split()[-1])


def test_faults_drop_what_they_say_and_close_removes_everything(net):
    assert _udp_through(net) == DATAGRAMS
    net.loss(0.3, into=["a"])
    assert 0.6 * DATAGRAMS < _udp_through(net) < 0.8 * DATAGRAMS
    net.loss(0.3, into=["b"])  # the other direction only
    assert _udp_through(net) == DATAGRAMS
    net.partition()
    assert _udp_through(net) == 0
    net.close()
    listed = run(["ip", "netns", "list"])
    assert not any(name in listed for name in net.ns.values()), listed
