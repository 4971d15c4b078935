"""Embedding backends: one contract (texts -> float32 unit vectors), several engines behind one setting.

=============  ==========================================================================================
backend        what runs
=============  ==========================================================================================
``st-fp32``    sentence-transformers in torch float32: the reference every other backend is measured to.
``onnx-fp32``  ONNX Runtime on a graph exported locally from the model (attention, GELU, LayerNorm fused).
``onnx-int8``  the same graph with its weights quantised to int8 per output channel, activations
               quantised on the fly (dynamic quantisation), one text per forward pass so a text's
               vector never depends on its batch-mates; the embedding table stays float32.
``torch-bf16`` the model cast to bfloat16 (fast only with AMX or avx512_bf16); BERT checkpoints run on a
               plain-torch encoder (`tasks.core.embedding.bert_torch`) with identical vectors and a 3.5 s faster start.
``torch-fp16`` the same in float16, on a GPU only (tensor cores on every CUDA GPU since Volta; bf16 needs
               Ampere or later, and fp16 keeps 3 more mantissa bits): ``THEMESIFT_DEVICE=cuda``.
=============  ==========================================================================================

``auto`` resolves to a concrete backend at run time from the device and the CPU's features (read from
``/proc/cpuinfo``, never hard-coded): ``cuda`` -> ``torch-fp16`` on the GPU; a CPU with bf16 instructions
(AMX or avx512_bf16) -> ``torch-bf16``; else a CPU with VNNI and ONNX Runtime installed -> ``onnx-int8``;
anything else -> ``st-fp32``. On an AMD EPYC (avx512_bf16 + VNNI, no AMX) torch-bf16 was as fast on
240-token chunks as the int8 recipe that holds the theme-agreement bar, with far closer vectors
(cosine 0.9999 vs 0.997; Banking77 theme NMI to fp32 0.98 vs 0.95): docs/benchmarks.md. The resolved
name, never ``auto``, keys the embedding cache, so switching backends never mixes their vectors.

The ONNX models are built once per state folder under ``<state>/models/<model_key>/`` (see
`tasks.core.embedding.onnx_build`), offline, from the packaged model. Every non-reference backend tokenises with the
model's own ``tokenizer.json`` and batches by token length (`plan_batches`) so padding stays small.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tasks.core.embedding.identity import BACKEND, resolve_model
from tasks.infra.errors import ConfigError, ModelError
from tasks.infra.machine import CpuFeatures, cpu_features, default_threads

BACKENDS = ("st-fp32", "onnx-fp32", "onnx-int8", "torch-bf16")  # every one runs on a CPU
GPU_BACKENDS = ("torch-fp16",)
BACKEND_CHOICES = ("auto", *BACKENDS, *GPU_BACKENDS)
REFERENCE_BACKEND = "st-fp32"
MAX_BATCH_TOKENS = 16384  # padded tokens per forward pass: 64 chunks of 256, or many more short queries
Encoder = Callable[[Sequence[str]], np.ndarray]
log = logging.getLogger("themesift")


def onnxruntime_available() -> bool:
    """Whether ONNX Runtime (and the onnx package the build needs) can be imported."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def resolve_backend(requested: str, *, device: str = "cpu", features: CpuFeatures | None = None,
                    onnx_ok: bool | None = None) -> str:
    """The concrete backend for a setting value (``auto`` or a backend name) on this machine.

    Raises:
        ConfigError: for an unknown name, an ONNX backend asked to run on ``cuda`` or a GPU one on the CPU.
    """
    if requested not in BACKEND_CHOICES:
        raise ConfigError(f"THEMESIFT_EMBED_BACKEND={requested!r} is not one of {', '.join(BACKEND_CHOICES)}")
    if device != "cpu" and requested.startswith("onnx-"):
        raise ConfigError(f"embed backend {requested} runs on the CPU only; set THEMESIFT_DEVICE=cpu or "
                          "THEMESIFT_EMBED_BACKEND=st-fp32 (or auto) for a GPU")
    if device == "cpu" and requested in GPU_BACKENDS:
        raise ConfigError(f"embed backend {requested} runs on a GPU only; set THEMESIFT_DEVICE=cuda, or choose "
                          f"one of {', '.join(BACKENDS)} for the CPU")
    if requested != "auto":
        return requested
    if device != "cpu":
        return "torch-fp16"  # half precision on the GPU's tensor cores: vectors within cosine 0.9999 of fp32
    features = features or cpu_features()
    onnx_ok = onnxruntime_available() if onnx_ok is None else onnx_ok
    if features.amx_bf16 or features.avx512_bf16:
        return "torch-bf16"  # bf16 dot products in hardware: 1.6x fp32 on AVX-512 alone, more with AMX tiles
    if features.vnni and onnx_ok:
        return "onnx-int8"  # int8 dot products without bf16 ones (docs/benchmarks.md)
    return REFERENCE_BACKEND


