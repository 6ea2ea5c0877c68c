"""Static int8 quantisation of an exported detector with onnxruntime (QDQ), calibrated on real input images.

Static rather than dynamic: the convolutions are the model's cost, and onnxruntime quantises their activations
only from calibration ranges. The box decoding at the end of the head (distribution focal loss, anchor
arithmetic, concatenation of boxes and scores in pixel units) stays float: boxes in pixels and scores in [0, 1]
share one tensor there, and one int8 scale for both costs the boxes their precision.

Weights are quantised to 7 bits (``reduce_range``: values in [-64, 64]). On x86 processors without VNNI (AVX2 or
AVX-512 without the VNNI extension: most edge boxes older than 2021, AMD before Zen 4) onnxruntime multiplies the
uint8 activations by the int8 weights with VPMADDUBSW, which adds pairs of products into a saturating 16-bit
integer: 2 × 255 × 127 overflows it, 2 × 255 × 64 does not. With 8-bit weights the same model gave different
detections on such a processor (scores off by up to 0.88, boxes by up to 36 px, measured under
``qemu-x86_64 -cpu Haswell-v4``); with 7-bit weights every processor computes the same numbers. See docs/models.md.
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
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded)
    # The quantiser does not promise to keep metadata; the class names and image size must travel with the model.
    quantized = onnx.load(str(out))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(source.metadata_props)
    onnx.save(quantized, str(out))
    low, high = int8_weight_range(quantized)
    return {"method": "onnxruntime quantize_static, QDQ, per-channel 7-bit int8 weights (reduce_range), "
                      "uint8 activations, MinMax",
            "calibration_images": len(images), "float_nodes": len(excluded),
            "kept_float": "detection head decoding (DFL, anchors, concat)" if keep_head_float else "none",
            "weight_range": [low, high]}


def int8_weight_range(model: Any) -> tuple[int, int]:
    """The smallest and largest value of the int8 weight tensors of a loaded ONNX model (``(0, 0)`` if none):
    within [-64, 64], no x86 kernel saturates (module docstring)."""
    from onnx import TensorProto, numpy_helper

    values = [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == TensorProto.INT8]
    if not values:
        return 0, 0
    return min(int(v.min()) for v in values), max(int(v.max()) for v in values)


def dequantize_qdq(model: Any) -> Any:
    """A float ONNX model from a QDQ one: each weight's DequantizeLinear becomes a float initializer
    (``(q − zero_point) · scale``, per channel where it was), and each activation's QuantizeLinear →
    DequantizeLinear pair is cut out. The weights stay on their int8 grid; only the activations lose their
    quantisation. For re-quantising a shipped int8 model whose float export was not kept (``edgewatch requantize``)."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    kept, constants, renamed = [], [], {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in initializers:
            q, scale = (numpy_helper.to_array(initializers[n]).astype(np.float64) for n in node.input[:2])
            zero = (numpy_helper.to_array(initializers[node.input[2]]).astype(np.float64)
                    if len(node.input) > 2 and node.input[2] else np.zeros_like(scale))
            if scale.ndim == 1 and scale.size > 1:  # per channel along `axis` (default 1)
                shape = [1] * q.ndim
                shape[next((a.i for a in node.attribute if a.name == "axis"), 1)] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            # The float weight takes back its own name ("w_quantized" -> "w"), so that a re-quantised model
            # names its tensors as the first quantisation did.
            base = node.input[0].removesuffix("_quantized")
            name = base if base != node.input[0] and base not in initializers else node.output[0]
            if name != node.output[0]:
                renamed[node.output[0]] = name
            constants.append(numpy_helper.from_array(((q - zero) * scale).astype(np.float32), name))
        else:
            kept.append(node)
    quantized_from = {n.output[0]: n.input[0] for n in kept if n.op_type == "QuantizeLinear"}
    bypass = {n.output[0]: quantized_from[n.input[0]] for n in kept
              if n.op_type == "DequantizeLinear" and n.input[0] in quantized_from}
    activations = dict(bypass)
    bypass.update(renamed)
    nodes = [n for n in kept if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    stray_dq = [n for n in kept if n.op_type == "DequantizeLinear" and n.output[0] not in activations]
    raw_q = {name for n in nodes for name in n.input} & set(quantized_from) | {o.name for o in graph.output} & (
        set(quantized_from) | set(bypass))
    if stray_dq or raw_q:
        raise UserError("the model is not a QDQ model of constant weights and quantised activations; "
                        "re-quantise it from its float export instead")
    for node in nodes:
        for i, name in enumerate(node.input):
            node.input[i] = bypass.get(name, name)
    used = {name for n in nodes for name in n.input}
    del graph.node[:]
    graph.node.extend(nodes)
    float_initializers = [t for t in graph.initializer if t.name in used] + [t for t in constants if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(float_initializers)
    onnx.checker.check_model(model)
    return model
