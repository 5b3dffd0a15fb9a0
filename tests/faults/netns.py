"""Two Linux network namespaces joined by a veth pair, and faults on the link between them.

A reusable fixture for tests that need a real network between real processes:
``NetPair()`` creates namespaces ``a`` and ``b`` (test addresses ``10.213.0.1`` and
``10.213.0.2`` on a /30 that exists only inside them), ``prefix(side)`` is the command
line that runs a process in one of them, and the link can be broken:

- ``partition()`` / ``heal()``: drop every packet, both ways;
- ``loss(fraction, into=...)``: drop a random fraction of the packets arriving at one
  side (or both), with a classic-BPF filter on ``SKF_AD_RANDOM``;
- ``limit_rate(kbit)``: a ``tbf`` qdisc on both ends (a slow link);
- ``link_down(side)`` / ``link_up(side)``: the interface goes down (routes vanish,
  sends fail at once) and comes back.

Drops happen on ingress (a ``clsact`` qdisc with a direct-action BPF filter), so the
sending TCP sees only silence, as on a real network. This works on kernels without
``netem`` (used nowhere here, so every kernel runs the same code path).

Names carry the test process's pid and a random part, so parallel runs never collide.
``close()`` always removes both namespaces, which removes the veth pair and every qdisc
with them; ``remove_stale()`` removes what a killed run left behind. Every command has a
timeout. Needs root, iproute2 (``ip``, ``tc``) and veth, clsact and cls_bpf in the kernel;
``unavailable()`` says why not.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

SIDES = ("a", "b")
ADDRESSES = {"a": "10.213.0.1", "b": "10.213.0.2"}  #: only ever inside our own namespaces
PREFIX_LEN = 30
DEV = {"a": "veth-a", "b": "veth-b"}  #: names inside the namespaces, so they cannot collide
NAME_PREFIX = "szfault-"
COMMAND_TIMEOUT = 10.0
SKF_AD_RANDOM = 0xFFFFF000 + 56  #: SKF_AD_OFF + SKF_AD_RANDOM: a 32-bit random number
TC_ACT_OK, TC_ACT_SHOT = 0, 2
DROP_ALL = "1,6 0 0 %d" % TC_ACT_SHOT


class NetnsError(RuntimeError):
    """An ``ip`` or ``tc`` command failed (the message has its command line and stderr)."""


def run(args: Sequence[str], timeout: float = COMMAND_TIMEOUT, check: bool = True) -> str:
    """Run ``args``, return stdout; NetnsError on failure or timeout (the child is killed)."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError("%s: %s" % (" ".join(args), exc)) from exc
    if check and done.returncode != 0:
        raise NetnsError("%s: exit %d: %s" % (" ".join(args), done.returncode, done.stderr.strip()))
    return done.stdout


