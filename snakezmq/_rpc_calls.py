"""Bookkeeping of RPC requests and replies (``snakezmq.rpc``): a client's call waiting for
its reply, a server's check of a decoded request, the traceback text a failed call sends."""
from __future__ import annotations

import threading
import traceback
from typing import Any, Dict, Optional


class PendingCall:
    """A regular call waiting for its reply. Guarded by the client's lock."""

    __slots__ = ("ident", "ready", "reply", "sent_on")

    def __init__(self, ident: str, lock: threading.Lock) -> None:
        self.ident = ident
        self.ready = threading.Condition(lock)
        self.reply: Optional[Dict[str, Any]] = None
        self.sent_on: Optional[int] = None  #: connection number the request last went out on


def request_problem(params: Any) -> str:
    """What is wrong with a decoded request ("" if nothing)."""
    if not isinstance(params, dict):
        return "not a dict"
    if params.get("command") not in ("call", "signal"):
        return "unknown command %r" % (params.get("command"),)
    if not (isinstance(params.get("object"), str) and isinstance(params.get("method"), str)):
        return "object and method must be str"
    if not (isinstance(params.get("args"), (list, tuple)) and isinstance(params.get("kwargs"), dict)
            and all(isinstance(key, str) for key in params["kwargs"])):
        return "args must be a list and kwargs a dict with str keys"
    if params["command"] == "call" and not isinstance(params.get("req_id"), bytes):
        return "a call needs a bytes req_id"
    return ""


def format_traceback(exc: BaseException) -> str:
    if exc.__traceback__ is None:
        return ""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
