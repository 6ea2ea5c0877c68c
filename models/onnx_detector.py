"""An object detector over onnxruntime for Ultralytics-exported detection models (YOLOv5u, v8, 11).

    det = OnnxDetector(default_model_path(), conf=0.25, iou=0.45, threads=1)
    dets = det.detect([frame_bgr])[0]
    dets.of("person").boxes          # (N, 4) xyxy in frame_bgr's pixels
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgewatch.errors import UserError
from models.detections import Detections
from models.letterbox import letterbox, to_blob
from models.manifest import Manifest, manifest_path, read_manifest, verify_file, verify_model_facts
from models.postprocess import decode

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "kitchen-default.onnx"


def default_model_path() -> Path:
    """The shipped kitchen model, after checking it against its manifest."""
    path = MODELS_DIR / DEFAULT_MODEL
    where = manifest_path(path)
    if not path.is_file() or not where.is_file():
        raise UserError(f"the shipped kitchen model {path} or its manifest {where.name} is missing; "
                        f"reinstall edgewatch or pass a model file")
    verify_file(path, read_manifest(where), where)
    return path


def _names_from_metadata(meta: dict[str, str]) -> tuple[str, ...] | None:
    """Ultralytics writes ``names`` as a Python dict literal ``{0: 'person', 1: 'chef_hat'}``."""
    text = meta.get("names")
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, dict) and sorted(value) == list(range(len(value))):
        return tuple(str(value[i]) for i in range(len(value)))
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return None


def _imgsz_from_metadata(meta: dict[str, str]) -> tuple[int, int] | None:
    """Ultralytics writes ``imgsz`` as ``[height, width]``; returns (width, height)."""
    try:
        value = ast.literal_eval(meta.get("imgsz", ""))
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[1]), int(value[0])
    return None


class OnnxDetector:
    """Letterbox, batched inference, class-wise NMS, boxes mapped back to each image's pixels.

    ``conf``: minimum class score kept; ``iou``: NMS overlap above which the weaker box of a class goes;
    ``threads``: onnxruntime intra-op threads (1 per camera worker on an edge box); ``input_size`` (width,
    height, multiples of 32): run a model with dynamic height and width at another size than it was exported
    for (speed against accuracy), instead of its own. A manifest beside the model
    (``NAME.manifest.json``) is verified first: file name, size, SHA-256, classes and input size.
    """

    def __init__(self, path: Path | str, conf: float = 0.25, iou: float = 0.45, threads: int = 1,
                 max_det: int = 300, input_size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"model file {self.path} not found")
        if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
            raise ValueError(f"conf {conf} and iou {iou} must lie in [0, 1]")
        self.conf, self.iou, self.max_det = conf, iou, max_det
        where = manifest_path(self.path)
        self.manifest: Manifest | None = None
        if where.is_file():
            self.manifest = read_manifest(where)
            verify_file(self.path, self.manifest, where)

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise UserError(f"{self.path}: onnxruntime cannot load it as a model ({exc})") from None

        meta = self.session.get_modelmeta().custom_metadata_map
        inp = self.session.get_inputs()[0]
        self._input_name = inp.name
        self._input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        shape = inp.shape
        if len(shape) != 4:
            raise UserError(f"{self.path}: input {inp.name} has shape {shape}; expected (batch, 3, height, width)")
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            self.input_size: tuple[int, int] = (shape[3], shape[2])
        else:
            size = _imgsz_from_metadata(meta)
            if size is None:
                raise UserError(f"{self.path}: the input size is dynamic and the metadata has no imgsz; "
                                f"export with a fixed image size")
            self.input_size = size

        names = _names_from_metadata(meta)
        if names is None and self.manifest is not None:
            names = tuple(self.manifest.classes)
        if names is None:
            raise UserError(f"{self.path}: no class names in the model's metadata (`names`) and no manifest; "
                            f"export it with Ultralytics or `edgewatch export`")
        self.names: tuple[str, ...] = names
        out = self.session.get_outputs()[0]
        channels = out.shape[1] if len(out.shape) == 3 else None
        if isinstance(channels, int) and channels != 4 + len(names):
            raise UserError(f"{self.path}: output {out.name} has {channels} channels per anchor, not 4 + "
                            f"{len(names)} classes; only detection models (YOLOv5u/v8/11 head) are supported")
        if self.manifest is not None:
            verify_model_facts(self.path, self.manifest, where, self.names, self.input_size)
        if input_size is not None and tuple(input_size) != self.input_size:
            if isinstance(shape[2], int) or input_size[0] % 32 or input_size[1] % 32:
                raise UserError(f"{self.path}: cannot run at {input_size[0]}x{input_size[1]}: the model's input "
                                f"size is fixed, or the size is not a multiple of 32")
            self.input_size = (int(input_size[0]), int(input_size[1]))
        log.info("%s: %d classes, input %dx%d, batch %s", self.path.name, len(self.names), *self.input_size,
                 self.fixed_batch or "dynamic")

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detections for each BGR uint8 H×W×3 image (any sizes), in that image's pixels."""
        if not images:
            return []
        canvases = []
        placements = []
        for img in images:
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"expected a BGR uint8 HxWx3 image, got {img.dtype} {img.shape}")
            canvas, lb = letterbox(img, self.input_size)
            canvases.append(canvas)
            placements.append(lb)
        outputs = self._infer(canvases)
        result = []
        for raw, lb in zip(outputs, placements, strict=True):
            boxes, scores, class_ids = decode(raw, self.conf, self.iou, self.max_det)
            result.append(Detections(lb.boxes_to_image(boxes), scores, class_ids, self.names))
        return result

    def _infer(self, canvases: list[np.ndarray]) -> list[np.ndarray]:
        """Raw head outputs (4 + nc, anchors), one per canvas; a model with a fixed batch runs in chunks of it,
        the last chunk padded with grey canvases."""
        step = self.fixed_batch or len(canvases)
        outputs: list[np.ndarray] = []
        for start in range(0, len(canvases), step):
            chunk = canvases[start:start + step]
            n = len(chunk)
            if n < step:
                chunk = chunk + [np.full_like(chunk[0], 114)] * (step - n)
            blob = to_blob(chunk).astype(self._input_dtype, copy=False)
            raw = self.session.run(None, {self._input_name: blob})[0]
            outputs.extend(np.asarray(raw[i], dtype=np.float32) for i in range(n))
        return outputs
