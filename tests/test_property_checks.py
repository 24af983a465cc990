"""gradspec.properties.checks: the helpers the generic properties (props) and the records' own share.

Each helper fails on a wrong input and passes a right one; the module reads no registry (a record imports it),
and no record keeps a copy of its own.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import gradspec.reference as ref
from gradspec import registry
from gradspec.impl import CallFailed, Implementation
from gradspec.properties import checks, props

OPS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "gradspec", "ops")


def test_assert_close_passes_within_the_tolerance_elementwise():
    checks.assert_close([1.0, 2.0], [1.0 + 1e-9, 2.0], [2e-9, 0.0], "rule", "y")
    checks.assert_close(3.0, 3.0, 0.0, "rule", "scalar")


def test_assert_close_names_the_rule_and_the_worst_element_in_units_of_the_tolerance():
    # element 1 is off by more (0.5 > 0.2) but element 0 is further outside its tolerance (0.2/1e-3 > 0.5/1)
    with pytest.raises(AssertionError) as e:
        checks.assert_close([[1.2, 2.5]], [[1.0, 2.0]], [[1e-3, 1.0]], "my rule", "dx")
    msg = str(e.value)
    assert msg.startswith("my rule: dx[0, 0] = 1.2, expected 1.0") and "1 of 2 elements off" in msg


def test_assert_close_breaks_a_tie_in_units_of_the_tolerance_by_the_largest_error():
    x = np.array([-2.0, 0.5, 3.0])
    with pytest.raises(AssertionError) as e:
        checks.assert_close(2 * x, x, 16 * checks.EPS * np.abs(x), "odd part", "g")
    assert "g[2] = 6.0, expected 3.0" in str(e.value) and "3 of 3 elements off" in str(e.value)


@pytest.mark.parametrize("actual, expected, tol, what", [
    ([1.0, 2.0], [1.0], 1.0, "has shape (2,), expected (1,)"),  # shape
    ([1.0, np.nan], [1.0, 2.0], 1.0, "[1] is nan"),  # a NaN is never within any tolerance
    ([1.0, np.inf], [1.0, np.inf], 1.0, "[1] is inf"),  # nor an infinity, even an expected one
    ([1.0, 2.0], [1.0, 2.0], [0.0, np.inf], "[1] = 2.0"),  # an infinite tolerance is no tolerance
    ([1.0, 1e308], [1.0, np.inf], np.inf, "[1] = 1e+308"),  # a non-finite expected value never passes
])
def test_assert_close_never_passes_a_shape_mismatch_or_non_finite_values(actual, expected, tol, what):
    with pytest.raises(AssertionError) as e:
        checks.assert_close(actual, expected, tol, "rule", "y")
    assert str(e.value).startswith("rule: y") and what in str(e.value)


def test_fn_finds_the_function_on_a_module_an_object_an_implementation_and_its_guarded_view():
    ns = types.SimpleNamespace(relu_forward=ref.relu_forward)
    impl = Implementation("ns", ns, timeout=None)
    for holder in (ref, ns, impl):
        assert checks.fn(holder, "relu_forward") is ref.relu_forward
    guarded = checks.fn(impl.guarded(), "relu_forward")  # called through the run's Implementation
    assert guarded is not ref.relu_forward and np.array_equal(guarded(np.array([-1.0, 2.0])), [0.0, 2.0])


def test_fn_raises_not_provided_for_a_missing_or_non_callable_name():
    for holder in (types.SimpleNamespace(relu_forward=3.0), Implementation("empty", types.SimpleNamespace())):
        with pytest.raises(checks.NotProvided, match="does not provide relu_forward"):
            checks.fn(holder, "relu_forward")


def test_a_guarded_function_that_hung_once_is_not_called_again():
    calls = []
    impl = Implementation("hang", types.SimpleNamespace(f=lambda: calls.append(1)), timeout=1.0)
    impl.hung["f"] = 1.0  # as after a timeout
    with pytest.raises(CallFailed):
        checks.fn(impl.guarded(), "f")()
    assert calls == []


def test_props_fn_also_loads_none_and_a_name():
    assert props.fn("gradspec.reference", "relu_forward") is ref.relu_forward
    assert props.fn(Implementation("ref", ref), "relu_forward") is ref.relu_forward


def test_cotangent_is_the_samples_seed_and_salt_and_props_draws_the_same():
    s = {"seed": 5, "x": np.zeros((2, 3))}
    a, b = checks.cotangent(s, (2, 3)), checks.cotangent(s, (2, 3))
    assert a.shape == (2, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, checks.cotangent({"seed": 6}, (2, 3)))
    assert not np.array_equal(a, checks.cotangent(s, (2, 3), salt=2))
    assert np.array_equal(props.draw_cotangent(registry.get("relu"), s), a)


def test_fail_raises_the_rule_and_the_detail():
    with pytest.raises(AssertionError, match=r"^the rule: the detail$"):
        checks.fail("the rule", "the detail")


def test_importing_checks_imports_no_registry_nor_hypothesis():
    code = ("import sys, gradspec.properties.checks; "
            "print(sorted(m for m in ('gradspec.registry', 'gradspec.ops', 'gradspec.impl', 'hypothesis') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


#: names of the helpers that records once kept copies of (each now lives in gradspec.properties.checks or
#: gradspec.properties.strategies)
HELPER_NAMES = {"assert_close", "assert_within", "fn", "function", "protocol_function", "impl_function",
                "ln_function", "cotangent", "hyp_arrays", "arrays", "floats", "distinct", "impl_object", "fail"}


def _defined_helpers(path: str) -> list[str]:
    tree = ast.parse(open(path, encoding="utf-8").read())
    return sorted(n.name for n in ast.walk(tree)
                  if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in HELPER_NAMES)


def test_no_record_defines_its_own_copy_of_a_shared_helper():
    found = {f: _defined_helpers(os.path.join(OPS_DIR, f)) for f in sorted(os.listdir(OPS_DIR)) if f.endswith(".py")}
    assert {f: names for f, names in found.items() if names} == {}


def test_the_copy_finder_sees_a_copy(tmp_path):
    p = tmp_path / "rec.py"
    p.write_text("def f():\n    def arrays(shape, low, high):\n        return None\n\n\ndef assert_within(a, b):\n"
                 "    pass\n")
    assert _defined_helpers(str(p)) == ["arrays", "assert_within"]
