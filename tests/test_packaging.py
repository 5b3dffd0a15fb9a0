"""Release metadata agrees with itself: the version, CHANGELOG.md, the Python versions.

The built wheel itself is tested by ./run-tests (tests/wheel_check.py), in a venv of
its own outside the checkout.
"""
from __future__ import annotations

import importlib.metadata
import pathlib
import re
from typing import List

import snakezmq

ROOT = pathlib.Path(__file__).resolve().parents[1]


def claimed_versions() -> List[str]:
    """The "Programming Language :: Python :: 3.x" classifiers (what ./run-tests tests)."""
    metadata = importlib.metadata.metadata("snakezmq")
    return [classifier.rsplit(" :: ", 1)[1] for classifier in metadata.get_all("Classifier") or []
            if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", classifier)]


def test_changelog_newest_entry_is_the_version() -> None:
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert headings, "CHANGELOG.md has no '## VERSION' entry"
    assert headings[0] == snakezmq.__version__, (
        "CHANGELOG.md's newest entry is %s but snakezmq.__version__ is %s: add an entry"
        % (headings[0], snakezmq.__version__))


def test_installed_metadata_is_this_version() -> None:
    # pip install -e . reads the version from snakezmq/__init__.py when it installs
    assert importlib.metadata.version("snakezmq") == snakezmq.__version__, (
        "the installed metadata is stale: pip install -e \".[test]\" again")


def test_python_versions_agree() -> None:
    """Classifiers run without gaps from Requires-Python's minimum; the README names both ends."""
    versions = claimed_versions()
    minors = [int(version.split(".")[1]) for version in versions]
    assert minors == list(range(minors[0], minors[0] + len(minors))), versions
    requires = importlib.metadata.metadata("snakezmq")["Requires-Python"]
    assert requires == ">=%s" % versions[0], (requires, versions)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    claim = "Python %s to %s" % (versions[0], versions[-1])
    assert claim in readme, "README.md should say %r (pyproject.toml's classifiers)" % claim
