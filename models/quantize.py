"""Static int8 quantisation of an exported detector with onnxruntime (QDQ), calibrated on real input images.

Static rather than dynamic: the convolutions are the model's cost, and onnxruntime quantises their activations
only from calibration ranges. The box decoding at the end of the head (distribution focal loss, anchor
arithmetic, concatenation of boxes and scores in pixel units) stays float: boxes in pixels and scores in [0, 1]
share one tensor there, and one int8 scale for both costs the boxes their precision.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgewatch.errors import UserError
from models.letterbox import letterbox, to_blob

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def calibration_images(data_yaml: Path, n: int) -> list[Path]:
    """Up to ``n`` images of a data set's train split (then val), spread evenly over the sorted list."""
    from models.training import read_data_yaml

    data = read_data_yaml(data_yaml)
    root = Path(data.get("path") or data_yaml.parent)
    if not root.is_absolute():
        root = data_yaml.parent / root
    found: list[Path] = []
    for split in ("train", "val"):
        entries = data[split] if isinstance(data[split], list) else [data[split]]
        for entry in entries:
            folder = root / entry
            if folder.is_dir():
                found += sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(found) >= n:
            break
    if not found:
        raise UserError(f"--calibration-data {data_yaml}: no images found under its train or val folders")
    picks = np.linspace(0, len(found) - 1, min(n, len(found))).round().astype(int)
    return [found[i] for i in sorted(set(picks.tolist()))]


class LetterboxCalibrationReader:
    """Feeds calibration images to onnxruntime's quantiser exactly as the detector will: letterboxed."""

    def __init__(self, images: list[Path], input_name: str, input_size: tuple[int, int]) -> None:
        self.images, self.input_name, self.input_size = images, input_name, input_size
        self._iter: Iterator[Path] = iter(images)

    def get_next(self) -> dict[str, np.ndarray] | None:
        for path in self._iter:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                log.warning("calibration: cannot read %s; skipped", path)
                continue
            canvas, _ = letterbox(img, self.input_size)
            return {self.input_name: to_blob([canvas])}
        return None

    def rewind(self) -> None:
        self._iter = iter(self.images)


def head_decode_nodes(model_path: Path) -> list[str]:
    """Names of the detection head's decoding nodes (everything in the last ``/model.N/`` block but its
    convolution branches ``cv2``, ``cv3``), which stay float."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    blocks = [int(m.group(1)) for node in model.graph.node if (m := re.match(r"/model\.(\d+)/", node.name))]
    if not blocks:
        return []
    head = f"/model.{max(blocks)}/"
    return [node.name for node in model.graph.node
            if node.name.startswith(head) and not re.match(re.escape(head) + r"(cv2|cv3|one2one_cv[23])", node.name)]


def quantize_int8(fp32: Path, out: Path, images: list[Path], input_size: tuple[int, int],
                  keep_head_float: bool = True) -> dict[str, Any]:
    """Write the int8 model to ``out``; returns the settings used, for the manifest."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = onnx.load(str(fp32))
    input_name = source.graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        excluded = head_decode_nodes(prepared) if keep_head_float else []
        reader = LetterboxCalibrationReader(images, input_name, input_size)
        quantize_static(str(prepared), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded)
    # The quantiser does not promise to keep metadata; the class names and image size must travel with the model.
    quantized = onnx.load(str(out))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(source.metadata_props)
    onnx.save(quantized, str(out))
    return {"method": "onnxruntime quantize_static, QDQ, per-channel int8 weights, uint8 activations, MinMax",
            "calibration_images": len(images), "float_nodes": len(excluded),
            "kept_float": "detection head decoding (DFL, anchors, concat)" if keep_head_float else "none"}
