"""Safe file output: atomic writes (temp file + rename), and an output folder that is checked
before any work starts and never aliases the user's input files."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from advisor.errors import OutputError

__all__ = ["prepare_out_dir", "atomic_write_bytes", "atomic_write_text", "atomic_copy", "inside"]


def prepare_out_dir(out: Path | str, inputs: Iterable[Path | str | None] = ()) -> Path:
    """Create ``out`` if needed and prove it writable; refuse if it would overwrite an input file.

    Raises:
        OutputError: not creatable, not writable, full, or it holds one of ``inputs`` as a file
            the advisor writes (``model.onnx`` ...).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-", delete=True) as f:
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise OutputError(f"output folder {out} is not writable: {_reason(e)}") from None
    targets = {(out / n).resolve() for n in ("model.onnx", "nearest.onnx", "advice.json", "advice.md", "pareto.png")}
    for p in inputs:
        if p is None:
            continue
        rp = Path(p).resolve()
        if rp in targets:
            raise OutputError(f"--out {out} would overwrite your input {p}; choose another folder")
    return out


def inside(base: Path, name: str) -> Path:
    """``base / name``, refusing names that leave ``base`` (``..``, absolute paths, separators)."""
    p = (base / name).resolve()
    if p.parent != base.resolve() or name in ("", ".", ".."):
        raise OutputError(f"refusing to write {name!r} outside the output folder {base}")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_next_to(path: Path) -> tuple[int, str]:
    """A temp file in ``path``'s folder with normal permissions (mkstemp makes them 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


@contextlib.contextmanager
def _atomic(path: Path):
    """Yield a binary file that becomes ``path`` (fsynced, renamed) only if the block succeeds."""
    path = Path(path)
    fd, tmp = _temp_next_to(path)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {path}: {_reason(e)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file next to ``path``, fsync, then rename over ``path``."""
    with _atomic(path) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically (never leaves a half-written ``dst``)."""
    with _atomic(dst) as f, open(src, "rb") as s:
        shutil.copyfileobj(s, f, 1 << 20)


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on device"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied"
    return e.strerror or str(e)
