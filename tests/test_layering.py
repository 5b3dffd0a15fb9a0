"""The import rules of ARCHITECTURE.md section 3, checked on the source with ast."""
import ast
import pathlib
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "snakezmq"
LEAVES = {"exceptions", "message", "callbacks"}

#: Who may import what of snakezmq, by module ("_core" stands for every module under
#: snakezmq/_core/, ...). A module missing here fails: the table is the whole import graph.
ALLOWED = {
    "__init__": set(), "exceptions": set(), "message": set(), "callbacks": set(),
    "_msgpack_pickler": set(),
    "version": {"__init__", "_core"},
    "_stack": {"callbacks"},
    "_core": LEAVES | {"_core"},
    "_transport": LEAVES | {"_core", "_transport"},
    "security": LEAVES | {"_transport"},
    "link": LEAVES | {"_core", "_transport", "_stack", "security"},
    "packeter": LEAVES | {"_stack"},
    "throttle": LEAVES | {"_stack", "link", "packeter"},
    "queues": LEAVES | {"_core", "storage"},
    "messaging": LEAVES | {"_core", "_stack", "packeter", "queues", "storage"},
    "rpc": LEAVES | {"messaging", "_msgpack_pickler", "_rpc_calls", "_rpc_workers"},
    "_rpc_calls": set(), "_rpc_workers": set(),  # rpc's internals
    "storage": {"exceptions", "message", "storage"},
    # above the public API: they use it, nothing private of the layers
    "asyncio": LEAVES | {"asyncio", "rpc", "_rpc_calls"},
    "_cli": LEAVES | {"__init__", "_cli", "link", "packeter", "messaging", "security", "storage", "version"},
    "__main__": {"_cli"},
    # work queues and pub/sub: drivers of their own _core state machines over a Messaging
    # (its public API, plus link.stack's deadline source)
    "_driver": LEAVES | {"_core"},
    "workqueue": LEAVES | {"_core", "_driver"},
    "pubsub": LEAVES | {"_core", "_driver"},
}
#: Third-party packages, and the only modules that may import each ("_transport": all of it).
THIRD_PARTY = {"zmq": {"_transport"}, "msgpack": {"_core/wire.py", "_msgpack_pickler.py"},
               "sqlalchemy": {"storage/sqla.py"}}
#: The pure core does no I/O, starts no thread, logs nothing and reads no clock.
NOT_IN_CORE = {"zmq", "socket", "threading", "time", "datetime", "logging", "select", "selectors",
               "asyncio", "sqlite3", "subprocess"}
CLOCK_READS = {"monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time_ns",
               "clock_gettime", "utcnow"}


def imported_names(path):
    """Absolute dotted names imported by ``path`` (``from a import b`` gives ``a.b``)."""
    package = ["snakezmq", *path.relative_to(PACKAGE).parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield from (module + "." + alias.name for alias in node.names)


def ring(path):
    """The ALLOWED key of a module: "_core", "_transport", "storage", or its own name."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def forbidden(path, name):
    top = name.split(".")
    where = str(path.relative_to(PACKAGE))
    if top[0] == "snakezmq":
        ours = top[1] if len(top) > 1 else "__init__"
        if not ((PACKAGE / ours).is_dir() or (PACKAGE / (ours + ".py")).exists()):
            ours = "__init__"  # a name defined in snakezmq/__init__.py (__version__)
        return ours not in ALLOWED[ring(path)]
    if ring(path) == "_core" and top[0] in NOT_IN_CORE:
        return True
    if top[0] in THIRD_PARTY:
        return not ({ring(path), where} & THIRD_PARTY[top[0]])
    stdlib = getattr(sys, "stdlib_module_names", None)  # Python 3.10+
    return stdlib is not None and top[0] not in stdlib and top[0] != "__future__"


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layering(path):
    assert ring(path) in ALLOWED, "add %s to the import table (ALLOWED)" % path.relative_to(PACKAGE)
    assert [name for name in imported_names(path) if forbidden(path, name)] == []


def test_only_the_transport_imports_zmq():
    importers = {str(path.relative_to(PACKAGE)) for path in MODULES
                 if any(name.split(".")[0] == "zmq" for name in imported_names(path))}
    assert importers and all(name.startswith("_transport/") for name in importers), importers


@pytest.mark.parametrize("path", sorted((PACKAGE / "_core").glob("*.py")), ids=lambda p: p.name)
def test_the_core_reads_no_clock(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    reads = [node.attr for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr in CLOCK_READS]
    reads += [node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id in CLOCK_READS]
    assert reads == []


def test_relative_imports_are_resolved():
    names = set(imported_names(PACKAGE / "_core" / "wire.py"))
    assert {"msgpack", "snakezmq.exceptions.WireError"} <= names
    assert forbidden(PACKAGE / "_core" / "wire.py", "snakezmq.link.Link")
    assert forbidden(PACKAGE / "_core" / "outbox.py", "time")
    assert forbidden(PACKAGE / "_core" / "outbox.py", "msgpack")
    assert forbidden(PACKAGE / "_transport" / "sockets.py", "snakezmq.messaging")
    assert forbidden(PACKAGE / "link.py", "zmq")
    assert forbidden(PACKAGE / "security.py", "zmq.auth")
    assert not forbidden(PACKAGE / "_transport" / "loop.py", "zmq")


# The layers above the Link reach each other through ``.stack`` (snakezmq/_stack.py) and the
# public API only. TODO(lead): add "messaging.py" once it uses .stack.
STACK_USERS = ["packeter.py", "throttle.py", "rpc.py", "messaging.py"]
LAYER_NAMES = {"link", "packeter", "messaging"}


def private_handoffs(path):
    """``getattr(x, "_name")`` calls and ``link._name`` / ``self.packeter._name`` accesses."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" \
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                and str(node.args[1].value).startswith("_"):
            yield "getattr(..., %r)" % node.args[1].value
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__") \
                and (getattr(node.value, "id", None) in LAYER_NAMES
                     or getattr(node.value, "attr", None) in LAYER_NAMES):
            yield ast.unparse(node)


@pytest.mark.parametrize("name", STACK_USERS)
def test_layers_hand_nothing_private_to_each_other(name):
    assert list(private_handoffs(PACKAGE / name)) == []


def test_private_handoffs_are_found(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("getattr(link, '_x')\nself.packeter._y\nlink._z\nself._own\nlink.stack\n")
    assert list(private_handoffs(module)) == ["getattr(..., '_x')", "self.packeter._y", "link._z"]


def test_a_throttle_passes_on_no_private_name_of_its_link():
    from snakezmq.link import Link
    from snakezmq.throttle import Throttle

    link = Link()
    try:
        throttle = Throttle(link, 1000)
        assert throttle.wakeup_poll == link.wakeup_poll  # the public API is the Link's
        with pytest.raises(AttributeError):
            throttle._owner_by_conn
    finally:
        link.cleanup()
