"""A BERT sentence encoder in plain torch: what the ``torch-bf16`` backend runs for BERT checkpoints.

sentence-transformers pulls in transformers, scikit-learn and more: about 3.5 s of imports on this machine
before the first vector, which is most of a nightly rerun that embeds a few dozen new passages. A BERT
encoder with mean pooling (all-MiniLM-L6-v2 and its family) is small enough to write out: embeddings,
N post-LayerNorm transformer layers, masked mean pooling, L2 normalisation. Weights load straight from
``model.safetensors``. Only torch is imported (~1 s).

Contract: `BertEncoder.__call__(ids, mask)` takes int64 ``(b, t)`` token ids and attention mask (1 = token,
0 = padding) and returns float32 ``(b, hidden)`` mean-pooled vectors, L2-normalised in the model's dtype when
the checkpoint ends in a Normalize module (as sentence-transformers does). `supports` says whether
a model folder is a plain BERT with mean pooling; anything else goes through sentence-transformers.
The arithmetic follows transformers' ``BertModel`` op for op (the same dtype casts and the same
``scaled_dot_product_attention`` call), so vectors match the sentence-transformers path bit for bit
(checked by a test) and the embedding cache stays valid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def supports(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds a BERT checkpoint in safetensors with mean pooling and nothing after it
    but normalisation (the modules this encoder reproduces)."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
        modules = json.loads((model_dir / "modules.json").read_text())
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    return (config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and (model_dir / "model.safetensors").is_file()
            and kinds in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"])
            and pooling.get("pooling_mode_mean_tokens") is True
            and not any(v for k, v in pooling.items()
                        if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"))


class BertEncoder:
    """BERT + masked mean pooling over a safetensors checkpoint, in ``dtype`` on ``device``."""

    def __init__(self, model_dir: Path, *, dtype: Any, device: str = "cpu") -> None:
        # torch costs seconds to import: only the engines that run a model load it.
        import torch
        from safetensors.torch import load_file

        config = json.loads((model_dir / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        raw = load_file(str(model_dir / "model.safetensors"), device="cpu")
        prefix = "bert." if any(k.startswith("bert.") for k in raw) else ""
        self.w = {k[len(prefix):]: v.to(dtype).to(device) for k, v in raw.items() if k.startswith(prefix)}
        self.dtype, self.device = dtype, device
        modules = json.loads((model_dir / "modules.json").read_text())
        self.normalize = modules[-1].get("type", "").endswith("Normalize")
        self.torch = torch

    def _ln(self, x: Any, name: str) -> Any:
        return self.torch.nn.functional.layer_norm(x, x.shape[-1:], self.w[f"{name}.weight"], self.w[f"{name}.bias"],
                                                  self.eps)

    def _linear(self, x: Any, name: str) -> Any:
        return self.torch.nn.functional.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def __call__(self, ids: Any, mask: Any) -> Any:
        torch, F = self.torch, self.torch.nn.functional
        with torch.inference_mode():
            ids = torch.as_tensor(ids, device=self.device)
            mask = torch.as_tensor(mask, device=self.device)
            b, t = ids.shape
            positions = torch.arange(t, device=self.device).unsqueeze(0)
            x = (self.w["embeddings.word_embeddings.weight"][ids]
                 + self.w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
                 + self.w["embeddings.position_embeddings.weight"][positions])
            x = self._ln(x, "embeddings.LayerNorm")
            # The mask as transformers builds it for sdpa: boolean (True = attend), or none without padding.
            attn_mask = (None if bool(mask.all())
                         else mask[:, None, None, :].to(torch.bool).expand(b, 1, t, t).contiguous())
            d = x.shape[-1] // self.heads
            for i in range(self.layers):
                p = f"encoder.layer.{i}"
                q, k, v = (self._linear(x, f"{p}.attention.self.{n}").view(b, t, self.heads, d).transpose(1, 2)
                           for n in ("query", "key", "value"))
                ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=0.0, scale=d ** -0.5)
                ctx = ctx.transpose(1, 2).reshape(b, t, self.heads * d)
                x = self._ln(self._linear(ctx, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
                h = F.gelu(self._linear(x, f"{p}.intermediate.dense"))
                x = self._ln(self._linear(h, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
            # Masked mean accumulated in float32 and cast back, as sentence-transformers' Pooling does.
            acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
            m = mask.unsqueeze(-1).to(x.dtype)
            pooled = ((x * m).sum(1, dtype=acc) / m.sum(1, dtype=acc).clamp(min=1e-9)).to(x.dtype)
            if self.normalize:  # in the model's dtype, as sentence-transformers' Normalize module does
                pooled = F.normalize(pooled, p=2, dim=1)
            return pooled.float().cpu().numpy()
