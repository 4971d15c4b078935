"""Embedding backends without a model: CPU feature parsing, `auto` resolution, batching, cache keys."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.embedding.engines import BACKENDS, check_device, normalise_rows, plan_batches, resolve_backend
from tasks.core.embedding.identity import model_key
from tasks.embed import embedding_cache
from tasks.infra.errors import ConfigError
from tasks.infra.machine import CpuFeatures, parse_cpuinfo
from tasks.infra.settings import load_settings

AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni
processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu
"""
VNNI_ONLY = "model name\t: Intel(R) Xeon(R) Platinum 8375C\nflags\t\t: avx512f avx512_vnni\n"
INTEL_AMX = "model name\t: Intel(R) Xeon(R) Platinum 8488C\nflags\t\t: avx512f avx512_vnni amx_bf16 amx_tile amx_int8\n"
OLD = "model name\t: Intel(R) Xeon(R) CPU E5-2680 v4\nflags\t\t: avx2 fma\n"


def test_cpuinfo_reads_the_first_processors_model_and_flags():
    amd = parse_cpuinfo(AMD)
    assert amd.model == "AMD EPYC 9R14"
    assert amd.vnni and amd.avx512_bf16 and not amd.amx_bf16
    amx = parse_cpuinfo(INTEL_AMX)
    assert amx.amx_bf16 and amx.vnni
    old = parse_cpuinfo(OLD)
    assert not (old.vnni or old.avx512_bf16 or old.amx_bf16)
    assert parse_cpuinfo("") == CpuFeatures("", frozenset())


@pytest.mark.parametrize(("cpuinfo", "onnx_ok", "expected"), [
    (INTEL_AMX, True, "torch-bf16"),
    (INTEL_AMX, False, "torch-bf16"),
    (AMD, True, "torch-bf16"),
    (AMD, False, "torch-bf16"),
    (VNNI_ONLY, True, "onnx-int8"),
    (VNNI_ONLY, False, "st-fp32"),
    (OLD, True, "st-fp32"),
])
def test_auto_resolves_from_cpu_features(cpuinfo, onnx_ok, expected):
    assert resolve_backend("auto", features=parse_cpuinfo(cpuinfo), onnx_ok=onnx_ok) == expected


def test_auto_on_cuda_runs_half_precision_and_explicit_names_pass_through():
    for device in ("cuda", "cuda:1"):
        assert resolve_backend("auto", device=device, features=parse_cpuinfo(INTEL_AMX), onnx_ok=True) == "torch-fp16"
    for backend in BACKENDS:
        assert resolve_backend(backend, features=parse_cpuinfo(OLD), onnx_ok=False) == backend
    assert resolve_backend("torch-bf16", device="cuda") == "torch-bf16"
    assert resolve_backend("st-fp32", device="cuda") == "st-fp32"


def test_unknown_backend_onnx_on_cuda_and_fp16_on_a_cpu_are_config_errors():
    with pytest.raises(ConfigError, match="not one of"):
        resolve_backend("onnx-int4")
    with pytest.raises(ConfigError, match="CPU only"):
        resolve_backend("onnx-int8", device="cuda")
    with pytest.raises(ConfigError, match="GPU only"):
        resolve_backend("torch-fp16", device="cpu")


def test_the_device_setting_is_validated(monkeypatch):
    for good in ("cpu", "cuda", "cuda:3"):
        monkeypatch.setenv("THEMESIFT_DEVICE", good)
        assert load_settings().device == good
    for bad in ("gpu", "cuda:x", "CUDA", "mps"):
        monkeypatch.setenv("THEMESIFT_DEVICE", bad)
        with pytest.raises(ConfigError, match="THEMESIFT_DEVICE"):
            load_settings()


def test_a_gpu_torch_cannot_see_is_one_clear_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusal is for machines without one")
    with pytest.raises(ConfigError, match=r"THEMESIFT_DEVICE=cuda:0 but torch .* sees 0 CUDA device"):
        check_device("cuda:0")
    check_device("cpu")  # nothing to check


def test_the_setting_is_validated_and_defaults_to_auto(monkeypatch):
    monkeypatch.delenv("THEMESIFT_EMBED_BACKEND", raising=False)
    assert load_settings().embed_backend == "auto"
    monkeypatch.setenv("THEMESIFT_EMBED_BACKEND", "onnx-int8")
    assert load_settings().embed_backend == "onnx-int8"
    monkeypatch.setenv("THEMESIFT_EMBED_BACKEND", "fast")
    with pytest.raises(ConfigError, match="THEMESIFT_EMBED_BACKEND"):
        load_settings()


def test_cache_folder_is_keyed_by_the_resolved_backend_never_auto(tmp_path, monkeypatch):
    monkeypatch.setenv("THEMESIFT_STATE_DIR", str(tmp_path))
    keys = {}
    for backend in ("auto", *BACKENDS):
        monkeypatch.setenv("THEMESIFT_EMBED_BACKEND", backend)
        keys[backend] = embedding_cache(load_settings()).key
    assert "auto" not in keys["auto"]
    assert keys["auto"] == model_key("all-MiniLM-L6-v2", resolve_backend("auto"))
    assert len({keys[b] for b in BACKENDS}) == len(BACKENDS), "every backend has a folder of its own"
    assert all(keys[b].endswith(f"__{b}") for b in BACKENDS)


def test_plan_batches_covers_every_index_once_in_length_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 257, size=500).tolist()
    batches = plan_batches(lengths, max_batch=64, max_tokens=4096)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(500))
    assert [lengths[i] for i in flat] == sorted(lengths), "batches follow token length, so padding stays small"
    for batch in batches:
        assert 1 <= len(batch) <= 64
        assert len(batch) * max(lengths[i] for i in batch) <= 4096


def test_plan_batches_edge_cases():
    assert plan_batches([], max_batch=8) == []
    assert [b.tolist() for b in plan_batches([300, 5], max_batch=8, max_tokens=100)] == [[1], [0]], \
        "a text longer than the budget still gets a batch of its own"
    assert [len(b) for b in plan_batches([3] * 10, max_batch=4)] == [4, 4, 2]
    with pytest.raises(ValueError):
        plan_batches([1], max_batch=0)


def test_normalise_rows_keeps_zero_rows_and_returns_float32():
    out = normalise_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
