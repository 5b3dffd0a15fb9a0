"""Every public name of every snakemq 1.6 module exists in the same snakezmq module, compatibly.

The names come from snakemq's source (``ast``), so modules that cannot be
imported here (``storage.mongodb`` needs pymongo) are walked too:

- module level: functions, classes, constants, and names re-exported from
  another snakemq module (``from snakemq.exceptions import SendNotFinished``
  in ``snakemq.link``); names from the standard library are not snakemq's API;
- each public class: its methods, class attributes, and the ``self.x``
  attributes its ``__init__`` sets (checked on a real snakezmq instance).

A function, class or method must accept every call snakemq's accepts: the
same parameters in the same order with the same names, a default wherever
snakemq has one (the same value for plain constants), and any extra
parameters optional.

The exceptions are the rows of the README's table "Left out on purpose"
(section "snakemq names left out"): each row names an fnmatch pattern and its
reason. The test reads that table, so the README and the test cannot drift.
"""
from __future__ import annotations

import ast
import fnmatch
import importlib
import inspect
import pathlib
import re
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional

import pytest

import snakemq

ROOT = pathlib.Path(__file__).resolve().parents[1]
SNAKEMQ_ROOT = pathlib.Path(snakemq.__file__).resolve().parent
README = ROOT / "README.md"
LEFT_OUT_HEADING = "### snakemq names left out"
PLAIN = (int, float, str, bytes, bool, type(None))  #: exactly these types: values compared
#: constants whose value is snakezmq's own (the name and its meaning are snakemq's)
OWN_VALUES = {"snakemq.version.VERSION", "snakemq.version.PROTOCOL_VERSION"}

#: gaps in files the lead is rewriting (messaging.py, queues.py): strict xfails, so a fix shows
KNOWN_GAPS: Dict[str, str] = {}


class Name(NamedTuple):
    """One public name of snakemq: ``path`` is ``snakemq.link.Link.send``."""
    path: str
    module: str
    owner: Optional[str]  #: the class, for members
    attr: str
    instance: bool  #: set by ``__init__`` (checked on an instance)


# -- snakemq's names, from its source -----------------------------------------------------------

