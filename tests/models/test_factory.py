"""The user's own model factory (issue 22): ``module:factory`` from the current folder first, then the
import path; ``path/to/file.py:factory`` by path; errors that name what was tried.

Every case writes real modules to temporary folders and imports them for real. The folder a test
works in is never on ``sys.path`` (the fixture takes ``""`` out), so a module found there was found
by the resolver, not by an accident of how pytest was started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from advisor.budget import Budget
from advisor.errors import InputError
from advisor.jobs import spec_of
from advisor.jobs.worker import join_study
from advisor.models import _factory, anchored_spec, import_factory, is_factory_spec, parse_factory, resolve_factory
from advisor.problem import open_problem
from advisor.search import JobSpec, open_study
from advisor.search.storage import SPEC_KEY
from advisor.techniques.kd import KDConfig, named_student
from tests.conftest import FAST

ROOT = Path(__file__).resolve().parents[2]

NET = """
import torch
from torch import nn
from torch.nn import Linear  # imported, not defined here: never listed as the module's own


class Net(nn.Module):
    def __init__(self, width={width}):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.fc = Linear(width, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def build():
    return Net()


def make_small():
    return Net(2)


def _private():
    return Net()
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def net_module(path: Path, width: int = 4) -> Path:
    return write(path, NET.format(width=width))


@pytest.fixture(autouse=True)
def clean_imports(monkeypatch, tmp_path):
    """No test folder on ``sys.path``; modules the test imported from its folders are forgotten after."""
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    monkeypatch.setattr(_factory, "_LOADED", {})
    before = set(sys.modules)
    yield
    base = str(tmp_path.parent.parent)
    for name in set(sys.modules) - before:
        f = getattr(sys.modules[name], "__file__", None) or ""
        if f.startswith(base) or name.startswith("_advisor_user_"):
            del sys.modules[name]


# -- the spec's shape ---------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "module", "file"), [
    ("my_model:build", "my_model", None),
    ("pkg.sub.mod:make", "pkg.sub.mod", None),
    ("path/to/model.py:build", None, "path/to/model.py"),
    ("/abs/model.py:Net", None, "/abs/model.py"),
    ("../model.PY:build", None, "../model.PY"),
    ("C:\\models\\m.py:build", None, "C:\\models\\m.py"),
])
def test_the_two_factory_forms_parse(spec, module, file):
    p = parse_factory(spec)
    assert p is not None and (p.module, p.file) == (module, file) and p.attr == spec.rpartition(":")[2]


@pytest.mark.parametrize("spec", ["builtin:digits-cnn", "model.onnx", "photos.npz", "my_model", "my_model:",
                                  ":build", "my-model:build", "m.py:not-a-name", "C:\\data\\x.npz"])
def test_what_is_not_a_factory_spec(spec):
    assert not is_factory_spec(spec)


# -- module:factory -----------------------------------------------------------------------------

