"""Every measured model is an Optuna artifact: the file that was measured is the file that ships.

Each trial's compressed ONNX model is uploaded to an artifact store next to the study
(:func:`optuna.artifacts.upload_artifact`), with its sha256 in the trial's user attributes; the
advice copies the pick *from its artifact* and checks the sha256 (nothing is rebuilt after the
search), and a measuring target pulls the models it times from the same store.

Where the store lives (:func:`open_store`):

- ``sqlite:///path/study.db`` or ``journal:///path/study.log``: a
  :class:`optuna.artifacts.FileSystemArtifactStore` in ``path/study.db.artifacts/`` beside it;
- an RDB URL (``postgresql://...``): :class:`RDBArtifactStore`, a table ``advisor_artifacts`` in the
  same database, so one URL is all a fleet worker or a measuring target needs;
- ``--artifacts DIR``: a file-system store in ``DIR`` (a folder every machine mounts).

Kept free of torch, scikit-learn and Textual: a measuring target imports it.

Example:
    >>> store = open_store("sqlite:////tmp/x/study.db")  # doctest: +SKIP
    >>> ref = upload(trial, Path("model.onnx"), store)  # doctest: +SKIP
    >>> download(store, ref, Path("/tmp/copy.onnx"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

from advisor.errors import InputError

__all__ = ["ArtifactRef", "RDBArtifactStore", "open_store", "upload", "download", "remove", "sha256_of",
           "ArtifactError", "CHUNK_BYTES"]

CHUNK_BYTES = 8 << 20  # rows of 8 MB: a 21 MB EfficientNet is three rows


class ArtifactError(InputError):
    """An artifact is missing or its content is not what was measured (sha256 mismatch)."""


@dataclass(frozen=True)
class ArtifactRef:
    """One stored model: its artifact id, the sha256 of its bytes, its size."""

    artifact_id: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArtifactRef:
        return cls(str(d["artifact_id"]), str(d["sha256"]), int(d["size"]))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class RDBArtifactStore:
    """An Optuna artifact store in a table of the study's own SQL database (any SQLAlchemy URL),
    in rows of :data:`CHUNK_BYTES`: the fleet's PostgreSQL server is then the only thing a worker
    or a measuring target must reach."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa  # an Optuna dependency

        self._sa = sa
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        meta = sa.MetaData()
        self.table = sa.Table(
            "advisor_artifacts", meta,
            sa.Column("artifact_id", sa.String(64), primary_key=True),
            sa.Column("chunk", sa.Integer, primary_key=True),
            sa.Column("data", sa.LargeBinary, nullable=False),
        )
        meta.create_all(self.engine, checkfirst=True)

    def open_reader(self, artifact_id: str) -> BinaryIO:
        t = self.table
        with self.engine.connect() as c:
            rows = c.execute(self._sa.select(t.c.data).where(t.c.artifact_id == artifact_id)
                             .order_by(t.c.chunk)).all()
        if not rows:
            raise ArtifactNotFound(f"artifact {artifact_id} not found")
        return io.BytesIO(b"".join(bytes(r[0]) for r in rows))

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        with self.engine.begin() as c:
            c.execute(self.table.delete().where(self.table.c.artifact_id == artifact_id))
            k = 0
            while True:
                block = content_body.read(CHUNK_BYTES)
                if not block and k:
                    break
                c.execute(self.table.insert().values(artifact_id=artifact_id, chunk=k, data=block))
                k += 1
                if not block:
                    break

    def remove(self, artifact_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(self.table.delete().where(self.table.c.artifact_id == artifact_id))


def open_store(storage_url: str, location: str | Path | None = None):
    """The artifact store for a study at ``storage_url`` (see the module docstring); ``location``
    (``--artifacts``): a folder to use instead."""
    if location is not None:
        Path(location).mkdir(parents=True, exist_ok=True)
        return FileSystemArtifactStore(str(location))
    for prefix in ("sqlite:///", "journal:///"):
        if storage_url.startswith(prefix):
            db = Path(storage_url[len(prefix):])
            folder = db.parent / f"{db.name}.artifacts"
            folder.mkdir(parents=True, exist_ok=True)
            return FileSystemArtifactStore(str(folder))
    try:
        return RDBArtifactStore(storage_url)
    except Exception as e:  # noqa: BLE001 - SQLAlchemy's many error types: one line for the user
        raise InputError(f"cannot open an artifact store in {storage_url}: {str(e).splitlines()[0][:200]}; "
                         "give --artifacts DIR (a folder every machine of the study mounts)") from None


def upload(study_or_trial: optuna.Study | optuna.Trial, path: Path, store, *,
           storage: optuna.storages.BaseStorage | None = None) -> ArtifactRef:
    """Store the file at ``path`` as an artifact of the trial (or study); returns its reference."""
    artifact_id = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study_or_trial,
                                  storage=storage)
    return ArtifactRef(artifact_id, sha256_of(path), Path(path).stat().st_size)


def download(store, ref: ArtifactRef, dst: Path, what: str = "model") -> Path:
    """The artifact ``ref`` written to ``dst`` after its sha256 was checked; raises
    :class:`ArtifactError` naming the artifact when it is gone or its bytes differ."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    try:
        download_artifact(artifact_store=store, artifact_id=ref.artifact_id, file_path=str(tmp))
    except ArtifactNotFound:
        raise ArtifactError(f"{what} artifact {ref.artifact_id} is not in the artifact store (removed, or another "
                            "store): it cannot be shipped or measured") from None
    got = sha256_of(tmp)
    if got != ref.sha256:
        tmp.unlink(missing_ok=True)
        raise ArtifactError(f"{what} artifact {ref.artifact_id}: sha256 {got[:16]}... does not match the measured "
                            f"{ref.sha256[:16]}...: refused")
    tmp.replace(dst)
    return dst


def remove(store, artifact_id: str) -> bool:
    """Remove one artifact; ``False`` when it was already gone."""
    try:
        store.remove(artifact_id)
        return True
    except (ArtifactNotFound, FileNotFoundError):
        return False

