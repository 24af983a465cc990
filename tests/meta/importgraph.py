"""gradspec's own modules and their module-level imports, read with ``ast`` (nothing is imported to build it)."""
from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re


def package_dirs(pyproject: str) -> dict[str, str]:
    """Package name -> directory, for every package that pyproject.toml's ``packages`` lists (found via their specs)."""
    with open(pyproject, encoding="utf-8") as fh:
        text = fh.read()
    m = re.search(r"^packages\s*=\s*\[(.*?)\]", text, flags=re.M | re.S)
    if m is None:
        raise ValueError(f"{pyproject}: no [tool.setuptools] packages = [...] list")
    out = {}
    for name in re.findall(r'"([^"]+)"', m.group(1)):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"{pyproject} lists package {name!r}, which is not importable as a package")
        out[name] = list(spec.submodule_search_locations)[0]
    return out


def module_files(packages: dict[str, str]) -> dict[str, str]:
    """Module name -> file for the .py files directly inside each package directory (``__init__`` is the package)."""
    out = {}
    for pkg, d in packages.items():
        for fn in sorted(os.listdir(d)):
            if fn.endswith(".py"):
                out[pkg if fn == "__init__.py" else f"{pkg}.{fn[:-3]}"] = os.path.join(d, fn)
    return out


def parse(path: str) -> ast.Module:
    """The syntax tree of ``path``, parsed once per content (callers only read it)."""
    with open(path, encoding="utf-8") as fh:
        return _parsed(path, fh.read())


@functools.lru_cache(maxsize=None)
def _parsed(path: str, source: str) -> ast.Module:
    return ast.parse(source, filename=path)


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _module_level(body):
    """The statements executed at import: the module's body, descending into if/try/with, not into defs/classes."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, field, []) or [])
            for h in getattr(node, "handlers", []) or []:
                yield from _module_level(h.body)


def imports(module: str, path: str, known: set[str], *, module_level_only: bool = True) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every import in ``path`` that resolves inside ``known``.

    ``from X import a``: the edge goes to ``X.a`` when that is a module of ``known``, else to ``X``.
    Importing ``a.b.c`` also runs the ``__init__`` of ``a.b``: those packages get edges too (but not the root
    package, which every module's import runs first, nor a package that contains the importer, which is
    already being initialised when the importer runs).
    """
    tree = parse(path)
    is_package = os.path.basename(path) == "__init__.py"
    nodes = _module_level(tree.body) if module_level_only else ast.walk(tree)
    root = module.split(".")[0]
    out = []

    def add(target, name, line):
        parts = target.split(".")
        for k in range(2, len(parts)):  # parent packages below the root
            parent = ".".join(parts[:k])
            if parent in known and not (module == parent or module.startswith(parent + ".")):
                out.append((parent, "", line))
        if target in known:
            out.append((target, name, line))

    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                add(a.name, "", node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            if base.split(".")[0] != root:
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                add(sub, "", node.lineno) if sub in known else add(base, a.name, node.lineno)
    return out


def graph(files: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the gradspec modules its module-level imports run."""
    known = set(files)
    return {m: {t for t, _, _ in imports(m, p, known)} - {m} for m, p in files.items()}


def cycles(g: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan), each a frozenset."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def module_aliases(module: str, path: str, known: set[str]) -> dict[str, str]:
    """Local name -> gradspec module, for every name an import in ``path`` binds to a module of ``known``.

    ``import a.b as x`` binds ``x``; ``from a import b`` binds ``b`` when ``a.b`` is a module; ``from . import
    forward as F`` binds ``F``. Imports anywhere in the file count (a module imported inside a function too).
    """
    tree = parse(path)
    is_package = os.path.basename(path) == "__init__.py"
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname and a.name in known:
                    out[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in known:
                    out[a.asname or a.name] = sub
    return out


def private_imports(files: dict[str, str]) -> list[tuple[str, str, str]]:
    """(importing module, imported module, private name) for every private name of one gradspec module used
    in another: ``from X import _name``, and ``alias._name`` where ``alias`` is bound to module ``X`` by an
    import (``from . import forward as F`` ... ``F._float_parts``).

    Every import counts here, at module level or inside a function. ``X`` is a gradspec module other than
    the importer; dunder names are not private.
    """
    known = set(files)
    out = []
    for m, p in files.items():
        for target, name, _ in imports(m, p, known, module_level_only=False):
            if _is_private(name) and target != m:
                out.append((m, target, name))
        aliases = module_aliases(m, p, known)
        if not aliases:
            continue
        for node in ast.walk(parse(p)):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and _is_private(node.attr) and aliases[node.value.id] != m):
                out.append((m, aliases[node.value.id], node.attr))
    return sorted(set(out))
