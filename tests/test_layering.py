"""The import rules of ARCHITECTURE.md section 3, checked on the source with ast."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "snakezmq"
LEAVES = {"exceptions", "message", "callbacks"}
NOT_IN_CORE = {"zmq", "socket", "threading", "time", "logging"}
ABOVE_TRANSPORT = {"link", "packeter", "messaging", "rpc"}


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


def forbidden(path, name):
    ring, top = path.relative_to(PACKAGE).parts, name.split(".")
    ours = top[1] if top[0] == "snakezmq" and len(top) > 1 else None
    if ring[0] == "_core":
        return (top[0] in NOT_IN_CORE or (top[0] == "msgpack" and path.name != "wire.py")
                or (top[0] == "snakezmq" and ours not in LEAVES | {"_core"}))
    if ring[0] == "_transport":
        return ours in ABOVE_TRANSPORT
    return path.stem in LEAVES and len(ring) == 1 and top[0] == "snakezmq"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layering(path):
    assert [name for name in imported_names(path) if forbidden(path, name)] == []


def test_relative_imports_are_resolved():
    names = set(imported_names(PACKAGE / "_core" / "wire.py"))
    assert {"msgpack", "snakezmq.exceptions.WireError"} <= names
    assert forbidden(PACKAGE / "_core" / "wire.py", "snakezmq.link.Link")
    assert forbidden(PACKAGE / "_transport" / "sockets.py", "snakezmq.messaging")


# The layers above the Link reach each other through ``.stack`` (snakezmq/_stack.py) and the
# public API only. TODO(lead): add "messaging.py" once it uses .stack.
STACK_USERS = ["packeter.py", "throttle.py", "rpc.py"]
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
