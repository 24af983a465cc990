"""The Python API gradspec.check, run profiles, GRADSPEC_IMPL and the CLI's progress display."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import gradspec
from gradspec import cli, oracles, profiles, reference, registry
from gradspec.impl import ImplementationError
from gradspec.oracles import fd64

MUTANT = '''
from gradspec.reference import *  # noqa: F401,F403
from gradspec.reference import relu_backward as _relu_backward

def relu_backward(x, dy):
    return -_relu_backward(x, dy)  # the bug: wrong sign

class Layers:
    """An object exposing the protocol: only relu, correct."""
    relu_forward = staticmethod(relu_forward)
    relu_backward = staticmethod(_relu_backward)
'''

_counter = iter(range(10**6))


@pytest.fixture
def mutant(tmp_path, monkeypatch):
    """A module in the working directory, under a name unique to this test."""
    name = f"gs_api_mutant_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(MUTANT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("GRADSPEC_IMPL", raising=False)
    return name


# --------------------------------------------------------------------------- Python API
def test_check_accepts_a_module_object_and_a_single_op_name():
    r = gradspec.check(reference, ops="relu", oracles="fd64")
    assert list(r.ops) == ["relu"] and r.ok
    assert r.implementation["name"] == "gradspec.reference"


def test_check_accepts_module_object_strings_and_instances(mutant):
    import importlib

    bad = gradspec.check(mutant, ops=["relu"])
    assert bad.ops["relu"].status == "fail" and not bad.ok
    good = gradspec.check(f"{mutant}:Layers", ops=["relu", "tanh"])  # the class is instantiated
    assert good.ops["relu"].status == "pass" and good.ops["tanh"].status == "not_implemented" and good.ok
    instance = importlib.import_module(mutant).Layers()
    assert gradspec.check(instance, ops=["relu"]).ops["relu"].status == "pass"
    with pytest.raises(ImplementationError, match="has no attribute 'Nope'"):
        gradspec.check(f"{mutant}:Nope")


def test_the_api_result_is_the_cli_json(tmp_path):
    out = tmp_path / "r.json"
    assert cli.main(["check", "--ops", "affine", "relu", "--seed", "4", "--json", str(out), "-q"]) == 0
    from_cli = json.loads(out.read_text())
    from_api = gradspec.check(None, ops=["affine", "relu"], seed=4).to_dict()
    for d in (from_cli, from_api):
        d.pop("duration_s")
    assert from_api == from_cli


# --------------------------------------------------------------------------- profiles
@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_profiles_multiply_each_oracles_default(profile):
    r = gradspec.check(None, ops=["relu"], profile=profile)  # the default oracles, fd64 and mpmath
    factor = profiles.PROFILES[profile]
    sampled = {(c.oracle, c.check): c.examples for c in r.ops["relu"].checks if c.check in ("forward", "backward")}
    assert sampled == {(name, check): factor * oracles.get(name).DEFAULT_EXAMPLES
                       for name in profiles.DEFAULT_ORACLES for check in ("forward", "backward")}


def test_thorough_is_at_least_ten_times_dev():
    def backward_examples(profile):  # the registry samples a profile asks for (fd64 adds its targeted ones to each)
        checks = gradspec.check(None, ops=["tanh"], oracles="fd64", profile=profile).ops["tanh"].checks
        c = next(c for c in checks if c.check == "backward")
        assert c.info["targeted_samples"] == fd64.targeted_labels(registry.get("tanh"))
        return c.examples - len(c.info["targeted_samples"])

    dev, thorough = backward_examples("dev"), backward_examples("thorough")
    assert thorough >= 10 * dev


def test_explicit_examples_override_the_profile_and_unknown_profiles_are_named():
    r = gradspec.check(None, ops=["relu"], profile="thorough", examples=2)
    assert {c.examples for c in r.ops["relu"].checks if c.check in ("forward", "backward")} == {2}
    with pytest.raises(ValueError, match="unknown profile 'nightly'; known: dev, ci, thorough"):
        gradspec.check(None, ops=["relu"], profile="nightly")


def test_cli_profile_flag(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert cli.main(["check", "--ops", "relu", "--oracle", "fd64", "--profile", "ci", "--json", str(out), "-q"]) == 0
    checks = json.loads(out.read_text())["ops"]["relu"]["checks"]  # relu: no targeted samples
    assert {c["examples"] for c in checks if c["check"] in ("forward", "backward")} == {profiles.PROFILES["ci"] * fd64.DEFAULT_EXAMPLES}
    assert cli.main(["check", "--profile", "nightly"]) == 2
    assert "invalid choice: 'nightly'" in capsys.readouterr().err


# --------------------------------------------------------------------------- GRADSPEC_IMPL
def test_cli_reads_the_implementation_from_the_environment(mutant, monkeypatch, capsys):
    monkeypatch.setenv("GRADSPEC_IMPL", mutant)
    assert cli.main(["check", "--ops", "relu"]) == 1
    out = capsys.readouterr().out
    assert f"checking {mutant}" in out and "FAIL" in out and "relu" in out
    # --impl wins over the environment
    assert cli.main(["check", "--ops", "relu", "--impl", "gradspec.reference"]) == 0
    assert "checking gradspec.reference" in capsys.readouterr().out


def test_api_reads_the_implementation_from_the_environment(mutant, monkeypatch):
    monkeypatch.setenv("GRADSPEC_IMPL", mutant)
    r = gradspec.check(ops=["relu"])
    assert r.implementation["name"] == mutant and r.ops["relu"].status == "fail"


# --------------------------------------------------------------------------- progress display
def _run_cli(args, tty: bool):
    cmd = [sys.executable, "-m", "gradspec", *args]
    env = {k: v for k, v in os.environ.items() if k != "GRADSPEC_IMPL"}
    if not tty:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120).stdout
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode()


@pytest.mark.cli
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_is_shown_on_a_terminal_and_not_in_a_pipe():
    args = ["check", "--ops", "relu", "affine", "-q"]
    on_tty = _run_cli(args, tty=True)
    assert "\r[1/2] relu" in on_tty and "\r[2/2] affine" in on_tty
    piped = _run_cli(args, tty=False)
    assert "[1/2]" not in piped and "2 passed" in piped


@pytest.mark.cli
@pytest.mark.parametrize("args", [["ops", "--json"], ["check", "--ops", "relu", "--oracle", "fd64"]])
def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly(args, tmp_path):
    # the reader goes away before the command writes anything (`gradspec ... | head` once head has its lines)
    env = {k: v for k, v in os.environ.items() if k != "GRADSPEC_IMPL"}
    proc = subprocess.Popen([sys.executable, "-m", "gradspec", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path, env=env)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == cli.CLOSED_PIPE
    assert err == b""  # no traceback, nothing else

