"""The README's protocol tables list every function a check calls on an implementation, and a check that is not
applicable for want of a function names that function.

The set of functions is derived, not listed here: the records' ``functions``, the properties' ``requires``,
and every string literal the checks' sources look up on an implementation (``fn(impl, "name")``,
``impl.call("name", ...)``, ``impl.attempt``/``invoke``/``evaluate``/``function``, ``getattr(impl, "name")``).
"""
from __future__ import annotations

import ast
import functools
import re
import types
from pathlib import Path

import gradspec
from gradspec import registry

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(gradspec.__file__).resolve().parent
#: The sources of every check (oracles, conventions, diagnosis, the report's experiments and init checks).
CHECK_SOURCES = [*sorted((PACKAGE / "oracles").glob("*.py")), PACKAGE / "conventions.py", PACKAGE / "diagnosis.py",
                 *sorted((ROOT / "properties").glob("*.py")), *sorted((ROOT / "symbolic").glob("*.py")),
                 *sorted((ROOT / "mpmath_oracle").glob("*.py")), *sorted((ROOT / "reports").glob("*.py"))]
LOOKUP_METHODS = {"call", "attempt", "invoke", "evaluate", "function"}
#: Helpers of the reference that the README says no check calls on an implementation.
NOT_CALLED = ("to_column_layout", "dropout_mask", "global_norm", "fans", "perceptron_predict", "perceptron_train",
              "cnn_loss_and_grads")


def _mentions_impl(node) -> bool:
    return any(isinstance(n, ast.Name) and "impl" in n.id for n in ast.walk(node))


def literal_lookups(source: str) -> set[str]:
    """Function names a source looks up on an implementation by string literal."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f, args = node.func, node.args
        lit = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in args]
        if isinstance(f, ast.Name) and f.id in ("fn", "getattr") and len(args) >= 2 and lit[1] and _mentions_impl(args[0]):
            found.add(lit[1])
        elif isinstance(f, ast.Attribute) and f.attr in LOOKUP_METHODS and args and lit[0] and _mentions_impl(f.value):
            found.add(lit[0])
    return found


@functools.lru_cache(maxsize=None)
def lookups_in_the_checks() -> frozenset[str]:
    return frozenset(name for path in CHECK_SOURCES for name in literal_lookups(path.read_text(encoding="utf-8")))


@functools.lru_cache(maxsize=None)
def functions_checks_use() -> frozenset[str]:
    from gradspec.properties.suite import PROPERTIES

    used = {f for op in registry.OPS for f in op.functions}
    used |= {f for props in PROPERTIES.values() for p in props for f in p.requires}
    used |= lookups_in_the_checks()
    return frozenset(name for name in used if not name.startswith("__"))  # dunder attributes (__name__) are not functions


def protocol_section(readme: str) -> str:
    start = readme.index("## The protocol")
    return readme[start:readme.index("\n## ", start + 1)]


def undocumented(readme: str, names) -> list[str]:
    """The names that appear in no backtick span of the README's protocol section."""
    spans = re.findall(r"`([^`]+)`", protocol_section(readme))
    words = {w for s in spans for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", s)}
    return sorted(n for n in names if n not in words)


def test_the_derivation_sees_the_lookups_of_the_checks():
    assert {"im2col", "col2im", "mlp_backprop", "mlp_col_loss_and_grads"} <= lookups_in_the_checks()
    # a source that looks a function up is seen; one that does not is not
    assert literal_lookups('x = fn(impl, "secret_helper")\ny = impl.call("other", 1)\n') == {"secret_helper", "other"}
    assert literal_lookups('y = ref.call("other", 1)\nz = fn(spec, "x")\n') == set()


def test_every_function_a_check_calls_is_in_the_protocol_tables():
    used = functions_checks_use()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert undocumented(readme, used) == []
    assert not set(NOT_CALLED) & used  # the README says no check calls these


def test_a_function_missing_from_the_table_is_reported():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    doctored = readme.replace("mlp_col_loss_and_grads", "mlp_column_entry")
    assert "mlp_col_loss_and_grads" in protocol_section(readme)
    assert undocumented(doctored, functions_checks_use()) == ["mlp_col_loss_and_grads"]


def test_a_property_not_applicable_for_want_of_a_function_names_it():
    import numpy as np

    import gradspec.reference as ref
    from gradspec.properties import oracle

    code = types.ModuleType("conv_forward_and_im2col")
    code.conv2d_forward, code.im2col = ref.conv2d_forward, ref.im2col
    # no property can run (each needs conv2d_backward, so none draws an example); each names what it lacks
    results = {c.check: c for c in oracle.check_op(registry.get("conv2d"), code, np.random.default_rng(0), 1)}
    adjoint = results.pop("im2col_col2im_adjoint[away]")
    assert adjoint.status == "not_applicable" and adjoint.info["needs"] == ["conv2d_backward", "col2im"]
    assert "needs conv2d_backward, col2im" in adjoint.message
    assert results and all(c.status == "not_applicable" and c.info["needs"] == ["conv2d_backward"]
                           for c in results.values())


def test_a_forward_only_op_names_the_backward_that_would_enable_the_other_oracles():
    from gradspec.runner import forward_only, unsupported

    op = forward_only(registry.get("softmax"))
    check = unsupported(op, "symbolic", types.SimpleNamespace())
    assert check.status == "not_applicable" and check.info["needs"] == ["softmax_backward"]
    assert "needs softmax_backward" in check.message
    assert unsupported(op, "fd64", types.SimpleNamespace(FORWARD_ONLY=True)) is None
