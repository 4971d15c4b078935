"""Build the ONNX models of the ``onnx-fp32`` and ``onnx-int8`` embedding backends, offline, once.

Recipe (``RECIPE``; a new recipe gets a new folder):

1. Export the model's transformer with mean pooling inside the graph (inputs ``input_ids`` and
   ``attention_mask``, output the pooled ``sentence_embedding``) with torch's TorchScript exporter.
   Attention is traced in the classic BERT shape (scores divided by sqrt(head size), additive
   ``(1 - mask) * -10000``) so ONNX Runtime's transformer optimizer recognises and fuses it.
2. Fuse with ``onnxruntime.transformers.optimizer`` (Attention, EmbedLayerNormalization,
   SkipLayerNormalization, BiasGelu): fewer, larger kernels.
3. For int8: dynamic quantisation of the MatMul and Attention weights to int8 **per output channel**
   (per-tensor scales measured mean cosine 0.92 to fp32 on real chunks; per-channel 0.993). The FFN
   down-projections of the first three layers (``FP32_NODES``, whose GELU outputs have the widest
   range; found by quantising all but one MatMul at a time) stay float32, as do the embedding table and
   LayerNorms: on Banking77 that lifts mean cosine 0.993 -> 0.997 and theme NMI to the fp32 run
   0.945 -> 0.954, for ~13 % of the int8 speed.

Built under a temp folder next to the target and renamed into place, so a killed build leaves nothing
half-made and two processes building at once both end with one complete folder. Nothing is downloaded:
the model loads from its local folder.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.core.embedding.identity import model_key
from tasks.infra.errors import ModelError

RECIPE = "v2"
FP32_NODES = tuple(f"/encoder/layer.{i}/output/dense/MatMul" for i in range(3))
MODEL_FILE = "model.onnx"
_ATTENTION_NAME = "themesift_onnx_export"


def onnx_model_dir(models_dir: Path, name: str, *, int8: bool) -> Path:
    """Folder of one built model: ``<models_dir>/<model_key>__<recipe>/``."""
    return models_dir / f"{model_key(name, 'onnx-int8' if int8 else 'onnx-fp32')}__{RECIPE}"


def ensure_onnx_model(model_dir: Path, models_dir: Path, name: str, *, int8: bool) -> Path:
    """Path of the built ONNX model, building it first (atomically) when it is not there yet.

    Raises:
        ModelError: when onnxruntime/onnx are missing or the model cannot be exported.
    """
    target = onnx_model_dir(models_dir, name, int8=int8)
    if (target / MODEL_FILE).is_file():
        return target / MODEL_FILE
    try:
        import onnx  # noqa: F401 - fail early with an install hint
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ModelError("the onnx-* embed backends need onnxruntime and onnx (pip install onnxruntime onnx); "
                         "or set THEMESIFT_EMBED_BACKEND=st-fp32") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        build_onnx_model(model_dir, work, int8=int8)
        os.chmod(work, 0o755)
        try:
            os.rename(work, target)
        except OSError:
            if not (target / MODEL_FILE).is_file():  # not a concurrent build that finished first
                raise
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - exporter/optimizer failures all have the same fix
        raise ModelError(f"cannot build the ONNX model for {name!r} ({type(exc).__name__}: {str(exc)[:200]}); "
                         "set THEMESIFT_EMBED_BACKEND=st-fp32") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / MODEL_FILE


def build_onnx_model(model_dir: Path, out_dir: Path, *, int8: bool) -> Path:
    """Export, fuse and (for int8) quantise the model into ``out_dir``; returns the model file."""
    with _quiet_tools():
        return _build(model_dir, out_dir, int8=int8)


@contextmanager
def _quiet_tools() -> Iterator[None]:
    """Silence the exporter's tracer warnings and the quantiser's root-logger advice during a build."""
    root = logging.getLogger()
    advice = _DropRecords()
    root.addFilter(advice)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(advice)


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _build(model_dir: Path, out_dir: Path, *, int8: bool) -> Path:
    config = transformer_config(model_dir)
    exported = out_dir / "exported.onnx"
    export_onnx(model_dir, exported)
    fused = out_dir / ("fused.onnx" if int8 else MODEL_FILE)
    # ONNX Runtime is heavy and optional: only the onnx-* engines load it.
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(exported), model_type="bert", num_heads=config["num_attention_heads"],
                               hidden_size=config["hidden_size"], opt_level=0)
    optimized.save_model_to_file(str(fused))
    exported.unlink()
    if int8:
        # ONNX Runtime is heavy and optional: only the onnx-* engines load it.
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fused), str(out_dir / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=list(FP32_NODES),
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        fused.unlink()
    (out_dir / "build.json").write_text(json.dumps(build_record(model_dir, int8=int8), indent=2))
    return out_dir / MODEL_FILE


def transformer_config(model_dir: Path) -> dict:
    """The transformer's ``config.json``, checked to be a mean-pooled BERT the exporter handles.

    Raises:
        ModelError: for a model the ONNX recipe does not cover (other architectures, CLS pooling).
    """
    path = transformer_dir(model_dir) / "config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    pooling = pooling_config(model_dir)
    if config.get("model_type") != "bert" or not pooling.get("pooling_mode_mean_tokens"):
        raise ModelError(f"the onnx-* backends cover mean-pooled BERT models; {model_dir} is "
                         f"{config.get('model_type', 'unknown')!r} - set THEMESIFT_EMBED_BACKEND=st-fp32")
    return config


def transformer_dir(model_dir: Path) -> Path:
    """Folder of the Transformer module inside a sentence-transformers folder."""
    return model_dir / _module_path(model_dir, "Transformer", default="")


def pooling_config(model_dir: Path) -> dict:
    """The Pooling module's config (empty when the folder has none)."""
    path = model_dir / _module_path(model_dir, "Pooling", default="1_Pooling") / "config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _module_path(model_dir: Path, kind: str, default: str) -> str:
    modules = model_dir / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            if module.get("type", "").endswith(f".{kind}"):
                return module.get("path", default)
    return default


