"""Trained Ultralytics weights to ONNX for the edge, with a manifest; optionally an int8 model beside it."""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.errors import UserError
from models.manifest import (
    Export,
    Manifest,
    Training,
    manifest_path,
    read_manifest,
    sha256_file,
    verify_file,
    write_manifest,
)
from models.training import TRAIN_RECORD
from models.ultralytics_env import require_ultralytics

log = logging.getLogger(__name__)

DEFAULT_LICENCE = ("AGPL-3.0: trained with Ultralytics YOLO, whose licence Ultralytics applies to models "
                   "trained with it; weights trained from scratch on edgewatch's synthetic kitchen data")


@dataclass(frozen=True)
class ExportSettings:
    weights: Path
    out: Path
    imgsz: tuple[int, int] | None = None  # (height, width); None: 16:9 at the training size
    dynamic_batch: bool = True
    opset: int | None = None
    int8: bool = False
    calibration_data: Path | None = None
    calibration_images: int = 128
    int8_out: Path | None = None  # default: OUT-int8.onnx
    licence: str | None = None


def int8_path(out: Path) -> Path:
    """``models/kitchen-default.onnx`` -> ``models/kitchen-default-int8.onnx``."""
    return out.with_name(out.name.removesuffix(".onnx") + "-int8.onnx")


def wide_input(train_imgsz: int) -> tuple[int, int]:
    """(height, width) of a 16:9 input as wide as the training images: objects keep the scale they were
    trained at, and no compute goes to padding. 416 -> (256, 416), 640 -> (384, 640)."""
    return math.ceil(train_imgsz * 9 / 16 / 32) * 32, train_imgsz


def _training_record(weights: Path, ckpt_args: dict[str, Any]) -> Training:
    """What ``edgewatch train`` recorded beside the weights, else what the checkpoint remembers."""
    record_path = weights.resolve().parent.parent / TRAIN_RECORD
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        return Training.model_validate({k: v for k, v in record.items() if k in Training.model_fields})
    log.warning("%s not found: the manifest's training section comes from the checkpoint alone", record_path)
    return Training(data=str(ckpt_args.get("data", "unknown")), command="unknown: not trained with edgewatch train",
                    architecture=str(ckpt_args.get("model", "unknown")), epochs=int(ckpt_args.get("epochs", 0)),
                    imgsz=int(ckpt_args.get("imgsz", 0)))


def export(settings: ExportSettings, command: str) -> list[Path]:
    """Write the ONNX model (and its int8 twin) with manifests; returns the paths written."""
    ultralytics = require_ultralytics("edgewatch export")
    if not settings.weights.is_file():
        raise UserError(f"weights {settings.weights} not found (training writes RUN/weights/best.pt)")
    if settings.out.suffix != ".onnx":
        raise UserError(f"-o {settings.out}: the output must end in .onnx")
    import onnx

    model = ultralytics.YOLO(str(settings.weights))
    if model.task != "detect":
        raise UserError(f"{settings.weights} is a {model.task} model; only detection models can be exported here")
    names = [str(model.names[i]) for i in range(len(model.names))]
    ckpt_args = dict(getattr(model, "ckpt", {}).get("train_args", {}) or {})
    h, w = settings.imgsz or wide_input(int(ckpt_args.get("imgsz") or 640))
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / settings.weights.name  # Ultralytics writes the .onnx beside the weights it loaded
        shutil.copy2(settings.weights, staged)
        staged_model = ultralytics.YOLO(str(staged))
        written = Path(staged_model.export(format="onnx", imgsz=[h, w], dynamic=settings.dynamic_batch,
                                           simplify=True, opset=settings.opset, batch=1, device="cpu",
                                           half=False, nms=False))
        shutil.move(str(written), settings.out)
    opset = max((o.version for o in onnx.load(str(settings.out), load_external_data=False).opset_import
                 if o.domain in ("", "ai.onnx")), default=None)
    training = _training_record(settings.weights, ckpt_args)
    licence = settings.licence or DEFAULT_LICENCE
    paths = [settings.out]
    paths.append(write_manifest(Manifest(
        file=settings.out.name, sha256=sha256_file(settings.out), bytes=settings.out.stat().st_size,
        classes=names, input_size=(w, h), precision="fp32", licence=licence, training=training,
        export=Export(command=command, opset=opset, dynamic_batch=settings.dynamic_batch)), settings.out))

    if settings.int8:
        from models.quantize import calibration_images, quantize_int8

        assert settings.calibration_data is not None
        images = calibration_images(settings.calibration_data, settings.calibration_images)
        q_out = settings.int8_out or int8_path(settings.out)
        if q_out.suffix != ".onnx":
            raise UserError(f"--int8-out {q_out}: the output must end in .onnx")
        q_out.parent.mkdir(parents=True, exist_ok=True)
        log.warning("quantising to int8 with %d calibration images (a few minutes on one core)", len(images))
        q_settings = quantize_int8(settings.out, q_out, images, (w, h))
        q_settings["calibration_data"] = str(settings.calibration_data)
        paths.append(q_out)
        paths.append(write_manifest(Manifest(
            file=q_out.name, sha256=sha256_file(q_out), bytes=q_out.stat().st_size, classes=names,
            input_size=(w, h), precision="int8", licence=licence, training=training,
            export=Export(command=command, opset=opset, dynamic_batch=settings.dynamic_batch, int8=q_settings)),
            q_out))
    return paths


def requantize(model: Path, out: Path, calibration_data: Path, calibration_images: int, command: str) -> list[Path]:
    """Quantise an int8 (QDQ) model again with today's settings, from its own weights: for a model whose float
    export was not kept, such as one quantised with 8-bit weights before ``reduce_range`` (models/quantize.py).
    The new manifest keeps the training record, names the model it came from and has no accuracy until
    ``benchmarks/kitchen_model_bench.py --write-manifest`` measures it."""
    import onnx

    from models.quantize import calibration_images as pick_images
    from models.quantize import dequantize_qdq, quantize_int8

    where = manifest_path(model)
    if not model.is_file() or not where.is_file():
        raise UserError(f"{model}: an int8 model with its manifest {where.name} beside it is needed")
    source = read_manifest(where)
    verify_file(model, source, where)
    if source.precision != "int8":
        raise UserError(f"{model} is {source.precision}; export the float model with `edgewatch export --int8`")
    if out.suffix != ".onnx" or out.resolve() == model.resolve():
        raise UserError(f"-o {out}: write a new .onnx file (the source model is read while quantising)")
    images = pick_images(calibration_data, calibration_images)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        float_model = Path(tmp) / "dequantized.onnx"
        onnx.save(dequantize_qdq(onnx.load(str(model))), str(float_model))
        q_settings = quantize_int8(float_model, out, images, source.input_size)
    q_settings["calibration_data"] = str(calibration_data)
    q_settings["requantized_from"] = {"file": source.file, "sha256": source.sha256,
                                      "int8": source.export.int8, "export_command": source.export.command}
    manifest = Manifest(
        file=out.name, sha256=sha256_file(out), bytes=out.stat().st_size, classes=source.classes,
        input_size=source.input_size, precision="int8", licence=source.licence, training=source.training,
        export=Export(command=command, opset=source.export.opset, dynamic_batch=source.export.dynamic_batch,
                      int8=q_settings))
    return [out, write_manifest(manifest, out)]
