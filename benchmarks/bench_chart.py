"""bench.py's chart: snakezmq's ratios to snakemq 1.6 and to raw pyzmq, and the peer curve.

Needs matplotlib (``pip install -e ".[bench]"``); bench.py runs without it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

MET, NOT_MET, NO_TARGET = "#2e8b57", "#c0392b", "#7f8c8d"
PEER_COLOURS = {"snakemq": "#e67e22", "zmq": "#7f8c8d", "snakezmq": "#2980b9"}


def draw(summary: List[Dict[str, Any]], info: List[str], path: str) -> None:
    """Bars of the ratios (better is right of 1 for throughput, left of 1 for time and bytes,
    so each bar shows "times better": the ratio, or its inverse), then the peer curve."""
    ratio_rows = [e for e in summary if not e["row"].startswith("peers")]
    peer_rows = [e for e in summary if e["row"].startswith("peers")]
    fig, axes = plt.subplots(1, 3 if peer_rows else 2, figsize=(17 if peer_rows else 12, 6.5))
    for ax, other, title in ((axes[0], "snakemq", "snakezmq vs snakemq 1.6"),
                             (axes[1], "zmq", "snakezmq vs raw pyzmq")):
        _ratio_panel(ax, ratio_rows, other, title)
    if peer_rows:
        _peer_panel(axes[2], peer_rows)
    fig.suptitle("bench.py: %s" % "; ".join(info[:1] + info[2:3]), fontsize=9)
    fig.text(0.01, 0.01, "\n".join(info[1:2] + info[3:]), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _better(entry: Dict[str, Any], ratio: float) -> float:
    """How many times better snakezmq is (above 1: better)."""
    return ratio if entry["higher_is_better"] else 1.0 / ratio


def _ratio_panel(ax: Any, rows: List[Dict[str, Any]], other: str, title: str) -> None:
    labels: List[str] = []
    values: List[float] = []
    colours: List[str] = []
    targets: List[Optional[float]] = []
    floors: List[Optional[float]] = []
    for entry in rows:
        ratio = entry["vs_" + other]["ratio"]
        if ratio is None:
            continue
        target: Optional[Tuple[str, float]] = entry["vs_" + other]["target"]
        labels.append(entry["row"])
        values.append(_better(entry, ratio))
        targets.append(_better(entry, target[1]) if target else None)
        floor = (entry.get("floor_vs_snakemq") or {}).get("ratio") if other == "snakemq" else None
        floors.append(_better(entry, floor) if floor else None)
        verdict = entry["vs_" + other]["verdict"]
        colours.append(NO_TARGET if not target else NOT_MET if "NOT" in verdict else MET)
    positions = list(range(len(labels)))[::-1]
    ax.barh(positions, values, color=colours)
    for pos, value, mark in zip(positions, values, targets):
        ax.text(value, pos, " %.2f" % value, va="center", fontsize=8)
        if mark is not None:
            ax.plot([mark, mark], [pos - 0.4, pos + 0.4], color="black", linewidth=2)
    for pos, floor_mark in zip(positions, floors):
        if floor_mark is not None:  # raw pyzmq in snakemq's RPC thread shape (bench.py's zmq-loop)
            ax.plot([floor_mark, floor_mark], [pos - 0.45, pos + 0.45], color="#8e44ad",
                    linewidth=1.5, linestyle="--")
    ax.axvline(1.0, color="black", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: "%g" % value))
    ax.xaxis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.tick_params(axis="x", which="both", labelsize=7)
    ax.set_yticks(positions)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("times better (log; black tick: target; purple dashes: raw pyzmq in the API's "
                  "thread shape;\ngreen met, red not met, grey no target)", fontsize=7)


def _minor_label(value: float, _: Any) -> str:
    """Label the 2, 3 and 5 of each decade only (all nine crowd the axis)."""
    text = "%g" % value
    return text if text.strip("0.")[:1] in ("2", "3", "5") else ""


def _peer_panel(ax: Any, rows: List[Dict[str, Any]]) -> None:
    for what, style in (("cpu", "-o"), ("mem", "--s")):
        entries = [e for e in rows if e["row"].endswith(" " + what)]
        counts = [int(e["row"].split()[0].split("-")[1]) for e in entries]
        for backend, colour in PEER_COLOURS.items():
            points = [(n, e["medians"][backend]) for n, e in zip(counts, entries)
                      if e["medians"].get(backend) is not None]
            if not points:
                continue
            first = points[0][1] or 1.0
            ax.plot([n for n, _ in points], [v / first for _, v in points], style, color=colour,
                    label="%s %s" % (backend, "CPU/msg" if what == "cpu" else "memory/conn"))
    ax.set_xscale("log")
    ax.set_xlabel("connected peers", fontsize=8)
    ax.set_ylabel("relative to the fewest peers (flat: 1)", fontsize=8)
    ax.set_title("one listener, N peers", fontsize=10)
    ax.legend(fontsize=7)
