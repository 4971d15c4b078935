"""What this machine offers: CPU features (read at run time, never hard-coded) and the cores we may use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuFeatures:
    """What the CPU can do fast, from its ``/proc/cpuinfo`` flags."""

    model: str
    flags: frozenset[str]

    @property
    def amx_bf16(self) -> bool:
        """Intel AMX tiles with bf16 (Sapphire Rapids and later)."""
        return "amx_bf16" in self.flags and "amx_tile" in self.flags

    @property
    def avx512_bf16(self) -> bool:
        """AVX-512 bf16 dot products (2x the fp32 peak, no tiles)."""
        return "avx512_bf16" in self.flags

    @property
    def vnni(self) -> bool:
        """int8 dot-product instructions (VNNI), which ONNX Runtime's int8 kernels use."""
        return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & self.flags)


def parse_cpuinfo(text: str) -> CpuFeatures:
    """The model name and feature flags of the first processor in a ``/proc/cpuinfo`` text."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return CpuFeatures(model, flags)


def cpu_features(path: Path = Path("/proc/cpuinfo")) -> CpuFeatures:
    """This machine's CPU features (empty where ``/proc/cpuinfo`` is unreadable, e.g. macOS)."""
    try:
        return parse_cpuinfo(path.read_text(errors="replace"))
    except OSError:
        return CpuFeatures("", frozenset())


def default_threads() -> int:
    """CPU threads to use by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
