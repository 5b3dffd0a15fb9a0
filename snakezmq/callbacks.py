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