def drop_fraction_bytecode(fraction: float) -> str:
    """Classic BPF for cls_bpf (direct action): drop a packet with probability ``fraction``.

    ``ld rand; jge #threshold -> pass; else drop`` (``rand`` is uniform over 32 bits).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be within [0, 1], not %r" % fraction)
    threshold = min(int(fraction * 2 ** 32), 2 ** 32 - 1)
    program = ["32 0 0 %d" % SKF_AD_RANDOM,  # BPF_LD|BPF_W|BPF_ABS
               "53 0 1 %d" % threshold,  # BPF_JMP|BPF_JGE|BPF_K
               "6 0 0 %d" % TC_ACT_OK, "6 0 0 %d" % TC_ACT_SHOT]  # BPF_RET|BPF_K
    return "%d,%s" % (len(program), ",".join(program))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_inside(ns: str) -> None:
    """SIGKILL whatever still runs in our namespace ``ns`` (a peer a test failed to stop)."""
    for pid in run(["ip", "netns", "pids", ns], check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _delete(ns: str) -> None:
    _kill_inside(ns)
    run(["ip", "netns", "del", ns], check=False)


def remove_stale() -> List[str]:
    """Remove namespaces a killed test run left behind (its pid is gone); returns their names."""
    pattern = re.compile(r"^%s(\d+)-[0-9a-f]+-[ab]$" % re.escape(NAME_PREFIX))
    removed = []
    for line in run(["ip", "netns", "list"], check=False).splitlines():
        name = line.split(" ", 1)[0]
        found = pattern.match(name)
        if found and not _pid_alive(int(found.group(1))):
            _delete(name)
            removed.append(name)
    return removed


class NetPair:
    """Namespaces ``a`` and ``b`` joined by a veth pair; faults on the link between them."""

    def __init__(self) -> None:
        tag = "%s%d-%s" % (NAME_PREFIX, os.getpid(), secrets.token_hex(3))
        self.ns: Dict[str, str] = {side: "%s-%s" % (tag, side) for side in SIDES}
        self._created: List[str] = []
        self._filters: Dict[str, str] = {}  #: side: the ingress filter now installed
        self._tbf = False
        try:
            self._create()
        except BaseException:
            self.close()
            raise

    def _create(self) -> None:
        for side in SIDES:
            run(["ip", "netns", "add", self.ns[side]])
            self._created.append(self.ns[side])
        run(["ip", "link", "add", DEV["a"], "netns", self.ns["a"], "type", "veth",
             "peer", "name", DEV["b"], "netns", self.ns["b"]])
        for side in SIDES:
            self.ip(side, "addr", "add", "%s/%d" % (ADDRESSES[side], PREFIX_LEN), "dev", DEV[side])
            self.ip(side, "link", "set", "lo", "up")
            self.ip(side, "link", "set", DEV[side], "up")
            self.tc(side, "qdisc", "add", "dev", DEV[side], "clsact")

    # -- commands inside one namespace --------------------------------------------------

    def ip(self, side: str, *args: str) -> str:
        return run(["ip", "-n", self.ns[side], *args])

    def tc(self, side: str, *args: str) -> str:
        return run(["tc", "-n", self.ns[side], *args])

    def prefix(self, side: str) -> List[str]:
        """Prepend to a command line to run it in ``side``'s namespace (same pid: ip execs)."""
        return ["ip", "netns", "exec", self.ns[side]]

    # -- faults --------------------------------------------------------------------------

    def _ingress(self, side: str, bytecode: Optional[str]) -> None:
        """Install (or with None remove) the drop filter on packets arriving at ``side``."""
        if self._filters.pop(side, None) is not None:
            self.tc(side, "filter", "del", "dev", DEV[side], "ingress")
        if bytecode is not None:
            self.tc(side, "filter", "add", "dev", DEV[side], "ingress", "bpf", "da",
                    "bytecode", bytecode)
            self._filters[side] = bytecode

    def partition(self) -> None:
        """Drop every packet both ways (silently: nothing tells the senders)."""
        for side in SIDES:
            self._ingress(side, DROP_ALL)

    def loss(self, fraction: float, into: Sequence[str] = SIDES) -> None:
        """Drop ``fraction`` of the packets arriving at each side in ``into`` (others: none)."""
        for side in SIDES:
            self._ingress(side, drop_fraction_bytecode(fraction) if side in into else None)

    def heal(self) -> None:
        """No more drops (a rate limit stays until ``unlimit_rate``)."""
        for side in SIDES:
            self._ingress(side, None)

    def limit_rate(self, kbit: int, burst_bytes: int = 16384, latency_ms: int = 200) -> None:
        """A token-bucket rate limit on what each side sends."""
        for side in SIDES:
            self.tc(side, "qdisc", "add", "dev", DEV[side], "root", "tbf", "rate", "%dkbit" % kbit,
                    "burst", str(burst_bytes), "latency", "%dms" % latency_ms)
        self._tbf = True

    def unlimit_rate(self) -> None:
        if self._tbf:
            for side in SIDES:
                self.tc(side, "qdisc", "del", "dev", DEV[side], "root")
            self._tbf = False

    def link_down(self, side: str) -> None:
        self.ip(side, "link", "set", DEV[side], "down")

    def link_up(self, side: str) -> None:
        self.ip(side, "link", "set", DEV[side], "up")

    def close(self) -> None:
        """Remove both namespaces (idempotent); whatever still runs inside is killed."""
        while self._created:
            _delete(self._created.pop())

    def __enter__(self) -> "NetPair":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_reason: Optional[str] = None
_checked = False


def unavailable() -> Optional[str]:
    """Why namespaces with veth and tc faults cannot be used here (None: they can). Cached."""
    global _reason, _checked
    if not _checked:
        _reason, _checked = _probe(), True
    return _reason


def _probe() -> Optional[str]:
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux (this is %s)" % sys.platform
    if os.geteuid() != 0:
        return "creating network namespaces needs root (running as uid %d)" % os.geteuid()
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return "iproute2 is missing (%s not found)" % ", ".join(missing)
    remove_stale()
    try:
        with NetPair() as pair:
            pair.loss(0.5)
            pair.heal()
    except NetnsError as exc:
        return "cannot build a veth pair with tc faults: %s" % exc
    return None