def plan_batches(lengths: Sequence[int], *, max_batch: int, max_tokens: int = MAX_BATCH_TOKENS) -> list[np.ndarray]:
    """Group text indices into forward passes of similar token length, so padding stays small.

    Indices are sorted by length (stable), then cut into runs whose padded size (count x longest)
    stays within ``max_tokens`` and whose count stays within ``max_batch``. Every index appears
    exactly once; a single text longer than ``max_tokens`` gets a batch of its own.
    """
    if max_batch < 1 or max_tokens < 1:
        raise ValueError("max_batch and max_tokens must be >= 1")
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        longest = lengths[order[end - 1]]
        if end - start > max_batch or (end - start) * longest > max_tokens and end - start > 1:
            batches.append(order[start : end - 1])
            start = end - 1
    if start < len(order):
        batches.append(order[start:])
    return batches


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length (zero rows stay zero)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


class TokenBatcher:
    """Tokenises with the model's ``tokenizer.json`` (truncated to its max length, unpadded) and pads per batch."""

    def __init__(self, model_dir: Path, max_batch: int, max_tokens: int = MAX_BATCH_TOKENS) -> None:
        # tokenizers loads a Rust extension: only token-unit chunking and ONNX backends need it.
        from tokenizers import Tokenizer

        path = model_dir / "tokenizer.json"
        if not path.is_file():
            raise ModelError(f"model folder {model_dir} has no tokenizer.json; use THEMESIFT_EMBED_BACKEND=st-fp32")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.no_padding()  # the packaged file pads to a fixed 128; we pad per batch instead
        self.tokenizer.enable_truncation(max_seq_length(model_dir))
        self.max_batch, self.max_tokens = max_batch, max_tokens

    def batches(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(row indices, input_ids, attention_mask) per forward pass; int64 arrays, right-padded with 0."""
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        out = []
        for rows in plan_batches(lengths, max_batch=self.max_batch, max_tokens=self.max_tokens):
            width = max(lengths[i] for i in rows)
            ids = np.zeros((len(rows), width), np.int64)
            mask = np.zeros((len(rows), width), np.int64)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encodings[i].ids
                mask[r, : lengths[i]] = 1
            out.append((rows, ids, mask))
        return out


def max_seq_length(model_dir: Path) -> int:
    """The sentence-transformers ``max_seq_length`` of a model folder (512 when it does not say)."""
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("max_seq_length") or 512)
    return 512


def batched_encoder(batcher: TokenBatcher, forward: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Encoder:
    """An `Encoder` that runs ``forward(ids, mask) -> pooled vectors`` over length-bucketed batches."""

    def encode(texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), np.float32)
        parts = [(rows, forward(ids, mask)) for rows, ids, mask in batcher.batches(texts)]
        out = np.empty((len(texts), parts[0][1].shape[1]), np.float32)
        for rows, vectors in parts:
            out[rows] = vectors
        return normalise_rows(out)

    return encode


def load_sentence_transformer(model_dir: str, name: str, device: str):
    """A `SentenceTransformer` from a local folder (or hub name with a warm cache), errors translated."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub at run time
    # sentence-transformers (and transformers) cost ~9 s to import cold: only the st-fp32 engine loads them.
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress bar and log lines cover the stage
    try:
        return SentenceTransformer(model_dir, device=device)
    except Exception as exc:  # noqa: BLE001 - any load failure has the same fix
        raise ModelError(
            f"cannot load embedding model {name!r} ({type(exc).__name__}: {str(exc)[:200]}); set THEMESIFT_MODEL "
            "to a local sentence-transformers folder, or unset it to use the packaged all-MiniLM-L6-v2"
        ) from None


def st_encoder(model_dir: str, name: str, *, device: str, batch_size: int) -> Encoder:
    """``st-fp32``: sentence-transformers' own ``encode`` (it sorts by length itself)."""
    model = load_sentence_transformer(model_dir, name, device)

    def encode(texts: Sequence[str]) -> np.ndarray:
        vectors = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                               normalize_embeddings=False, show_progress_bar=False)
        return normalise_rows(vectors)

    return encode


def torch_half_encoder(model_dir: str, name: str, *, device: str, batch_size: int, dtype: Any) -> Encoder:
    """``torch-bf16`` / ``torch-fp16``: the model in ``dtype`` (torch.bfloat16 or torch.float16) over
    length-bucketed batches.

    A BERT checkpoint with mean pooling (the packaged model) runs on `tasks.core.embedding.bert_torch.BertEncoder`,
    which gives the same vectors bit for bit without importing sentence-transformers (3.5 s saved per run that
    embeds anything); any other model goes through sentence-transformers' modules.
    """
    # torch costs seconds to import (bert_torch imports it too): only the torch-half engines load them.
    import torch

    from tasks.core.embedding.bert_torch import BertEncoder, supports

    batcher = TokenBatcher(Path(model_dir), batch_size)
    if supports(Path(model_dir)):
        try:
            return batched_encoder(batcher, BertEncoder(Path(model_dir), dtype=dtype, device=device))
        except Exception as exc:  # noqa: BLE001 - any load failure has the same fix
            raise ModelError(f"cannot load embedding model {name!r} from {model_dir} ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); set THEMESIFT_MODEL to a sentence-transformers folder") from None
    model = load_sentence_transformer(model_dir, name, device).to(dtype).eval()

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        features = {"input_ids": torch.from_numpy(ids).to(device),
                    "attention_mask": torch.from_numpy(mask).to(device),
                    "token_type_ids": torch.zeros_like(torch.from_numpy(ids)).to(device)}
        with torch.inference_mode():
            return model(features)["sentence_embedding"].float().cpu().numpy()

    return batched_encoder(batcher, forward)