def snakemq_modules() -> Dict[str, pathlib.Path]:
    modules = {}
    for path in sorted(SNAKEMQ_ROOT.rglob("*.py")):
        parts = list(path.relative_to(SNAKEMQ_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(["snakemq"] + parts)] = path
    return modules


def _is_public(name: str) -> bool:
    return not name.startswith("_")


def _targets(node: ast.stmt) -> List[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _class_names(module: str, cls: ast.ClassDef) -> Iterator[Name]:
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_public(node.name):
            yield Name("%s.%s.%s" % (module, cls.name, node.name), module, cls.name, node.name, False)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in filter(_is_public, _targets(node)):
                yield Name("%s.%s.%s" % (module, cls.name, target), module, cls.name, target, False)
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            seen = set()
            for sub in ast.walk(node):
                if (isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)
                        and isinstance(sub.value, ast.Name) and sub.value.id == "self"
                        and _is_public(sub.attr) and sub.attr not in seen):
                    seen.add(sub.attr)
                    yield Name("%s.%s.%s" % (module, cls.name, sub.attr), module, cls.name,
                               sub.attr, True)


def public_names(module: str, path: pathlib.Path) -> Iterator[Name]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        found: List[str] = []
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            found = _targets(node)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("snakemq"):
            found = [alias.asname or alias.name for alias in node.names]
        for name in filter(_is_public, found):
            yield Name("%s.%s" % (module, name), module, None, name, False)
        if isinstance(node, ast.ClassDef) and _is_public(node.name):
            yield from _class_names(module, node)


def all_names() -> List[Name]:
    return [name for module, path in snakemq_modules().items() for name in public_names(module, path)]


# -- the README's table of what is left out on purpose -----------------------------------------

def left_out() -> Dict[str, str]:
    """``{fnmatch pattern: reason}`` from the README table under LEFT_OUT_HEADING."""
    text = README.read_text(encoding="utf-8")
    assert LEFT_OUT_HEADING in text, "README.md lost its %r section" % LEFT_OUT_HEADING
    section = text.split(LEFT_OUT_HEADING, 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            for pattern in re.findall(r"`([^`]+)`", cells[0]):
                rows[pattern] = cells[1]
    return rows


def covered(name: Name, patterns: Dict[str, str]) -> bool:
    """A row covers the names it matches and, for a module or class, everything in it."""
    return any(fnmatch.fnmatchcase(name.path, pattern) or name.path.startswith(pattern + ".")
               for pattern in patterns)


# -- snakezmq instances to look for instance attributes on ---------------------------------------

def _instances(tmp_path: pathlib.Path) -> Dict[str, Callable[[], Any]]:
    """``{"snakemq.x.Class": () -> a snakezmq instance}``; each Link made is cleaned up by ``made``."""
    import snakezmq.link
    import snakezmq.messaging
    import snakezmq.packeter
    import snakezmq.rpc
    import snakezmq.storage
    import snakezmq.storage.sqlite
    import snakezmq.throttle
    from snakezmq.callbacks import Callback
    from snakezmq.message import Message

    def messaging() -> Any:
        return snakezmq.messaging.Messaging("parity", "", snakezmq.packeter.Packeter(link()))

    def link() -> Any:
        made = snakezmq.link.Link()
        LINKS.append(made)
        return made

    def hook() -> Any:
        return snakezmq.messaging.ReceiveHook(messaging())

    def sqla() -> Any:
        from snakezmq.storage.sqla import SqlAlchemyQueuesStorage
        return SqlAlchemyQueuesStorage("sqlite:///%s" % (tmp_path / "sqla.db"))

    return {
        "snakemq.callbacks.Callback": Callback,
        "snakemq.link.SSLConfig": snakezmq.link.SSLConfig,
        "snakemq.link.Link": link,
        "snakemq.message.Message": lambda: Message(b""),
        "snakemq.messaging.Messaging": messaging,
        "snakemq.messaging.ReceiveHook": hook,
        "snakemq.packeter.Packeter": lambda: snakezmq.packeter.Packeter(link()),
        "snakemq.queues.QueuesManager": lambda: messaging().queues_manager,
        "snakemq.queues.Queue": lambda: messaging().queues_manager.get_queue("q"),
        "snakemq.rpc.RpcServer": lambda: snakezmq.rpc.RpcServer(hook()),
        "snakemq.rpc.RpcClient": lambda: snakezmq.rpc.RpcClient(hook()),
        "snakemq.rpc.RemoteMethod": lambda: snakezmq.rpc.RpcClient(hook()).get_proxy("p", "o").m,
        "snakemq.storage.MemoryQueuesStorage": snakezmq.storage.MemoryQueuesStorage,
        "snakemq.storage.sqlite.SqliteQueuesStorage":
            lambda: snakezmq.storage.sqlite.SqliteQueuesStorage(str(tmp_path / "sqlite.db")),
        "snakemq.storage.sqla.SqlAlchemyQueuesStorage": sqla,
        "snakemq.throttle.Throttle": lambda: snakezmq.throttle.Throttle(link(), 1000),
    }


LINKS: List[Any] = []


@pytest.fixture
def instance_of(tmp_path: pathlib.Path) -> Iterator[Callable[[str], Any]]:
    made: List[Any] = []

    def build(class_path: str) -> Any:
        factory = _instances(tmp_path).get(class_path)
        assert factory is not None, "no snakezmq instance factory for %s in this test" % class_path
        obj = factory()
        made.append(obj)
        return obj

    yield build
    for obj in made:
        if hasattr(obj, "close") and "Storage" in type(obj).__name__:
            obj.close()
    while LINKS:
        LINKS.pop().cleanup()


# -- signatures ---------------------------------------------------------------------------------

def incompatibility(theirs: inspect.Signature, ours: inspect.Signature) -> Optional[str]:
    """Why a call that fits ``theirs`` may not fit ``ours`` (None: compatible)."""
    mine = list(ours.parameters.values())
    kinds = {p.kind for p in mine}
    takes_any = {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD} <= kinds
    index = 0
    for param in theirs.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            if param.kind not in kinds:
                return "snakemq takes %s%s" % ("*" if param.kind is param.VAR_POSITIONAL else "**",
                                               param.name)
            continue
        if takes_any and (index >= len(mine) or mine[index].kind in (param.VAR_POSITIONAL,
                                                                     param.VAR_KEYWORD)):
            index += 1
            continue
        if index >= len(mine) or mine[index].name != param.name:
            return "parameter %d is %r in snakemq" % (index, param.name)
        if param.default is not param.empty:
            if mine[index].default is param.empty:
                return "%r has a default in snakemq" % param.name
            if type(param.default) in PLAIN and mine[index].default != param.default:
                return "%r defaults to %r in snakemq, %r here" % (
                    param.name, param.default, mine[index].default)
        index += 1
    for extra in mine[index:]:
        if extra.default is extra.empty and extra.kind in (extra.POSITIONAL_ONLY,
                                                           extra.POSITIONAL_OR_KEYWORD,
                                                           extra.KEYWORD_ONLY):
            return "extra parameter %r has no default" % extra.name
    return None


def _undecorated(func: Any) -> Any:
    """The function inside a plain decorator's ``wrapper(self, *args, **kwargs)`` (snakemq's
    ``storage.sqla.transaction`` does not use functools.wraps)."""
    if getattr(func, "__name__", "") == "wrapper" and getattr(func, "__closure__", None):
        for cell in func.__closure__:
            if inspect.isfunction(cell.cell_contents):
                return cell.cell_contents
    return func


def signature(obj: Any) -> Optional[inspect.Signature]:
    target = obj.__init__ if inspect.isclass(obj) else _undecorated(obj)
    if inspect.isclass(obj) and target is object.__init__:
        return None
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if inspect.isclass(obj) or (params and params[0].name == "self"):
        params = params[1:]  # unbound method or __init__: drop self
    return sig.replace(parameters=[p.replace(annotation=p.empty) for p in params],
                       return_annotation=sig.empty)


def _snakemq_object(name: Name) -> Any:
    try:
        module = importlib.import_module(name.module)
    except ImportError:
        return None  # e.g. snakemq.storage.mongodb without pymongo: the name still counts
    obj = getattr(module, name.owner or name.attr, None)
    if name.owner is not None:
        obj = inspect.getattr_static(obj, name.attr, None)
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
    return obj


def check(name: Name, instance_of: Callable[[str], Any]) -> None:
    theirs = _snakemq_object(name)
    module_name = "snakezmq" + name.module[len("snakemq"):]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        pytest.fail("%s: no module %s (%s)" % (name.path, module_name, exc))
    where = module_name
    ours: Any = module
    if name.owner is not None:
        ours = getattr(module, name.owner, None)
        assert ours is not None, "%s: no class %s.%s" % (name.path, module_name, name.owner)
        where += "." + name.owner
        if name.instance:
            ours = instance_of("%s.%s" % (name.module, name.owner))
            where += "()"
    assert hasattr(ours, name.attr), "%s: %s has no %r" % (name.path, where, name.attr)
    mine = getattr(ours, name.attr)
    if name.owner is not None and not name.instance:
        mine = inspect.getattr_static(ours, name.attr)
        if isinstance(mine, (staticmethod, classmethod)):
            mine = mine.__func__
    if name.instance or not callable(theirs) or isinstance(theirs, type) and issubclass(
            theirs, BaseException):
        if type(theirs) in PLAIN and not name.instance and name.path not in OWN_VALUES:
            assert mine == theirs, "%s is %r in snakemq, %r in snakezmq" % (name.path, theirs, mine)
        return
    expected, actual = signature(theirs), signature(mine) if callable(mine) else None
    if expected is None:
        return
    assert actual is not None, "%s: snakezmq's is not callable like snakemq's %s" % (name.path, expected)
    problem = incompatibility(expected, actual)
    assert problem is None, "%s: %s (snakemq %s, snakezmq %s)" % (name.path, problem, expected, actual)


# -- the tests ----------------------------------------------------------------------------------

NAMES = all_names()
LEFT_OUT = left_out()


def _param(name: Name) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[name.path])] \
        if name.path in KNOWN_GAPS else []
    return pytest.param(name, id=name.path, marks=marks)


