"""The wheel test's checks, run by ./run-tests (not by pytest: it needs a venv of its own).

``python wheel_check.py extras WHEEL``
    prints the wheel's extras except ``test`` and ``bench`` (the checkout's tests and
    benchmarks, not features of the package), comma-separated, for
    ``pip install "WHEEL[extras]"``: every extra must install.
``python -I wheel_check.py installed SOURCE_DIR``
    run in a fresh venv where only the wheel (with those extras) is installed, from
    a directory outside the checkout. Every module of the source tree SOURCE_DIR
    (the checkout's ``snakezmq/``) must come from the venv and import; the wheel
    must hold no module the source tree lacks, ship ``py.typed`` and the license
    file, and agree with ``snakezmq.__version__``; console scripts must load; the
    ``sqlalchemy`` extra must work (a round trip through SqlAlchemyQueuesStorage
    on SQLite, and psycopg's binary driver loads).

Exits non-zero with what is wrong. Uses the standard library only, and runs on
every Python version the package claims.
"""
from __future__ import annotations

import email.parser
import importlib
import importlib.metadata
import os
import pkgutil
import sys
import tempfile
import zipfile
from typing import List, Set


DEV_EXTRAS = ("test", "bench")  #: extras for working on the checkout, not installed with the wheel


def wheel_extras(wheel: str) -> List[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.BytesParser().parsebytes(archive.read(name))
    return [extra for extra in metadata.get_all("Provides-Extra", []) if extra not in DEV_EXTRAS]


def source_modules(source_dir: str) -> Set[str]:
    """Dotted names of every ``.py`` file under ``source_dir`` (a package folder)."""
    package = os.path.basename(os.path.normpath(source_dir))
    root = os.path.dirname(os.path.normpath(source_dir))
    names = set()
    for folder, subfolders, files in os.walk(source_dir):
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        for file in files:
            if not file.endswith(".py"):
                continue
            parts = os.path.relpath(os.path.join(folder, file[:-3]), root).split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            names.add(".".join(parts))
    assert package in names, "%s has no __init__.py" % source_dir
    return names


def installed_modules(package: object) -> Set[str]:
    name = getattr(package, "__name__")
    found = {name}
    for info in pkgutil.walk_packages(getattr(package, "__path__"), name + "."):
        found.add(info.name)
    return found


def check_installed(source_dir: str) -> List[str]:
    """What is wrong with the installed wheel, compared with the source tree."""
    problems = []
    import snakezmq

    location = os.path.dirname(os.path.realpath(snakezmq.__file__))
    if not location.startswith(os.path.realpath(sys.prefix) + os.sep):
        return ["snakezmq was imported from %s, not from this venv (%s)" % (location, sys.prefix)]
    expected = source_modules(source_dir)
    shipped = installed_modules(snakezmq)
    for name in sorted(expected - shipped):
        hint = ""
        if name.rsplit(".", 1)[0] not in expected:  # its folder has no __init__.py
            hint = " (its folder has no __init__.py, so setuptools does not take it)"
        problems.append("%s is in the source tree but not in the wheel%s" % (name, hint))
    for name in sorted(shipped - expected):
        problems.append("%s is in the wheel but not in the source tree (stale build?)" % name)
    for name in sorted(expected & shipped):
        if name.rsplit(".", 1)[-1] == "__main__":
            continue  # importing it would run the command; console scripts are loaded below
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # any import failure is what this check reports
            problems.append("import %s failed: %s: %s" % (name, type(exc).__name__, exc))
            continue
        if not os.path.realpath(module.__file__ or "").startswith(location):
            problems.append("%s was imported from %s, outside the installed package" % (name, module.__file__))
    print("imported %d modules from %s" % (len(expected & shipped), location))

    if not os.path.isfile(os.path.join(location, "py.typed")):
        problems.append("py.typed is missing: type checkers would ignore the annotations")
    dist = importlib.metadata.distribution("snakezmq")
    if dist.version != snakezmq.__version__:
        problems.append("metadata version %s != snakezmq.__version__ %s" % (dist.version, snakezmq.__version__))
    if not any(str(path).endswith("LICENSE") for path in dist.files or []):
        problems.append("the wheel does not carry the LICENSE file")
    for entry_point in dist.entry_points:
        if entry_point.group in ("console_scripts", "gui_scripts"):
            try:
                entry_point.load()
            except Exception as exc:
                problems.append("entry point %s does not load: %s" % (entry_point, exc))
    problems.extend(check_sqlalchemy_extra())
    return problems


def check_sqlalchemy_extra() -> List[str]:
    """The ``sqlalchemy`` extra: a message round trip on SQLite, and the PostgreSQL driver."""
    from snakezmq.message import FLAG_PERSISTENT, Message
    from snakezmq.storage.sqla import SqlAlchemyQueuesStorage

    try:
        import psycopg  # noqa: F401  (the binary driver is what the extra installs)
    except ImportError as exc:
        return ["the sqlalchemy extra's PostgreSQL driver does not import: %s" % exc]
    with tempfile.TemporaryDirectory() as folder:
        storage = SqlAlchemyQueuesStorage("sqlite:///%s" % os.path.join(folder, "queues.db"))
        try:
            storage.create_structures()
            storage.push("peer", Message(b"kept", ttl=None, flags=FLAG_PERSISTENT))
            got = [item.data for item in storage.get_items("peer")]
        finally:
            storage.close()
    if got != [b"kept"]:
        return ["SqlAlchemyQueuesStorage round trip on SQLite gave %r" % got]
    print("sqlalchemy extra: SqlAlchemyQueuesStorage round trip on SQLite, psycopg %s" % psycopg.__version__)
    return []


def main(argv: List[str]) -> int:
    if len(argv) == 3 and argv[1] == "extras":
        print(",".join(wheel_extras(argv[2])))
        return 0
    if len(argv) == 3 and argv[1] == "installed":
        problems = check_installed(argv[2])
        for problem in problems:
            print("wheel check: %s" % problem)
        print("wheel check (Python %d.%d): %s" % (sys.version_info[:2] + ("FAILED" if problems else "ok",)))
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
