"""Callback: a list of functions called in order (snakemq's helper, unchanged)."""
from __future__ import annotations

from typing import Any, Callable, List


class Callback:
    """Call every added function with the same arguments, in the order added."""

    def __init__(self) -> None:
        self.callbacks: List[Callable[..., Any]] = []

    def add(self, func: Callable[..., Any]) -> None:
        self.callbacks.append(func)

    def remove(self, func: Callable[..., Any]) -> None:
        self.callbacks.remove(func)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        callbacks = self.callbacks
        if len(callbacks) == 1:  # the common case, without copying the list
            callbacks[0](*args, **kwargs)
            return
        for callback in list(callbacks):
            callback(*args, **kwargs)


def functions_of(callback: Any) -> List[Callable[..., Any]]:
    """The functions a call of ``callback`` runs now: a Callback's list, or a plain function
    that user code assigned over the attribute (legal in snakemq). Hot loops call these
    directly, skipping a call level per message."""
    if isinstance(callback, Callback):
        return list(callback.callbacks)
    return [callback]
