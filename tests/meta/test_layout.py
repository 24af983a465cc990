"""No folder at the repository root and no gradspec package is named like a dependency.

A top-level ``mpmath/`` (or ``sympy/``, ``hypothesis/``, ...) would shadow the library for anything run from the
repository root, where the working directory comes first on ``sys.path``.
"""
from __future__ import annotations

import os
import re

from importgraph import package_dirs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYPROJECT = os.path.join(ROOT, "pyproject.toml")


def dependencies(pyproject: str) -> set[str]:
    """The import names of the project's dependencies and optional dependencies (``gmpy2>=2.1`` -> ``gmpy2``)."""
    with open(pyproject, encoding="utf-8") as fh:
        text = fh.read()
    names = set()
    for block in re.findall(r"^(?:dependencies|test|torch)\s*=\s*\[(.*?)\]", text, flags=re.M | re.S):
        names |= {re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower().replace("-", "_")
                  for spec in re.findall(r'"([^"]+)"', block)}
    return names


def shadowing(names, deps) -> list[str]:
    """The names among ``names`` (folders, package components) that equal a dependency's import name."""
    return sorted({n for n in names if n.lower() in deps})


def test_the_dependencies_are_read():
    assert {"numpy", "sympy", "mpmath", "hypothesis", "pytest", "torch"} <= dependencies(PYPROJECT)


def test_no_top_level_folder_or_package_shadows_a_dependency():
    deps = dependencies(PYPROJECT)
    folders = [d for d in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, d))]
    assert shadowing(folders, deps) == []
    components = {part for pkg in package_dirs(PYPROJECT) for part in pkg.split(".")}
    assert shadowing(components, deps) == []


def test_a_shadowing_name_is_caught():
    assert shadowing(["mpmath_oracle", "mpmath", "reference", "Sympy"], {"mpmath", "sympy"}) == ["Sympy", "mpmath"]


def installed_packages(pyproject: str) -> tuple[set[str], dict[str, str]]:
    """The ``packages`` list and the ``package-dir`` mapping of pyproject.toml."""
    with open(pyproject, encoding="utf-8") as fh:
        text = fh.read()
    packages = set(re.findall(r'"([^"]+)"', re.search(r"^packages\s*=\s*\[(.*?)\]", text, flags=re.M | re.S).group(1)))
    mapping = dict(re.findall(r'"([^"]+)"\s*=\s*"([^"]+)"', re.search(r"^package-dir\s*=\s*\{(.*?)\}", text,
                                                                       flags=re.M | re.S).group(1)))
    return packages, mapping


def source_packages(mapping: dict[str, str]) -> set[str]:
    """Every package the source tree holds: each mapped folder and its subfolders with an ``__init__.py``."""
    found = set()
    for name, folder in mapping.items():
        base = os.path.join(ROOT, folder)
        for dirpath, _, files in os.walk(base):
            if "__init__.py" in files:
                rel = os.path.relpath(dirpath, base)
                found.add(name if rel == "." else name + "." + rel.replace(os.sep, "."))
    return found


def test_every_source_package_is_installed():
    """A subpackage missing from pyproject's ``packages`` works in an editable install and is absent from a normal
    one (``python -m pip install .``): every package of the source tree must be listed."""
    packages, mapping = installed_packages(PYPROJECT)
    assert source_packages(mapping) - packages == set()


def test_a_missing_subpackage_is_found(tmp_path):
    packages, mapping = installed_packages(PYPROJECT)
    assert "gradspec.variants" in source_packages(mapping)
    assert "gradspec.variants" in source_packages(mapping) - (packages - {"gradspec.variants"})