def export_onnx(model_dir: Path, path: Path) -> None:
    """Trace transformer + mean pooling to ONNX (opset 17, dynamic batch and length)."""
    # torch and transformers cost seconds to import: only an ONNX build needs them here.
    import torch
    from transformers import AttentionInterface, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    AttentionInterface.register(_ATTENTION_NAME, _classic_attention)
    model = AutoModel.from_pretrained(str(transformer_dir(model_dir)), attn_implementation=_ATTENTION_NAME).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            _mean_pooled(model), (ids, torch.ones_like(ids)), str(path), dynamo=False, opset_version=17,
            input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "sentence_embedding": {0: "batch"}})


def _classic_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Eager attention traced in the shape ONNX Runtime's fusion matches (divide, then add the mask)."""
    # torch costs seconds to import: only the engines that run a model load it.
    import torch

    scores = torch.matmul(query, key.transpose(2, 3)) / math.sqrt(query.size(-1))
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = torch.softmax(scores, dim=-1)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def _mean_pooled(bert):
    """Wrap a BertModel as embeddings + encoder with the classic additive mask, then masked mean pooling."""
    # torch costs seconds to import: only the engines that run a model load it.
    import torch

    class MeanPooled(torch.nn.Module):
        """The traced module: (input_ids, attention_mask) -> mean-pooled hidden states."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
            additive = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * -10000.0
            hidden = self.bert.encoder(hidden, attention_mask=additive).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    return MeanPooled(bert)


def build_record(model_dir: Path, *, int8: bool) -> dict:
    """What a build was made from (written as ``build.json`` beside the model)."""
    # ONNX Runtime and torch cost seconds to import: only an ONNX build needs them.
    import onnxruntime
    import torch

    return {"recipe": RECIPE, "int8": int8, "source": str(model_dir), "onnxruntime": onnxruntime.__version__,
            "torch": torch.__version__}
