"""The library versions a benchmark ran with, for its report.

The dependencies are lower bounds (pyproject.toml), so two machines installed a day apart can differ; a figure
that moved between sessions with the same code and the same generated scenes is first checked against these.
The processor is recorded too: onnxruntime's int8 kernels differ by instruction set (docs/models.md, "int8 on
processors without VNNI"), and a benchmark's CPU times depend on it.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

PACKAGES = ("numpy", "opencv-python-headless", "av", "onnxruntime", "scipy")
# The instruction-set extensions that choose onnxruntime's int8 and float kernels on x86.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def versions() -> dict[str, str]:
    """``{package: version}`` for the packages that decide pixels and numbers, plus Python's version."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out.update(cpu())
    return out


def cpu(cpuinfo: str = "/proc/cpuinfo") -> dict[str, str]:
    """``{"cpu": model name, "cpu_flags": the CPU_FLAGS it has}``; the machine's architecture where there is no
    /proc/cpuinfo (not Linux)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"cpu": platform.machine() or "unknown", "cpu_flags": "unknown"}
    model, flags = "unknown", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return {"cpu": model, "cpu_flags": " ".join(f for f in CPU_FLAGS if f in flags) or "none of " + " ".join(CPU_FLAGS)}
