"""Measure on the target while compressing on a workstation.

A board on the user's desk (a Raspberry-Pi-class box, a Jetson, a small x86) runs
``advisor worker --measure-only --storage URL --device NAME``: it needs only onnxruntime, numpy,
Optuna, PyYAML, psutil and the storage's driver (``pip install 'compression-advisor[target]'``), no
torch, scikit-learn or Textual. The workstation compresses (training, calibration, quantization)
and sends each model to the board to be measured. The channel is the study's own storage:

- **the queue** is an Optuna study named ``advisor-target-NAME``: its user attributes hold the board's
  device profile and a heartbeat (``alive``, refreshed every :data:`HEARTBEAT` seconds); each
  measurement request is an enqueued trial (WAITING) whose user attribute ``request`` says what to
  measure (:class:`Request`);
- **the models and the evaluation data** travel as artifacts of that study (:mod:`advisor.artifacts`),
  checked by sha256 on arrival;
- the board **claims** a request atomically (WAITING -> RUNNING, the step Optuna itself uses to pop
  enqueued trials), measures it, writes the ``result`` (:class:`Result`) and completes the trial;
  while it works it refreshes the trial's ``heartbeat``. A board that restarts puts the requests a
  dead board had claimed back in the queue: no request is lost, and none is measured twice (a
  completed request is never measured again).

What the board measures, with its own numerics: the original and the candidate timed interleaved
in one run (:class:`~advisor.measure.latency.Timer`), the candidate's and the original's per-sample
scores on the requested splits (:mod:`advisor.measure.scores`), and the candidate's peak memory.
The intervals and the verdicts are computed on the workstation from those per-sample figures
(:mod:`advisor.measure.paired`): the board needs no scipy.

Kept free of torch, scikit-learn, scipy and Textual (``tests/test_target.py`` imports it with them blocked).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from advisor.artifacts import ArtifactRef, download, open_store, upload
from advisor.data._dataset import Dataset
from advisor.errors import AdvisorError, InputError
from advisor.measure.latency import Timer, race_resolved, sample_feed
from advisor.measure.scores import OutputScoring, Runner, sample_scores, scales_of
from advisor.storage import open_storage
from advisor.types import LatencyStats, Provenance, TensorSpec

__all__ = ["Request", "Result", "Target", "TargetGone", "serve", "queue_name", "HEARTBEAT", "ALIVE_WITHIN",
           "DEFAULT_WAIT", "ORPHAN_AFTER", "pack_data"]

HEARTBEAT = 2.0  # seconds between a board's heartbeats
ALIVE_WITHIN = 15.0  # a board whose last heartbeat is older is not listening
ORPHAN_AFTER = 10.0  # a claimed request whose heartbeat is older lost its board: back to the queue
DEFAULT_WAIT = 120.0  # how long a workstation waits for a board that went away, by default
_POLL = 0.2


class TargetGone(AdvisorError):
    """The measuring target stopped answering: the study stops cleanly, the rest can resume (exit 4)."""

    exit_code = 4


def queue_name(device: str) -> str:
    return f"advisor-target-{device}"


def _start_command(storage: str, device: str) -> str:
    return f"advisor worker --measure-only --storage {storage} --device {device}"


@dataclass(frozen=True)
class Request:
    """One measurement for the board.

    ``models`` are artifacts (the original first); ``kind`` is ``measure`` (time the original with
    ``models[1]`` interleaved, score it on ``splits``, its peak memory), ``score`` (the scores alone)
    or ``race`` (time all of them together in rounds until the finalists are separated). ``data`` is
    the evaluation data's artifact (an ``.npz``), ``scoring`` each output's metric, ``inputs`` the
    model's input specs (for the timing feed).
    """

    kind: str
    models: tuple[ArtifactRef, ...]
    data: ArtifactRef | None = None
    splits: tuple[str, ...] = ()
    scoring: tuple[tuple[str, str], ...] = ()
    inputs: tuple[tuple[str, tuple[int | None, ...], str], ...] = ()
    threads: int = 1
    spinning: bool = False
    seconds: float = 0.4
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = [m.to_dict() for m in self.models]
        d["data"] = None if self.data is None else self.data.to_dict()
        return d

    @property
    def key(self) -> str:
        """What is measured, not how it is labelled: two requests with one key are one measurement."""
        d = self.to_dict()
        d.pop("label")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:24]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Request:
        return cls(str(d["kind"]), tuple(ArtifactRef.from_dict(m) for m in d["models"]),
                   None if d.get("data") is None else ArtifactRef.from_dict(d["data"]), tuple(d.get("splits", ())),
                   tuple((str(a), str(b)) for a, b in d.get("scoring", ())),
                   tuple((str(n), tuple(s), str(t)) for n, s, t in d.get("inputs", ())), int(d.get("threads", 1)),
                   bool(d.get("spinning", False)), float(d.get("seconds", 0.4)), str(d.get("label", "")))


@dataclass(frozen=True)
class Result:
    """What the board measured: every model's latency (same run), the per-sample scores of the
    original and the candidate per split and output, the candidate's peak memory, and where."""

    latencies: tuple[LatencyStats, ...] = ()
    scores: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)  # split -> who -> output
    peak_memory_bytes: int = -1
    where: Provenance | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"latencies": [x.to_dict() for x in self.latencies], "scores": self.scores,
                "peak_memory_bytes": self.peak_memory_bytes,
                "where": None if self.where is None else self.where.to_dict(), "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        return cls(tuple(LatencyStats.from_dict(x) for x in d.get("latencies", ())), dict(d.get("scores") or {}),
                   int(d.get("peak_memory_bytes", -1)),
                   None if d.get("where") is None else Provenance.from_dict(d["where"]), d.get("error"))