def check_device(device: str) -> None:
    """Fail with the fix when ``device`` names a GPU this process's torch cannot use.

    Raises:
        ConfigError: CUDA asked for but not available (a CPU-only torch build, no driver, or no such index).
    """
    if not device.startswith("cuda"):
        return
    # torch costs seconds to import: only a run asking for a GPU pays it here.
    import torch

    index = int(device.partition(":")[2] or 0)
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ConfigError(f"THEMESIFT_DEVICE={device} but torch {torch.__version__} ({build}) sees "
                          f"{torch.cuda.device_count() if torch.cuda.is_available() else 0} CUDA device(s); install a "
                          "CUDA build of torch on a machine with an NVIDIA driver, or set THEMESIFT_DEVICE=cpu")


def onnx_encoder(onnx_path: Path, model_dir: str, *, batch_size: int, threads: int) -> Encoder:
    """``onnx-*``: an ONNX Runtime session on a built model (inputs ids + mask, output pooled vectors)."""
    # ONNX Runtime is heavy and optional: only the onnx-* engines load it.
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # the fused contrib ops print harmless shape-inference warnings
    try:
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - a broken cached build has one fix
        raise ModelError(f"cannot load the ONNX model {onnx_path} ({type(exc).__name__}: {str(exc)[:200]}); "
                         f"delete {onnx_path.parent} to rebuild it") from None
    batcher = TokenBatcher(Path(model_dir), batch_size)

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    return batched_encoder(batcher, forward)


def load_backend_encoder(name: str, model_dir: str, backend: str, *, device: str = "cpu", batch_size: int = 64,
                         threads: int | None = None, models_dir: Path | None = None) -> Encoder:
    """An `Encoder` for a concrete backend (see `resolve_backend`).

    Args:
        name: the model setting (for messages and cache keys).
        model_dir: where the model loads from (`tasks.core.embedding.identity.resolve_model`).
        backend: a concrete backend name (not ``auto``).
        device: ``cpu``, ``cuda`` or ``cuda:N`` (torch backends only).
        batch_size: most texts per forward pass.
        threads: CPU threads (default: the cores this process may use).
        models_dir: where built ONNX models are cached (``<state>/models``); required for ``onnx-*``.

    Raises:
        ModelError: when the model cannot be loaded or built.
        ConfigError: for an unknown backend, or a GPU device this torch cannot see.
    """
    threads = threads or default_threads()
    if backend in ("st-fp32", "torch-bf16", "torch-fp16"):
        # torch costs seconds to import: only the engines that run a model load it.
        import torch

        torch.set_num_threads(threads)
        check_device(device)
        if backend == "st-fp32":
            return st_encoder(model_dir, name, device=device, batch_size=batch_size)
        dtype = torch.bfloat16 if backend == "torch-bf16" else torch.float16
        return torch_half_encoder(model_dir, name, device=device, batch_size=batch_size, dtype=dtype)
    if backend in ("onnx-fp32", "onnx-int8"):
        # imports the ONNX toolchain: only the onnx-* engines need it.
        from tasks.core.embedding.onnx_build import ensure_onnx_model

        if models_dir is None:
            raise ModelError(f"backend {backend} needs a folder for its built model")
        int8 = backend == "onnx-int8"
        path = ensure_onnx_model(Path(model_dir), models_dir, name, int8=int8)
        # Dynamic int8 scales activations per tensor, i.e. per batch: batch-mates (and their padding) would
        # shift each other's vectors (up to 0.04 per coordinate, measured). One text per pass keeps a text's
        # vector independent of its neighbours and wastes no padding; at 200+ tokens a pass is large enough
        # to keep the int8 kernels busy (measured on par with batches of 64; ~15 % slower on short queries).
        return onnx_encoder(path, model_dir, batch_size=1 if int8 else batch_size, threads=threads)
    raise ConfigError(f"unknown embed backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def load_encoder(name: str, *, device: str = "cpu", batch_size: int = 64, threads: int | None = None,
                 backend: str = BACKEND, models_dir: Path | None = None) -> Encoder:
    """Load a model through one embedding backend and return a function texts -> float32 unit vectors.

    Args:
        name: the model setting (packaged name, local folder or hub name).
        device: ``cpu`` or ``cuda``.
        batch_size: most texts per forward pass.
        threads: CPU threads (default: the cores this process may use).
        backend: a concrete backend (`BACKENDS`); resolve ``auto`` first.
        models_dir: where ONNX builds are cached (``<state>/models``); needed by the ``onnx-*`` backends.

    Raises:
        ModelError: when the model cannot be found, built or loaded (offline hub names fail fast).
    """
    return load_backend_encoder(name, resolve_model(name), backend, device=device, batch_size=batch_size,
                                threads=threads, models_dir=models_dir)