def test_a_module_in_the_current_folder_imports_with_no_pythonpath(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    write(proj / "my_layers.py", "WIDTH = 6\n")
    write(proj / "my_model.py", """
        import torch
        from my_layers import WIDTH  # a sibling import while the module executes


        def build():
            from my_layers import WIDTH as w  # and while the factory runs
            return torch.nn.Linear(WIDTH, w)
    """)
    monkeypatch.chdir(proj)
    path_before = list(sys.path)
    assert str(proj) not in path_before and "my_model" not in sys.modules

    module = import_factory("my_model:build")

    assert isinstance(module, torch.nn.Linear) and (module.in_features, module.out_features) == (6, 6)
    assert resolve_factory("my_model:build")[1] == proj / "my_model.py"
    assert sys.path == path_before  # the folder was on the path only while the module ran
    assert sys.modules["my_model"].__file__ == str(proj / "my_model.py")


def test_a_dotted_module_of_a_package_in_the_current_folder(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    write(proj / "nets" / "__init__.py", "")
    write(proj / "nets" / "parts.py", "WIDTH = 5\n")
    write(proj / "nets" / "small.py", "import torch\nfrom .parts import WIDTH\n\n\ndef build():\n"
                                      "    return torch.nn.Linear(WIDTH, 2)\n")
    monkeypatch.chdir(proj)
    assert import_factory("nets.small:build").in_features == 5
    with pytest.raises(InputError) as err:
        import_factory("nets.large:build")
    assert f"package 'nets' ({proj / 'nets' / '__init__.py'}) has no module 'large'" in str(err.value)


def test_the_current_folder_comes_first_and_errors_name_the_file_used(tmp_path, monkeypatch):
    elsewhere = tmp_path / "on_the_path"
    write(elsewhere / "my_model.py", "def other():\n    return None\n")
    monkeypatch.syspath_prepend(str(elsewhere))
    proj = net_module(tmp_path / "proj" / "my_model.py").parent
    monkeypatch.chdir(proj)

    _, origin = resolve_factory("my_model:build")
    assert origin == proj / "my_model.py"
    with pytest.raises(InputError) as err:
        resolve_factory("my_model:biuld")
    assert f"module 'my_model' ({proj / 'my_model.py'}) has no callable 'biuld'" in str(err.value)

    # From a folder without my_model.py, the import path decides: never the module loaded from proj.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        resolve_factory("my_model:build")
    assert f"module 'my_model' ({elsewhere / 'my_model.py'}) has no callable 'build'" in str(err.value)
    assert "it defines: other" in str(err.value)


def test_a_module_loaded_from_one_folder_is_not_reused_from_another(tmp_path, monkeypatch):
    a = net_module(tmp_path / "a" / "my_model.py", width=4).parent
    b = net_module(tmp_path / "b" / "my_model.py", width=7).parent
    monkeypatch.chdir(a)
    assert import_factory("my_model:build").conv.out_channels == 4
    monkeypatch.chdir(b)
    assert import_factory("my_model:build").conv.out_channels == 7
    monkeypatch.chdir(tmp_path)  # neither folder: not found, although a my_model is still imported
    with pytest.raises(InputError, match=rf"no my_model.py or my_model/ in {tmp_path} and not on the import path"):
        import_factory("my_model:build")


def test_a_missing_callable_lists_the_callables_the_module_defines(tmp_path, monkeypatch):
    proj = net_module(tmp_path / "proj" / "my_model.py").parent
    monkeypatch.chdir(proj)
    with pytest.raises(InputError) as err:
        import_factory("my_model:biuld")
    msg = str(err.value)
    assert msg == (f"module 'my_model' ({proj / 'my_model.py'}) has no callable 'biuld' (model my_model:biuld); "
                   "it defines: Net, build, make_small")
    with pytest.raises(InputError) as err:  # the same from the file form, and for KD's student
        import_factory(f"{proj / 'my_model.py'}:biuld", "KD.student")
    assert str(err.value).endswith("has no callable 'biuld' (KD.student "
                                   f"{proj / 'my_model.py'}:biuld); it defines: Net, build, make_small")


def test_a_module_found_nowhere_names_the_folder_searched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        import_factory("lite1_factory:make")
    assert str(err.value) == (f"cannot import module 'lite1_factory' for model lite1_factory:make: no lite1_factory.py "
                              f"or lite1_factory/ in {tmp_path} and not on the import path (ModuleNotFoundError)")


def test_a_module_that_fails_to_import_names_its_file_and_the_cause(tmp_path, monkeypatch):
    write(tmp_path / "my_model.py", "import not_installed_anywhere_xyz\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        import_factory("my_model:build")
    assert str(err.value) == (f"cannot import module 'my_model' ({tmp_path / 'my_model.py'}) for model my_model:build: "
                              "ModuleNotFoundError: No module named 'not_installed_anywhere_xyz'")


def test_a_factory_that_raises_says_so_in_one_line(tmp_path, monkeypatch):
    write(tmp_path / "my_model.py", "def build():\n    raise ValueError('no weights for width 3\\nsee the docs')\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        import_factory("my_model:build")
    assert str(err.value) == (f"model factory my_model:build ({tmp_path / 'my_model.py'}) failed: "
                              "ValueError: no weights for width 3")


def test_a_name_already_imported_from_elsewhere_is_never_swapped(tmp_path, monkeypatch):
    net_module(tmp_path / "json.py")  # the standard library's json is imported already
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        import_factory("json:build")
    assert "the name 'json' is already taken by the imported module" in str(err.value)
    assert f"give the file itself ({tmp_path / 'json.py'}:build)" in str(err.value)
    import json

    assert json.dumps([1]) == "[1]" and not json.__file__.startswith(str(tmp_path))
    assert isinstance(import_factory("json.py:build"), torch.nn.Module)  # the file form has a name of its own


# -- path/to/file.py:factory --------------------------------------------------------------------

def test_a_file_path_works_from_another_folder(tmp_path, monkeypatch):
    a = net_module(tmp_path / "a" / "model.py", width=4)
    b = net_module(tmp_path / "b" / "model.py", width=7)
    write(tmp_path / "a" / "helper.py", "X = 1\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path_before = list(sys.path)

    assert import_factory("../a/model.py:build").conv.out_channels == 4  # relative to the current folder
    assert import_factory(f"{b}:build").conv.out_channels == 7  # same file name, another folder: no collision
    assert resolve_factory("../a/model.py:build")[1] == a
    assert sys.path == path_before and "model" not in sys.modules  # nothing else became importable
    with pytest.raises(ModuleNotFoundError):
        __import__("helper")


def test_a_file_inside_a_package_keeps_its_relative_imports(tmp_path, monkeypatch):
    write(tmp_path / "proj" / "nets" / "__init__.py", "")
    write(tmp_path / "proj" / "nets" / "parts.py", "WIDTH = 5\n")
    small = write(tmp_path / "proj" / "nets" / "small.py",
                  "import torch\nfrom .parts import WIDTH\n\n\ndef build():\n    return torch.nn.Linear(WIDTH, 2)\n")
    monkeypatch.chdir(tmp_path)
    assert import_factory("proj/nets/small.py:build").in_features == 5
    assert resolve_factory(f"{small}:build")[1] == small


def test_a_missing_file_names_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        import_factory("models/net.py:build")
    assert str(err.value) == f"cannot import model models/net.py:build: no such file {tmp_path / 'models' / 'net.py'}"


# -- the same resolver everywhere: workers, KD's student ----------------------------------------

def test_anchored_specs_resolve_the_same_file_from_anywhere(tmp_path, monkeypatch):
    proj = net_module(tmp_path / "proj" / "my_model.py").parent
    write(proj / "nets" / "__init__.py", "")
    net_module(proj / "nets" / "small.py")
    monkeypatch.chdir(proj)
    assert anchored_spec("my_model:build") == f"{proj / 'my_model.py'}:build"
    assert anchored_spec("nets.small:build") == f"{proj / 'nets' / 'small.py'}:build"
    assert anchored_spec("nets/small.py:build") == f"{proj / 'nets' / 'small.py'}:build"
    assert anchored_spec("torch.nn:Identity") == "torch.nn:Identity"  # from the import path: as written
    assert anchored_spec("builtin:digits-cnn") == "builtin:digits-cnn"
    monkeypatch.chdir(tmp_path)
    assert resolve_factory(f"{proj / 'nets' / 'small.py'}:build")[1] == proj / "nets" / "small.py"


def _data(path: Path) -> Path:
    x = np.random.default_rng(0).random((24, 1, 8, 8), dtype=np.float32)
    np.savez(path, input=x)
    return path


def test_a_study_records_the_file_a_worker_must_import_and_a_worker_that_cannot_says_so(tmp_path, monkeypatch):
    proj = net_module(tmp_path / "proj" / "my_model.py").parent
    torch.save(import_factory(f"{proj / 'my_model.py'}:build").state_dict(), proj / "w.pt")
    _data(proj / "d.npz")
    monkeypatch.chdir(proj)
    with open_problem("my_model:build", "d.npz", weights="w.pt", settings=FAST) as problem:
        spec = spec_of(problem, Budget.preset("mid"), weights="w.pt")
    assert spec.model == f"{proj / 'my_model.py'}:build" and spec.weights == str(proj / "w.pt")

    monkeypatch.chdir(tmp_path)  # a worker on the same machine, started elsewhere: the same file
    with open_problem(spec.model, spec.data, weights=spec.weights, settings=FAST) as problem:
        assert problem.model.module.conv.out_channels == 4

    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", "s")  # a worker whose machine lacks the file
    gone = JobSpec.from_dict({**spec.to_dict(), "model": "/no/such/folder/my_model.py:build"})
    study.set_user_attr(SPEC_KEY, gone.to_dict())
    with pytest.raises(InputError) as err:
        join_study(f"sqlite:///{tmp_path / 'study.db'}", "s", tmp_path / "out")
    assert str(err.value) == ("this worker cannot rebuild the problem of study 's' here: cannot import model "
                              "/no/such/folder/my_model.py:build: no such file /no/such/folder/my_model.py")
    assert not (tmp_path / "out").exists()


def test_kd_student_takes_both_forms(tmp_path, monkeypatch):
    proj = net_module(tmp_path / "proj" / "my_model.py").parent
    torch.save(import_factory(f"{proj / 'my_model.py'}:build").state_dict(), proj / "w.pt")
    _data(proj / "d.npz")
    write(tmp_path / "students" / "tiny.py", NET.format(width=2))
    monkeypatch.chdir(proj)
    assert KDConfig.from_dict({"student": "../students/tiny.py:make_small"}).student
    with pytest.raises(InputError, match="must be module:factory or path/to/file.py:factory"):
        KDConfig.from_dict({"student": "tiny"})
    with open_problem("my_model:build", "d.npz", weights="w.pt", settings=FAST) as problem:
        assert named_student("../students/tiny.py:make_small", problem.model).conv.out_channels == 2
        assert named_student("my_model:make_small", problem.model).conv.out_channels == 2


# -- the command line, as a new user runs it ----------------------------------------------------

@pytest.mark.slow
def test_compress_with_a_factory_from_the_current_folder(tmp_path):
    """``advisor compress --model my_model:build`` from the folder holding my_model.py, with no
    PYTHONPATH for it: ``python -P`` keeps the current folder off ``sys.path`` (as the ``advisor``
    script does); PYTHONPATH names only this checkout, so the ``advisor`` under test is imported."""
    proj = net_module(tmp_path / "proj" / "my_model.py").parent
    torch.save(import_factory(f"{proj / 'my_model.py'}:build").state_dict(), proj / "w.pt")
    _data(proj / "d.npz")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-P", "-m", "advisor", "compress", "--weights", "w.pt", "--data", "d.npz",
           "--strategy", "FIQ", "--threads", "1"]
    run = subprocess.run([*cmd, "--model", "my_model:build", "--out", str(tmp_path / "out")],
                         cwd=proj, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "model.onnx").is_file()

    bad = subprocess.run([*cmd, "--model", "my_model:biuld", "--out", str(tmp_path / "bad")],
                         cwd=proj, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and not (tmp_path / "bad").exists()
    assert [ln for ln in bad.stderr.splitlines() if ln.startswith("error:")] == [
        f"error: module 'my_model' ({proj / 'my_model.py'}) has no callable 'biuld' (model my_model:biuld); "
        "it defines: Net, build, make_small"]