def _open_queue(storage_url: str, device: str, create: bool) -> optuna.Study:
    storage = open_storage(storage_url)
    name = queue_name(device)
    if create:
        return optuna.create_study(storage=storage, study_name=name, load_if_exists=True)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise InputError(f"no measuring target named '{device}' has ever connected to {storage_url}; start one on "
                         f"the device with: {_start_command(storage_url, device)}") from None


class Target:
    """The workstation's handle on a measuring board (see the module docstring).

    Example:
        >>> board = Target.connect("postgresql://advisor@db/advisor", "pi5")  # doctest: +SKIP
        >>> result = board.measure(request)  # doctest: +SKIP
    """

    def __init__(self, storage_url: str, device: str, study: optuna.Study, *, wait: float = DEFAULT_WAIT,
                 artifacts: str | None = None) -> None:
        self.storage_url, self.device, self.study, self.wait = storage_url, device, study, wait
        self.store = open_store(storage_url, artifacts)
        self._uploaded: dict[str, ArtifactRef] = {}

    @classmethod
    def connect(cls, storage_url: str, device: str, *, wait: float = DEFAULT_WAIT,
                artifacts: str | None = None) -> Target:
        """The board named ``device``, if it is listening; raises :class:`InputError` within seconds
        saying how to start it otherwise."""
        study = _open_queue(storage_url, device, create=False)
        target = cls(storage_url, device, study, wait=wait, artifacts=artifacts)
        age = target.silence()
        if age is None or age > ALIVE_WITHIN:
            seen = "never" if age is None else f"{age:.0f} s ago"
            raise InputError(f"measuring target '{device}' is not listening on {storage_url} (last heard {seen}); "
                             f"start it on the device with: {_start_command(storage_url, device)}")
        return target

    def _attrs(self) -> dict[str, Any]:
        return self.study._storage.get_study_user_attrs(self.study._study_id)

    def silence(self) -> float | None:
        """Seconds since the board's last heartbeat (``None``: never)."""
        alive = self._attrs().get("alive")
        return None if alive is None else max(0.0, time.time() - float(alive))

    def profile(self) -> dict[str, Any] | None:
        """The device profile the board measured of itself when it started (a plain mapping)."""
        return self._attrs().get("profile")

    def send(self, path: Path) -> ArtifactRef:
        """Upload a model or data file for the board (once per content)."""
        from advisor.artifacts import sha256_of

        digest = sha256_of(path)
        if digest not in self._uploaded:
            self._uploaded[digest] = upload(self.study, Path(path), self.store)
        return self._uploaded[digest]

    def measure(self, request: Request, on_wait: Callable[[float], None] | None = None) -> Result:
        """Queue ``request`` (or find the same measurement already queued or done: nothing is measured
        twice), wait for the board's result. Raises :class:`TargetGone` when the board is silent for
        longer than ``wait`` seconds (the request stays queued: a restarted board takes it, and the
        same command run again finds its result)."""
        storage = self.study._storage
        key = request.key
        same = [t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get("request_key") == key
                and t.state != TrialState.FAIL]
        if same:
            trial_id = same[-1]._trial_id
        else:
            rid = uuid.uuid4().hex
            self.study.enqueue_trial({}, user_attrs={"request": request.to_dict(), "request_key": key,
                                                     "request_id": rid})
            trial_id = next(t._trial_id for t in reversed(self.study.get_trials(deepcopy=False))
                            if t.user_attrs.get("request_id") == rid)
        while True:
            t = storage.get_trial(trial_id)
            if t.state == TrialState.COMPLETE:
                res = Result.from_dict(t.user_attrs.get("result") or {})
                if res.error:
                    raise InputError(f"the measuring target '{self.device}' could not measure {request.label}: "
                                     f"{res.error}")
                return res
            if t.state == TrialState.FAIL:
                raise InputError(f"the measuring target '{self.device}' failed on {request.label}: "
                                 f"{t.user_attrs.get('error', 'no reason given')}")
            age = self.silence()
            if age is not None and age > self.wait:
                raise TargetGone(f"measuring target '{self.device}' has been silent for {age:.0f} s (waited up to "
                                 f"{self.wait:.0f} s) while measuring {request.label}; the request stays queued: "
                                 f"restart the target ({_start_command(self.storage_url, self.device)}) and run "
                                 "the same command again to resume")
            if on_wait is not None:
                on_wait(age or 0.0)
            time.sleep(_POLL)


