#!/usr/bin/env python3
"""Memory per message queued for an absent peer (issue 3, "Bounded memory").

Each measurement runs in a fresh subprocess: it builds a snakezmq
Link/Packeter/Messaging (no peer ever connects), runs the loop once, reads
its RSS (the baseline), queues ``--count`` messages of ``--size`` bytes (each
with its own payload object, as an application's messages are) with
``send_message``, runs the loop once more, and reads the RSS again:

    bytes per message beyond the payload = (RSS after - RSS before) / count - size

Target: at most 400 B per message beyond a 100 B payload, for 1,000,000
messages. Measured for ``ttl=None`` (never expires) and for a finite ttl
(``--ttl``): a message that can expire also has an entry in the expiry heap.

``--profile`` adds a breakdown: ``sys.getsizeof`` of every object one queued
message keeps alive (rounded to pymalloc's 16-byte blocks, plus container
slots), and ``tracemalloc``'s allocation sites over a smaller run.

Usage:
  python benchmarks/memory_per_message.py                  # 1,000,000 x 100 B, ttl=None and ttl=3600
  python benchmarks/memory_per_message.py --count 200000 --profile
  python benchmarks/memory_per_message.py --json out.json
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 400
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def parse_ttl(text: str) -> Optional[float]:
    return None if text.lower() == "none" else float(text)


# -- the measuring child ----------------------------------------------------------------------

def child(count: int, size: int, ttl: Optional[float], trace: bool) -> Dict[str, Any]:
    sys.path.insert(0, ROOT)
    import snakezmq.link
    import snakezmq.messaging
    import snakezmq.packeter
    from snakezmq.message import Message

    link = snakezmq.link.Link()
    messaging = snakezmq.messaging.Messaging("sender", "", snakezmq.packeter.Packeter(link))
    link.loop(runtime=0.01)
    filler = b"." * size
    if trace:
        import tracemalloc

        tracemalloc.start()
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    for seq in range(count):
        # A distinct payload object per message (b"%010d" prefix + filler, cut to size).
        data = (b"%010d" % seq + filler)[:size]
        messaging.send_message("absent", Message(data, ttl=ttl))
    elapsed = time.perf_counter() - started
    link.loop(runtime=0.01)  # one loop pass: the outbox looks at its queues
    gc.collect()
    after = rss_bytes()
    queued = len(messaging.queues_manager.get_queue("absent"))
    result: Dict[str, Any] = {
        "count": count, "size": size, "ttl": ttl, "queued": queued,
        "rss_before": before, "rss_after": after,
        "per_message": (after - before) / count,
        "beyond_payload": (after - before) / count - size,
        "send_us": elapsed / count * 1e6,
    }
    if trace:
        import tracemalloc

        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        sites = []
        for stat in snapshot.statistics("lineno")[:12]:
            frame = stat.traceback[0]
            sites.append({"where": "%s:%d" % (os.path.relpath(frame.filename, ROOT), frame.lineno),
                          "bytes_per_message": stat.size / count, "blocks": stat.count})
        result["tracemalloc"] = sites
    link.cleanup()
    return result


# -- object sizes -----------------------------------------------------------------------------

def _block(n: int) -> int:
    """pymalloc rounds small objects up to 16 bytes (64-bit CPython >= 3.8)."""
    return n if n > 512 else (n + 15) // 16 * 16


def breakdown(size: int, ttl: Optional[float]) -> List[Dict[str, Any]]:
    """What one queued message keeps alive, object by object (estimated from getsizeof)."""
    sys.path.insert(0, ROOT)
    from snakezmq._core.outbox import Entry
    from snakezmq.message import Message

    message = Message(b"x" * size, ttl=ttl)
    entry = Entry(message, message.ttl, time.monotonic())
    rows = [
        ("Message (4 slots, GC header)", sys.getsizeof(message)),
        ("payload bytes object: header beyond the %d B" % size, sys.getsizeof(message.data) - size),
        ("payload rounding to 16 B", _block(sys.getsizeof(message.data)) - sys.getsizeof(message.data)),
        ("uuid bytes (16 B)", sys.getsizeof(message.uuid)),
        ("Entry (4 slots, GC header)", sys.getsizeof(entry)),
        ("Entry.charged_at float", sys.getsizeof(entry.charged_at)),
        ("deque slot (PeerQueue.pending)", 8),
    ]
    if ttl is not None:
        # Message.ttl: float(ttl) returns the caller's float object itself (shared by all
        # messages and by Entry.ttl); a caller passing an int pays one float per message.
        rows += [
            ("expiry heap tuple (deadline, tiebreak, entry)", sys.getsizeof((1.0, 1, entry))),
            ("heap deadline float", sys.getsizeof(1.5)),
            ("heap tiebreak int (itertools.count)", sys.getsizeof(10 ** 6)),
            ("heap list slot", 8),
        ]
    out = []
    for what, nbytes in rows:
        rounded = nbytes if what.startswith(("deque", "heap list", "payload")) else _block(nbytes)
        out.append({"what": what, "getsizeof": nbytes, "allocated": rounded})
    return out


# -- the driver -------------------------------------------------------------------------------

def run_child(count: int, size: int, ttl: Optional[float], trace: bool, timeout: float) -> Dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--count", str(count),
           "--size", str(size), "--ttl", "none" if ttl is None else repr(ttl)]
    if trace:
        cmd.append("--trace")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise SystemExit("measurement timed out after %.0f s" % timeout)
    if proc.returncode != 0:
        raise SystemExit("measurement failed (%s):\n%s" % (proc.returncode, err))
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--ttl", default=None, help="one ttl to measure ('none' or seconds); "
                        "default: both none and 3600")
    parser.add_argument("--profile", action="store_true", help="object sizes and tracemalloc sites")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.count, args.size, parse_ttl(args.ttl or "none"), args.trace)))
        return 0

    ttls = [parse_ttl(args.ttl)] if args.ttl is not None else [None, 3600.0]
    print("snakezmq memory per queued message: %d x %d B for an absent peer, one fresh process each"
          % (args.count, args.size))
    results = []
    for ttl in ttls:
        result = run_child(args.count, args.size, ttl, False, args.timeout)
        assert result["queued"] == args.count, result
        results.append(result)
        verdict = "OK" if result["beyond_payload"] <= TARGET else "ABOVE TARGET"
        print("  ttl=%-6s RSS %6.1f -> %6.1f MiB: %5.0f B per message, %5.0f B beyond the payload "
              "(target <= %d: %s); send_message %.1f us"
              % (ttl, result["rss_before"] / 2 ** 20, result["rss_after"] / 2 ** 20,
                 result["per_message"], result["beyond_payload"], TARGET, verdict, result["send_us"]))
    if args.profile:
        for ttl in ttls:
            rows = breakdown(args.size, ttl)
            print("\nEstimated from sys.getsizeof, ttl=%s (pymalloc 16 B blocks):" % ttl)
            for row in rows:
                print("  %-52s %4d B (getsizeof %d)" % (row["what"], row["allocated"], row["getsizeof"]))
            total = sum(row["allocated"] for row in rows)
            print("  %-52s %4d B beyond the payload" % ("total", total))
            traced = run_child(min(args.count, 200000), args.size, ttl, True, args.timeout)
            print("tracemalloc, %d messages, ttl=%s: allocation sites, bytes per message"
                  % (traced["count"], ttl))
            for site in traced["tracemalloc"]:
                if site["bytes_per_message"] >= 1:
                    print("  %-40s %7.1f" % (site["where"], site["bytes_per_message"]))
            results.append({"ttl": ttl, "breakdown": rows, "tracemalloc": traced["tracemalloc"]})
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
