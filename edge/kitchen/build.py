"""Building a kitchen camera's detector from its camera file: the model it names (or the shipped one) and the
zones. Shared by ``edgewatch analyze`` and the edge worker."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from edge.config import CameraConfig
from edge.kitchen.detections import BoxDetector
from edge.kitchen.detector import KitchenDetector
from edgewatch.errors import UserError

KITCHEN_MODEL_CONF = 0.15
"""Score floor of the kitchen model's boxes: the tracker keeps weak person boxes (ByteTrack's second stage)."""


def needs_model(camera: CameraConfig) -> bool:
    """A model is needed unless every zone is a bin zone with a reference image (model-free bin mode)."""
    return any(z.kind == "hat_required" or z.reference is None for z in camera.zones)


def model_path(camera: CameraConfig) -> Path:
    """The camera's ``model:``, else the shipped default model."""
    if camera.model is not None:
        return camera.model
    from models import default_model_path

    return Path(default_model_path())


def check_kitchen_camera(camera: CameraConfig, model_given: bool = False) -> None:
    """What can be checked before any frame: zones, the model file (unless a model is given), the reference
    images (UserError)."""
    if not camera.zones:
        raise UserError(f"camera {camera.camera_id}: a kitchen camera needs zones (hat_required and/or bin); "
                        "see docs/kitchen.md")
    if needs_model(camera) and not model_given and not model_path(camera).exists():
        raise UserError(f"camera {camera.camera_id}: {model_path(camera)}: no such model file; set `model:` to an "
                        "ONNX detector (see docs/kitchen.md)")
    for z in camera.zones:
        if z.reference is not None and not z.reference.exists():
            raise UserError(f"camera {camera.camera_id}: zone {z.name}: {z.reference}: no such reference image; "
                            "save a frame of this camera with the bin closed (see docs/kitchen.md)")


def kitchen_model(camera: CameraConfig) -> BoxDetector | None:
    """The camera's detection model on one thread (a kitchen camera is meant to cost a fraction of one core);
    None when the camera needs no model (model-free bins only)."""
    check_kitchen_camera(camera)
    if not needs_model(camera):
        return None
    from models import OnnxDetector

    size = None
    if camera.model_input is not None:
        w, h = (int(v) for v in camera.model_input.split("x"))
        size = (w, h)
    return OnnxDetector(model_path(camera), conf=KITCHEN_MODEL_CONF, iou=0.45, threads=1, input_size=size)


def kitchen_detector(camera: CameraConfig, start: datetime, model: BoxDetector | None = None) -> KitchenDetector:
    """A :class:`KitchenDetector` for ``camera`` with ``model`` (default: :func:`kitchen_model`)."""
    check_kitchen_camera(camera, model_given=model is not None)
    try:
        return KitchenDetector(camera.camera_id, camera, model if model is not None else kitchen_model(camera),
                               stream_start=start)
    except ValueError as exc:
        raise UserError(f"camera {camera.camera_id}: {exc}") from None
