"""The library versions a benchmark ran with, for its report.

The dependencies are lower bounds (pyproject.toml), so two machines installed a day apart can differ; a figure
that moved between sessions with the same code and the same generated scenes is first checked against these.
"""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("numpy", "opencv-python-headless", "av", "onnxruntime", "scipy")


def versions() -> dict[str, str]:
    """``{package: version}`` for the packages that decide pixels and numbers, plus Python's version."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
