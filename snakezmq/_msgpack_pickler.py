"""The safe serializer for snakezmq.rpc: plain data over msgpack, exceptions from an allowlist.

Public as ``snakezmq.rpc.MsgpackPickler`` / ``snakezmq.rpc.msgpack_pickler``.
snakezmq.rpc imports this module and then registers its own exception classes
(``register_exceptions``), so this module never imports snakezmq.rpc.
"""
from __future__ import annotations

import pickle
from typing import Any, Dict, Iterable, List, Type

import msgpack

PUBLIC_MODULE = "snakezmq.rpc"  #: where users (and wire type names) find these classes


def type_name(cls: type) -> str:
    """``module.QualName`` (just ``QualName`` for builtins): how an exception class travels."""
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def safe_str(obj: object) -> str:
    """``str(obj)``, or a placeholder if its ``__str__`` raises."""
    try:
        return str(obj)
    except Exception:  # a user __str__ that raises must not stop the reply
        return "<unprintable %s>" % type(obj).__name__


class MsgpackPickleError(pickle.PickleError):
    """Data that MsgpackPickler cannot encode, or bytes it cannot decode."""


MsgpackPickleError.__module__ = PUBLIC_MODULE  # its wire name stays snakezmq.rpc.MsgpackPickleError

_EXCEPTION_EXT = 1  #: msgpack ext type code: [type name, [args...]]
_SAFE_EXCEPTIONS: Dict[str, type] = {type_name(cls): cls for cls in (
    Exception, ArithmeticError, AssertionError, AttributeError, BufferError, EOFError,
    FloatingPointError, IndexError, KeyError, LookupError, MemoryError, NameError,
    NotImplementedError, OSError, OverflowError, RecursionError, RuntimeError, TypeError,
    ValueError, ZeroDivisionError, ConnectionError, ConnectionRefusedError,
    ConnectionResetError, ConnectionAbortedError, BrokenPipeError, FileExistsError,
    FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, TimeoutError,
    MsgpackPickleError)}
#: ``cls(type_name, message)``: what an exception outside the allowlist becomes (snakezmq.rpc
#: registers its RemoteError)
_remote_error: Type[BaseException] = RuntimeError


def register_exceptions(classes: Iterable[Type[BaseException]],
                        remote_error: Type[BaseException]) -> None:
    """Add ``classes`` to the allowlist; others become ``remote_error(type_name, message)``."""
    global _remote_error
    _SAFE_EXCEPTIONS.update((type_name(cls), cls) for cls in classes)
    _SAFE_EXCEPTIONS[type_name(remote_error)] = remote_error
    _remote_error = remote_error


class MsgpackPickler:
    """A pickler for RpcServer/RpcClient that carries plain data only and never runs peer code.

    Carries None, bool, int (64-bit), float, str, bytes, list, tuple (arrives
    as list) and dict. Exceptions travel as (type name, args): the built-in
    and snakezmq.rpc classes in a fixed allowlist are re-created by name;
    any other becomes :class:`snakezmq.rpc.RemoteError` with the remote type
    name and message. ``dumps`` refuses everything else with ``PickleError``.

    Use the same pickler on both sides: ``RpcServer(hook, pickler=MsgpackPickler())``.
    """

    PickleError = MsgpackPickleError

    @staticmethod
    def dumps(obj: Any) -> bytes:
        try:
            data: bytes = msgpack.packb(obj, default=_encode_exception, use_bin_type=True)
        except Exception as exc:  # msgpack raises TypeError, ValueError, OverflowError, ...
            raise MsgpackPickleError("cannot encode %s: %s" % (type(obj).__name__, exc)) from exc
        try:
            MsgpackPickler.loads(data)  # refuse what the peer could not decode
        except MsgpackPickleError as exc:
            raise MsgpackPickleError("cannot encode %s: the peer could not decode it (%s); dict "
                                     "keys must be str, bytes, int, float, bool or None"
                                     % (type(obj).__name__, exc.__cause__ or exc)) from exc
        return data

    @staticmethod
    def loads(data: bytes) -> Any:
        try:
            return msgpack.unpackb(data, ext_hook=_decode_ext, raw=False, strict_map_key=False)
        except MsgpackPickleError:
            raise
        except Exception as exc:  # msgpack's own docs: unpackb may raise any exception
            raise MsgpackPickleError("cannot decode %d bytes: %s" % (len(data), exc)) from exc


MsgpackPickler.__module__ = PUBLIC_MODULE

msgpack_pickler = MsgpackPickler()


def _encode_exception(obj: Any) -> msgpack.ExtType:
    if isinstance(obj, int):
        raise OverflowError("integers must fit in 64 bits: %d" % obj)
    if not isinstance(obj, BaseException):
        raise TypeError("only plain data and exceptions can be sent, not %s" % type_name(type(obj)))
    name = type_name(type(obj))
    args: List[Any] = list(obj.args)
    if _SAFE_EXCEPTIONS.get(name) is not type(obj):
        name, args = type_name(_remote_error), [name, safe_str(obj)]
    try:
        payload = msgpack.packb([name, args], default=_encode_exception, use_bin_type=True)
    except Exception:  # args that are not plain data: keep the message only
        payload = msgpack.packb([name, [safe_str(obj)]], use_bin_type=True)
    return msgpack.ExtType(_EXCEPTION_EXT, payload)


def _decode_ext(code: int, payload: bytes) -> BaseException:
    if code != _EXCEPTION_EXT:
        raise MsgpackPickleError("unknown msgpack extension type %d" % code)
    item = msgpack.unpackb(payload, ext_hook=_decode_ext, raw=False, strict_map_key=False)
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
            and isinstance(item[1], list)):
        raise MsgpackPickleError("malformed exception record")
    name, args = item
    cls = _SAFE_EXCEPTIONS.get(name)
    if cls is None:
        return _remote_error(name, " ".join(safe_str(arg) for arg in args))
    try:
        exc: BaseException = cls(*args)
    except Exception:  # arguments this class does not accept
        return _remote_error(name, safe_str(args))
    return exc
