"""Every embedding backend on the real packaged model: agreement with fp32, offline builds, separate caches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.core.embedding.engines import BACKENDS, load_encoder
from tasks.core.embedding.identity import model_key
from tasks.core.embedding.onnx_build import MODEL_FILE, ensure_onnx_model, onnx_model_dir
from tasks.infra.params import RunParams
from tests.integration.conftest import make_workspace
from tests.integration.corpus import write_planted_corpus

pytestmark = pytest.mark.integration
MODEL = "all-MiniLM-L6-v2"
SENTENCES = [
    "I was charged twice for the same order and want a refund.",
    "The password reset email never arrives, so I cannot log in.",
    "Gatsby believed in the green light, the orgastic future that year by year recedes before us.",
    "ok",
    "The committee will meet on Tuesday to discuss the budget for next year's maintenance of the "
    "bridges, roads and public buildings, and to hear residents' complaints about the noise. " * 6,
    "Bonjour, je voudrais changer l'adresse de livraison de ma commande.",
]
# Lowest cosine to the sentence-transformers fp32 vectors each backend must keep, per sentence and on average.
FLOORS = {"onnx-fp32": (0.9999, 0.9999), "torch-bf16": (0.995, 0.998), "onnx-int8": (0.97, 0.985)}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """One folder of built ONNX models for the whole module (each build runs once)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def vectors(models_dir) -> dict[str, np.ndarray]:
    """SENTENCES embedded by every backend."""
    return {b: load_encoder(MODEL, backend=b, threads=2, models_dir=models_dir)(SENTENCES) for b in BACKENDS}


def test_every_backend_gives_unit_float32_vectors(vectors):
    for backend, v in vectors.items():
        assert v.shape == (len(SENTENCES), 384) and v.dtype == np.float32, backend
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4, err_msg=backend)


@pytest.mark.parametrize("backend", sorted(FLOORS))
def test_backends_agree_with_sentence_transformers_fp32(vectors, backend):
    cosine = (vectors[backend] * vectors["st-fp32"]).sum(axis=1)
    floor_each, floor_mean = FLOORS[backend]
    assert cosine.min() >= floor_each and cosine.mean() >= floor_mean, cosine.round(5)


def test_length_bucketing_keeps_each_vector_with_its_text(models_dir, vectors):
    encode = load_encoder(MODEL, backend="onnx-int8", threads=2, models_dir=models_dir, batch_size=2)
    shuffled = [5, 3, 0, 4, 1, 2]
    again = encode([SENTENCES[i] for i in shuffled])
    np.testing.assert_allclose(again, vectors["onnx-int8"][shuffled], atol=1e-5)


def test_onnx_builds_are_cached_once_and_leave_no_temp_folders(models_dir, vectors):
    for int8 in (False, True):
        folder = onnx_model_dir(models_dir, MODEL, int8=int8)
        model = folder / MODEL_FILE
        stamp = model.stat().st_mtime_ns
        assert ensure_onnx_model(Path("/nonexistent"), models_dir, MODEL, int8=int8) == model, \
            "a built model is reused without looking at the source again"
        assert model.stat().st_mtime_ns == stamp and (folder / "build.json").is_file()
    assert not [p for p in models_dir.iterdir() if p.name.startswith(".")], "no half-built temp folders remain"


def test_switching_backend_never_mixes_vectors(prefect_harness, tmp_path):
    """Same state folder, two backends: the second embeds everything again into its own folder."""
    from flows.recluster import recluster

    params = RunParams(min_cluster_size=10, min_subcluster_size=4)
    with pytest.MonkeyPatch.context() as mp:
        ws = make_workspace(tmp_path, mp)
        write_planted_corpus(ws.bucket)
        runs = {}
        for backend in ("st-fp32", "onnx-int8", "st-fp32"):
            mp.setenv("THEMESIFT_EMBED_BACKEND", backend)
            result = recluster(params=params)
            runs.setdefault(backend, []).append(ws.manifest(result["run_id"])["counts"])
    first, again = runs["st-fp32"]
    (int8,) = runs["onnx-int8"]
    assert first["chunks_embedded"] > 0 and first["chunks_cached"] == 0
    assert int8["chunks_embedded"] == first["chunks_embedded"] and int8["chunks_cached"] == 0, \
        "no st-fp32 vector is reused by onnx-int8"
    assert again["chunks_embedded"] == 0, "switching back reuses st-fp32's own vectors"
    folders = {p.name for p in (ws.state / "embeddings").iterdir()}
    assert folders == {model_key(MODEL, "st-fp32"), model_key(MODEL, "onnx-int8")}


def test_plain_torch_bert_gives_the_sentence_transformers_bf16_vectors_bit_for_bit():
    """torch-bf16 skips importing sentence-transformers for BERT models; the cache must not notice."""
    import torch

    from tasks.core.embedding.bert_torch import BertEncoder, supports
    from tasks.core.embedding.engines import TokenBatcher, batched_encoder, load_sentence_transformer
    from tasks.core.embedding.identity import resolve_model

    model_dir = Path(resolve_model(MODEL))
    assert supports(model_dir)
    batcher = TokenBatcher(model_dir, 4)  # several padded batches of different widths
    plain = batched_encoder(batcher, BertEncoder(model_dir, dtype=torch.bfloat16))(SENTENCES)
    st = load_sentence_transformer(str(model_dir), MODEL, "cpu").to(torch.bfloat16).eval()

    def st_forward(ids, mask):
        features = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                    "token_type_ids": torch.zeros_like(torch.from_numpy(ids))}
        with torch.inference_mode():
            return st(features)["sentence_embedding"].float().numpy()

    reference = batched_encoder(batcher, st_forward)(SENTENCES)
    np.testing.assert_array_equal(plain, reference)


def test_the_gpu_half_precision_path_agrees_with_fp32_when_run_on_the_cpu():
    """torch-fp16 is the GPU's backend; its code (dtype casts, pooling, normalising) is the same on any device,
    so it is checked here on the CPU, where torch runs float16 too (slowly)."""
    import torch

    from tasks.core.embedding.engines import torch_half_encoder
    from tasks.core.embedding.identity import resolve_model

    fp32 = load_encoder(MODEL, backend="st-fp32", threads=2)(SENTENCES)
    half = torch_half_encoder(resolve_model(MODEL), MODEL, device="cpu", batch_size=4, dtype=torch.float16)(SENTENCES)
    assert half.dtype == np.float32 and half.shape == fp32.shape
    cosine = (half * fp32).sum(axis=1)
    assert cosine.min() >= 0.9995, cosine.round(6)


def test_plain_torch_bert_declines_models_it_does_not_reproduce(tmp_path):
    from tasks.core.embedding.bert_torch import supports
    from tasks.core.embedding.identity import resolve_model

    source = Path(resolve_model(MODEL))
    for name in ("config.json", "modules.json"):
        (tmp_path / name).write_text((source / name).read_text())
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        '{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert not supports(tmp_path), "CLS pooling goes through sentence-transformers"