# -- the board ---------------------------------------------------------------------------------------


def _arrays(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """The evaluation data file: ``{split: {array name: array}}`` (``SPLIT/NAME`` keys)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as f:
        for k in f.files:
            split, _, name = k.partition("/")
            out.setdefault(split, {})[name] = f[k]
    return out


def pack_data(path: Path, splits: dict[str, Dataset]) -> Path:
    """Write the evaluation splits to one ``.npz`` for the board (``SPLIT/input``, ``SPLIT/labels``,
    ``SPLIT/groups``)."""
    arrays: dict[str, np.ndarray] = {}
    for split, ds in splits.items():
        for k, v in ds.inputs.items():
            arrays[f"{split}/in:{k}"] = v
        if ds.labels is not None:
            arrays[f"{split}/labels"] = ds.labels
        if ds.groups is not None:
            arrays[f"{split}/groups"] = ds.groups
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


def _dataset(arrays: dict[str, np.ndarray]) -> Dataset:
    inputs = {k[3:]: v for k, v in arrays.items() if k.startswith("in:")}
    return Dataset(inputs, arrays.get("labels"), arrays.get("groups"))


class _Board:
    """The measuring side: a local cache of models and data, and the measurements."""

    def __init__(self, store, device: str, cache: Path) -> None:
        self.store, self.device, self.cache = store, device, cache
        self.outputs: dict[tuple[str, str, str], list[np.ndarray]] = {}  # (model, data, split) -> outputs

    def file(self, ref: ArtifactRef, suffix: str) -> Path:
        dst = self.cache / f"{ref.sha256}{suffix}"
        if not dst.is_file():
            download(self.store, ref, dst, what="requested")
        return dst

    def run(self, req: Request) -> Result:
        from advisor.measure.memory import peak_memory_bytes
        from advisor.measure.provenance import this_device

        paths = [self.file(m, ".onnx") for m in req.models]
        where = this_device(self.device, req.threads)
        specs = tuple(TensorSpec(n, tuple(s), t) for n, s, t in req.inputs)
        data = _arrays(self.file(req.data, ".npz")) if req.data is not None else {}
        feed_from = _dataset(data["test"]).inputs if "test" in data else None
        feed = sample_feed(specs, feed_from, batch=1)
        lat: tuple[LatencyStats, ...] = ()
        if req.kind == "race":
            from advisor.measure.latency import race_models

            lat = tuple(race_models(paths, feed, race_resolved, threads=req.threads, spinning=req.spinning,
                                    seconds=req.seconds, device=self.device))
            return Result(lat, {}, -1, where)
        if req.kind == "measure":
            timer = Timer(paths, feed, threads=req.threads, spinning=req.spinning, seconds=req.seconds,
                          device=self.device)
            lat = tuple(timer.rounds().stats())
        scoring = tuple(OutputScoring(n, m, "workstation") for n, m in req.scoring)
        names = tuple(n for n, _ in req.scoring)
        scores: dict[str, dict[str, dict[str, list[float]]]] = {}
        for split in req.splits:
            ds = _dataset(data[split])
            orig = self._outputs(paths[0], req.models[0], req.data, split, ds, names)
            cand = self._outputs(paths[-1], req.models[-1], req.data, split, ds, names)
            scales = scales_of(orig, scoring, names)
            scores[split] = {
                "original": _lists(sample_scores(orig, orig, scoring, names, labels=ds.labels, scales=scales)),
                "candidate": _lists(sample_scores(cand, orig, scoring, names, labels=ds.labels, scales=scales)),
            }
        memory = peak_memory_bytes(paths[-1], req.threads) if req.kind == "measure" else -1
        return Result(lat, scores, memory, where)

    def _outputs(self, path: Path, ref: ArtifactRef, data: ArtifactRef, split: str, ds: Dataset,
                 names: Sequence[str]) -> list[np.ndarray]:
        key = (ref.sha256, data.sha256, split)
        if key not in self.outputs:
            runner = Runner(path)
            outs = runner.run(ds)
            index = {n: k for k, n in enumerate(runner.names)}
            self.outputs[key] = [outs[index[n]] for n in names]
        return self.outputs[key]


def _lists(scores: dict[str, np.ndarray]) -> dict[str, list[float]]:
    return {k: [round(float(x), 7) for x in v] for k, v in scores.items()}


def serve(storage_url: str, device: str, *, profile: Callable[[], dict[str, Any]] | None = None,
          artifacts: str | None = None, once: bool = False, stop: threading.Event | None = None,
          log: Callable[[str], None] = lambda s: None) -> int:
    """Be the measuring target ``device``: register (with ``profile()``'s device profile), keep a
    heartbeat, put back the requests a dead board left claimed, then measure queued requests until
    ``stop`` is set (or the queue is empty, with ``once``). Returns how many requests it measured."""
    study = _open_queue(storage_url, device, create=True)
    storage = study._storage  # claiming a WAITING trial and completing it go through the storage
    study_id = study._study_id
    if profile is not None:
        log(f"profiling {device} ...")
        study.set_user_attr("profile", profile())
    study.set_user_attr("host", socket.gethostname())
    stop = stop or threading.Event()
    me = f"{socket.gethostname()}:{os.getpid()}:{time.time():.0f}"
    current: dict[str, int | None] = {"trial_id": None}

    def beat() -> None:
        while not stop.is_set():
            study.set_user_attr("alive", time.time())
            tid = current["trial_id"]
            if tid is not None:
                storage.set_trial_user_attr(tid, "heartbeat", time.time())
            stop.wait(HEARTBEAT)

    study.set_user_attr("alive", time.time())
    threading.Thread(target=beat, name="advisor-target-heartbeat", daemon=True).start()
    _requeue_orphans(study, storage)
    last_check = time.monotonic()
    store = open_store(storage_url, artifacts)
    done = 0
    with tempfile.TemporaryDirectory(prefix="advisor-target-") as tmp:
        board = _Board(store, device, Path(tmp))
        log(f"measuring target '{device}' listening on {storage_url}")
        while not stop.is_set():
            waiting = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
            claimed = next((t for t in waiting if storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)),
                           None)
            if claimed is None:
                if once:
                    break
                if time.monotonic() - last_check > ORPHAN_AFTER / 2:
                    _requeue_orphans(study, storage)
                    last_check = time.monotonic()
                stop.wait(_POLL)
                continue
            tid = claimed._trial_id
            current["trial_id"] = tid
            storage.set_trial_user_attr(tid, "claimed_by", me)
            storage.set_trial_user_attr(tid, "heartbeat", time.time())
            req = Request.from_dict(claimed.user_attrs["request"])
            log(f"measuring {req.label or req.kind}")
            try:
                result = board.run(req)
            except AdvisorError as e:
                result = Result(error=" ".join(str(e).split()))
            except Exception as e:  # noqa: BLE001 - onnxruntime and numpy errors: reported, the board goes on
                result = Result(error=f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
            storage.set_trial_user_attr(tid, "result", json.loads(json.dumps(result.to_dict())))
            current["trial_id"] = None
            storage.set_trial_state_values(tid, TrialState.COMPLETE, values=[0.0])
            done += 1
    stop.set()
    return done


def _requeue_orphans(study: optuna.Study, storage) -> int:
    """Requests a board claimed and then died on (no heartbeat for :data:`ORPHAN_AFTER` s) go back to
    the queue: nothing lost; a completed request is never measured again."""
    back = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        beat = float(t.user_attrs.get("heartbeat", 0.0))
        if time.time() - beat > ORPHAN_AFTER:
            storage.set_trial_state_values(t._trial_id, TrialState.WAITING)
            back += 1
    return back
