"""How long ago data last arrived on a TCP connection, from Linux's ``TCP_INFO``.

Liveness (``_core.liveness``) counts bytes arriving as a sign of life, like snakemq
1.6 counts every ``recv()``: a message that takes longer than ``DEAD_AFTER`` to
arrive is not silence. libzmq does not say when bytes arrive, only when a
message is complete, so the kernel is asked, on the monitor's duplicate of
libzmq's descriptor (``monitor.ConnectionMonitor``).

``struct tcp_info`` (linux/tcp.h, Linux ABI since 2.6) starts with eight ``__u8``
fields, then ``__u32`` ``rto, ato, snd_mss, rcv_mss, unacked, sacked, lost,
retrans, fackets, last_data_sent, last_ack_sent, last_data_recv``: so
``tcpi_last_data_recv`` is at byte 8 + 11 * 4 = 52, in milliseconds (kernel
jiffies), native byte order. The kernel sets it when in-order data is queued
(and when the connection is established): bare ACKs, window probes and
retransmitted bytes it already had do not count, so a partition makes it grow.
"""
from __future__ import annotations

import socket
import struct
import sys
from typing import Optional

LAST_DATA_RECV_OFFSET = 52
_U32 = struct.Struct("=I")
INFO_SIZE = 104  #: bytes asked for (the kernel returns at most its struct's size)
_TCP_INFO: Optional[int] = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None


def supported() -> bool:
    """Whether this platform reports ``tcpi_last_data_recv`` (Linux)."""
    return _TCP_INFO is not None


def data_age(sock: socket.socket) -> Optional[float]:
    """Seconds since data last arrived on TCP connection ``sock``; None when unknown (not
    Linux, not TCP, closed)."""
    if _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, INFO_SIZE)
    except OSError:
        return None
    if len(info) < LAST_DATA_RECV_OFFSET + _U32.size:
        return None
    return float(_U32.unpack_from(info, LAST_DATA_RECV_OFFSET)[0]) / 1000.0
