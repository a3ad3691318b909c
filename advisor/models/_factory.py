"""Finding the user's own model factory: ``module:factory`` or ``path/to/file.py:factory``.

The two forms, as tools that take ``module:callable`` (uvicorn, gunicorn, flask) resolve them:

- ``module:factory`` (dotted allowed, ``pkg.mod:build``): ``module`` is looked for in the current
  working folder first, as ``python -m`` would, then on the normal import path. The current folder
  is not left on ``sys.path`` afterwards.
- ``path/to/file.py:factory`` (absolute, relative to the current folder, or ``~/...``): that file,
  imported by path under a name of its own (two ``model.py`` in different folders do not collide).
  A file inside a package (its folder holds ``__init__.py``) is imported as that package's module,
  so its relative imports work.

While the module executes, and while its factory runs, the folder it was found in is first on
``sys.path``, so its own sibling imports (``from layers import Block``) work as they would under
``python model.py``; that entry is removed afterwards (modules imported meanwhile stay imported,
as always in Python). A module name already imported from another file is never silently swapped
for the current folder's, and a module loaded earlier from another folder is never reused.

Example:
    >>> build, origin = resolve_factory("my_model:build")  # doctest: +SKIP
    >>> origin  # doctest: +SKIP
    PosixPath('/home/me/project/my_model.py')
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from advisor.errors import InputError

__all__ = ["FACTORY_FORMS", "FactorySpec", "parse_factory", "is_factory_spec", "resolve_factory", "anchored_spec"]

FACTORY_FORMS = "module:factory or path/to/file.py:factory"

# top-level module name -> the folder we imported it from (only modules this resolver loaded itself)
_LOADED: dict[str, Path] = {}


@dataclass(frozen=True)
class FactorySpec:
    """A parsed factory spec: exactly one of ``module`` (dotted name) and ``file`` (path as written)."""

    text: str
    attr: str
    module: str | None = None
    file: str | None = None


def parse_factory(spec: str) -> FactorySpec | None:
    """``spec`` as a factory spec, or ``None`` when it is not one (``builtin:NAME``, a plain path).

    >>> parse_factory("pkg.mod:build").module, parse_factory("../m.py:build").file
    ('pkg.mod', '../m.py')
    >>> parse_factory("builtin:digits-cnn") is None, parse_factory("model.onnx") is None
    (True, True)
    """
    if spec.startswith("builtin:"):
        return None
    left, sep, attr = spec.rpartition(":")  # rpartition: a Windows drive letter keeps its colon
    if not sep or not left or not attr.isidentifier():
        return None
    if left.lower().endswith(".py"):
        return FactorySpec(spec, attr, file=left)
    if all(part.isidentifier() for part in left.split(".")):
        return FactorySpec(spec, attr, module=left)
    return None


def is_factory_spec(spec: str) -> bool:
    """Whether ``spec`` names a PyTorch factory (either form), by its shape alone."""
    return parse_factory(spec) is not None


def resolve_factory(spec: str, what: str = "model") -> tuple[Callable[[], Any], Path | None]:
    """The callable ``spec`` names and the file it was found in (``None`` if the module has none).

    The callable runs with the module's folder first on ``sys.path`` (see the module docstring).

    Raises:
        InputError: one line naming what was tried -- the folder searched, the file path, or the
            callables the module does define.
    """
    p = parse_factory(spec)
    if p is None:
        raise InputError(f"{what} {spec}: expected {FACTORY_FORMS}")
    if p.file is not None:
        mod, origin, folder, shown = _import_file(p, what)
    else:
        mod, origin, folder = _import_module(p.module, Path.cwd().resolve(), p, what)
        shown = f"module '{p.module}' ({_where(mod)})"
    factory = getattr(mod, p.attr, None)
    if factory is None or not callable(factory):
        own = _defined_callables(mod)
        listed = f"it defines: {', '.join(own[:12])}{', ...' if len(own) > 12 else ''}" if own else \
            "it defines no public callables"
        raise InputError(f"{shown} has no callable '{p.attr}' ({what} {spec}); {listed}")
    if folder is None:
        return factory, origin

    @functools.wraps(factory)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _first_on_path(folder):
            return factory(*args, **kwargs)

    return call, origin


def anchored_spec(spec: str) -> str:
    """``spec`` made independent of the current folder, for a worker that resolves it elsewhere.

    A ``file.py:factory`` becomes absolute; a ``module:factory`` the current folder holds becomes
    that file's absolute path (a module of a regular package keeps its package: see the module
    docstring); a module from the import path (an installed package) stays as written.
    """
    p = parse_factory(spec)
    if p is None:
        return spec
    if p.file is not None:
        return f"{Path(p.file).expanduser().resolve()}:{p.attr}"
    local = _local_file(p.module, Path.cwd().resolve())
    return spec if local is None else f"{local}:{p.attr}"


# -- the module form ----------------------------------------------------------------------------


def _import_module(name: str, folder: Path, p: FactorySpec, what: str) -> tuple[ModuleType, Path | None, Path | None]:
    """Import ``name`` with ``folder`` searched first; returns the module, its file, and ``folder``
    when the module came from it (else ``None``)."""
    top = name.partition(".")[0]
    importlib.invalidate_caches()  # see files written since the last import
    local = _local_file(top, folder)
    _forget_stale(top, local, folder, p, what)
    was_loaded = top in sys.modules
    with _first_on_path(folder):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (e.name == name or name.startswith(e.name + ".")):
                raise InputError(f"cannot import module '{name}' for {what} {p.text}: "
                                 f"{_not_found(e.name, folder)} (ModuleNotFoundError)") from None
            raise _import_failed(name, what, p.text, e) from None
        except (Exception, SystemExit) as e:  # noqa: BLE001 - any failure while importing is the user's input problem
            raise _import_failed(name, what, p.text, e) from None
    from_folder = _came_from(sys.modules.get(top), top, folder)
    if from_folder and not was_loaded:
        _LOADED[top] = folder
    return mod, _file_of(mod), folder if from_folder else None


def _came_from(top_mod: ModuleType | None, top: str, folder: Path) -> bool:
    """Whether the top-level module ``top_mod`` is ``folder``'s own ``top.py``, ``top/`` package or
    namespace folder (not merely somewhere under it, such as a virtual environment)."""
    f = _file_of(top_mod)
    if f is not None:
        return f in (folder / f"{top}.py", folder / top / "__init__.py")
    return folder / top in [Path(x).resolve() for x in getattr(top_mod, "__path__", None) or []]


def _forget_stale(top: str, local: Path | None, folder: Path, p: FactorySpec, what: str) -> None:
    """Drop a module this resolver loaded from another folder; refuse to shadow any other import."""
    cached = sys.modules.get(top)
    if cached is None:
        return
    cached_file = _file_of(cached)
    if local is not None and cached_file == local:
        return  # the same file, already imported
    if top in _LOADED and (local is not None or _LOADED[top] != folder):
        for key in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
            del sys.modules[key]
        del _LOADED[top]
        return
    if local is not None:
        fix = f"rename it or give the file itself ({local}:{p.attr})" if local.name != "__init__.py" else "rename it"
        raise InputError(f"cannot import module '{p.module}' from {local} for {what} {p.text}: the name '{top}' is "
                         f"already taken by the imported module {_where(cached)}; {fix}")


def _local_file(name: str, folder: Path) -> Path | None:
    """The file of module ``name`` (dotted: through regular packages) in ``folder``, or ``None``."""
    *packages, last = name.split(".")
    d = folder
    for part in packages:
        d = d / part
        if not (d / "__init__.py").is_file():
            return None
    for candidate in (d / f"{last}.py", d / last / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _not_found(missing: str, folder: Path) -> str:
    if "." not in missing:
        return f"no {missing}.py or {missing}/ in {folder} and not on the import path"
    parent, _, last = missing.rpartition(".")
    return f"package '{parent}' ({_where(sys.modules.get(parent))}) has no module '{last}'"


def _import_failed(name: str, what: str, spec: str, e: BaseException) -> InputError:
    try:
        found = importlib.util.find_spec(name)
        origin = f" ({found.origin})" if found is not None and found.origin else ""
    except Exception:  # noqa: BLE001 - only for the message
        origin = ""
    return InputError(f"cannot import module '{name}'{origin} for {what} {spec}: {type(e).__name__}: {one_line(e)}")


# -- the file form ------------------------------------------------------------------------------


def _import_file(p: FactorySpec, what: str) -> tuple[ModuleType, Path, Path, str]:
    path = Path(p.file).expanduser().resolve()
    if not path.is_file():
        raise InputError(f"cannot import {what} {p.text}: no such file {path}")
    root, dotted = _package_of(path)
    if dotted is not None:
        mod, origin, _ = _import_module(dotted, root, FactorySpec(p.text, p.attr, module=dotted), what)
        if origin != path:
            raise InputError(f"cannot import {what} {p.text}: its package name '{dotted}' resolves to {origin}")
        return mod, path, root, f"module '{dotted}' ({path})"
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_advisor_user_{stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    mod = sys.modules.get(name)
    if mod is None:
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise InputError(f"cannot import {what} {p.text}: {path} is not a Python file")
        mod = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = mod  # while it executes too: dataclasses and pickling look it up there
        try:
            with _first_on_path(path.parent):
                loader_spec.loader.exec_module(mod)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - any failure while importing is the user's input problem
            del sys.modules[name]
            raise InputError(f"cannot import file {path} for {what} {p.text}: "
                             f"{type(e).__name__}: {one_line(e)}") from None
    return mod, path, path.parent, str(path)


def _package_of(path: Path) -> tuple[Path, str | None]:
    """For a file inside regular packages: the folder above the top package and the dotted name."""
    parts = [] if path.name == "__init__.py" else [path.stem]
    d = path.parent
    while (d / "__init__.py").is_file() and d.name.isidentifier():
        parts.insert(0, d.name)
        d = d.parent
    if d == path.parent or not all(part.isidentifier() for part in parts):
        return path.parent, None
    return d, ".".join(parts)


# -- shared helpers -----------------------------------------------------------------------------


@contextmanager
def _first_on_path(folder: Path) -> Iterator[None]:
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with suppress(ValueError):  # the code may have removed it itself
            sys.path.remove(entry)  # the first occurrence: ours, unless the code put one before it


def _file_of(mod: ModuleType | None) -> Path | None:
    f = getattr(mod, "__file__", None)
    return Path(f).resolve() if f else None


def _where(mod: ModuleType | None) -> str:
    f = _file_of(mod)
    if f is not None:
        return str(f)
    path = list(getattr(mod, "__path__", []) or [])
    return f"namespace {', '.join(path)}" if path else "built in"


def _defined_callables(mod: ModuleType) -> list[str]:
    """Public functions and classes ``mod`` defines itself (not those it imports)."""
    return sorted(n for n, v in vars(mod).items()
                  if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == mod.__name__)


def one_line(e: BaseException) -> str:
    """The first non-empty line of ``e``'s message (or its type), at most 300 characters."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:300]
