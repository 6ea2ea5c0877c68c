"""The manifest beside a shipped model: what the file is, how it was made, how well it does.

``kitchen-default.onnx`` has ``kitchen-default.manifest.json`` beside it. Loading the model checks the file's
name, size and SHA-256, and that the classes and input size in the manifest are the model's own, so a model
swapped, truncated or re-exported without a new manifest is refused with a message naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from edgewatch.errors import UserError

MANIFEST_SUFFIX = ".manifest.json"


class ManifestError(UserError):
    """A model file does not match its manifest, or the manifest is unreadable."""


class Training(BaseModel):
    """How the weights were trained: enough to do it again."""

    data: str = Field(description="what the training images are, in words")
    data_command: str | None = Field(default=None, description="the command that made the data set, if generated")
    command: str = Field(description="the exact training command")
    architecture: str = Field(description="model YAML or starting weights, e.g. yolo11n.yaml (from scratch)")
    epochs: int
    imgsz: int
    images_train: int | None = None
    images_val: int | None = None
    wall_time_s: float | None = None
    device: str | None = Field(default=None, description="what it trained on: cpu, or the GPU's name")
    versions: dict[str, str] = Field(default_factory=dict, description="ultralytics, torch, python")


class Export(BaseModel):
    command: str
    opset: int | None = None
    dynamic_batch: bool = False
    int8: dict[str, Any] | None = Field(default=None, description="quantisation settings, for int8 models")


class ClassAccuracy(BaseModel):
    ap50: float
    ap50_95: float
    instances: int


class Accuracy(BaseModel):
    """Measured by benchmarks/kitchen_model_bench.py on images the model never saw in training."""

    dataset: str
    command: str
    date: str
    images: int
    map50: float
    map50_95: float
    per_class: dict[str, ClassAccuracy]


class Manifest(BaseModel):
    format: Literal[1] = 1
    file: str
    sha256: str
    bytes: int
    classes: list[str]
    input_size: tuple[int, int] = Field(description="(width, height) of the model's input")
    precision: Literal["fp32", "int8"]
    licence: str
    training: Training
    export: Export
    accuracy: Accuracy | None = None


def manifest_path(model: Path) -> Path:
    """``models/kitchen-default.onnx`` -> ``models/kitchen-default.manifest.json``."""
    return model.with_name(model.name.removesuffix(".onnx") + MANIFEST_SUFFIX)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: Path) -> Manifest:
    try:
        return Manifest.model_validate(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the model manifest ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(f"{path}: manifest field {where!r}: {first['msg']}") from None


def write_manifest(manifest: Manifest, model: Path) -> Path:
    path = manifest_path(model)
    path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n")
    return path


def verify_file(model: Path, manifest: Manifest, where: Path) -> None:
    """Raise ManifestError unless ``model`` is the file ``manifest`` (read from ``where``) describes."""
    fix = (f"restore the file that {where.name} describes, or re-export it with `edgewatch export`, "
           f"which writes a new manifest")
    if manifest.file != model.name:
        raise ManifestError(f"{model}: manifest {where} describes {manifest.file!r}, not {model.name!r}; {fix}")
    size = model.stat().st_size
    if size != manifest.bytes:
        raise ManifestError(f"{model}: {size} bytes but manifest {where} says {manifest.bytes}; {fix}")
    digest = sha256_file(model)
    if digest != manifest.sha256:
        raise ManifestError(f"{model}: SHA-256 {digest} does not match manifest {where} ({manifest.sha256}); {fix}")


def verify_model_facts(model: Path, manifest: Manifest, where: Path, classes: tuple[str, ...],
                       input_size: tuple[int, int]) -> None:
    """Raise ManifestError unless the loaded model's classes and input size are the manifest's."""
    if tuple(manifest.classes) != classes:
        raise ManifestError(f"{model}: classes {list(classes)} in the model but {manifest.classes} in manifest "
                            f"{where}")
    if tuple(manifest.input_size) != input_size:
        raise ManifestError(f"{model}: input size {input_size} (width, height) but {tuple(manifest.input_size)} "
                            f"in manifest {where}")