@pytest.mark.parametrize("name", [_param(n) for n in NAMES if not covered(n, LEFT_OUT)])
def test_snakemq_name_exists_in_snakezmq_with_a_compatible_signature(name, instance_of):
    check(name, instance_of)


def test_every_snakemq_module_is_walked():
    # a module that failed to parse or is missed by the walk would pass silently
    modules = set(snakemq_modules())
    assert {"snakemq.link", "snakemq.storage.sqla", "snakemq.version"} <= modules
    assert modules <= {name.module for name in NAMES} | {"snakemq"} | {
        m for m in modules if covered(Name(m, m, None, "", False), LEFT_OUT)}


def test_left_out_rows_each_have_a_reason_and_match_something():
    assert LEFT_OUT, "the README's left-out table is empty or unparsable"
    paths = [name.path for name in NAMES] + list(snakemq_modules())
    for pattern, reason in LEFT_OUT.items():
        assert len(reason) > 10, "README left-out row %r gives no reason" % pattern
        assert any(fnmatch.fnmatchcase(path, pattern) for path in paths), (
            "README left-out row %r matches no snakemq name (stale?)" % pattern)


def test_known_gaps_are_real_names_and_not_left_out():
    paths = {name.path for name in NAMES}
    for path in KNOWN_GAPS:
        assert path in paths and not covered(Name(path, "", None, "", False), LEFT_OUT), path


def test_incompatibility_rules():
    def sig(func: Callable[..., Any]) -> inspect.Signature:
        return inspect.signature(func)

    assert incompatibility(sig(lambda a, b=1: 0), sig(lambda a, b=1, c=None: 0)) is None
    assert incompatibility(sig(lambda *args, **kwargs: 0), sig(lambda *a, **k: 0)) is None
    assert incompatibility(sig(lambda a, b: 0), sig(lambda *a, **k: 0)) is None
    assert "parameter 1" in incompatibility(sig(lambda a, b: 0), sig(lambda a, c: 0))
    assert "default" in incompatibility(sig(lambda a, b=1: 0), sig(lambda a, b: 0))
    assert "defaults to 1" in incompatibility(sig(lambda a, b=1: 0), sig(lambda a, b=2: 0))
    assert "no default" in incompatibility(sig(lambda a: 0), sig(lambda a, b: 0))
    assert "*args" in incompatibility(sig(lambda *args: 0), sig(lambda a=1: 0))
