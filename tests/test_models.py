"""models/: letterbox, NMS, box mapping, evaluation, manifests, the shipped kitchen model, train/export."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from edgewatch.cli import main as edgewatch_main
from models import Detections, ManifestError, OnnxDetector, default_model_path
from models.evaluation import ImagePrediction, ImageTruth, average_precision, evaluate
from models.letterbox import PAD_VALUE, fit, letterbox, to_blob
from models.manifest import manifest_path, read_manifest
from models.onnx_detector import _imgsz_from_metadata, _names_from_metadata
from models.postprocess import batched_nms, box_iou, cxcywh_to_xyxy, decode

ROOT = Path(__file__).resolve().parents[1]
KITCHEN_SAMPLES = ROOT / "sample_videos" / "kitchen"
TRAIN_VENV = ROOT / ".venv-train"
CLASSES = ("person", "chef_hat", "bare_head", "other_headwear", "bin_open", "bin_closed")


# --- letterbox and box mapping -----------------------------------------------------------------------------


def test_letterbox_scales_centres_and_pads() -> None:
    # 200x100 into 64x64: r = min(64/200, 64/100) = 0.32 -> 64x32, centred: 16 rows of padding above and below.
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, :, 2] = 200  # red in BGR
    canvas, lb = letterbox(img, (64, 64))
    assert canvas.shape == (64, 64, 3)
    assert (lb.scale, lb.left, lb.top, lb.resized_size) == (0.32, 0, 16, (64, 32))
    assert (canvas[:16] == PAD_VALUE).all() and (canvas[48:] == PAD_VALUE).all()
    assert (canvas[16:48, :, 2] == 200).all() and (canvas[16:48, :, :2] == 0).all()
    blob = to_blob([canvas])
    assert blob.shape == (1, 3, 64, 64) and blob.dtype == np.float32
    assert blob[0, 0, 20, 5] == pytest.approx(200 / 255)  # channel 0 is red after BGR -> RGB
    assert blob[0, 2, 20, 5] == 0.0


def test_fit_pads_left_and_right_for_a_tall_image() -> None:
    lb = fit((100, 100), (64, 48))  # r = 0.48 -> 48x48, 8 columns each side
    assert (lb.scale, lb.left, lb.top, lb.resized_size) == (0.48, 8, 0, (48, 48))


def test_boxes_map_back_to_the_image_and_are_clipped() -> None:
    lb = fit((200, 100), (64, 64))  # r = 0.32, left 0, top 16
    boxes = np.array([[0, 16, 64, 48], [16, 24, 32, 40], [-10, 0, 70, 60]], np.float32)
    out = lb.boxes_to_image(boxes)
    # (x - 0) / 0.32, (y - 16) / 0.32; the third box is clipped to the 200x100 image
    np.testing.assert_allclose(out, [[0, 0, 200, 100], [50, 25, 100, 75], [0, 0, 200, 100]], atol=1e-4)
    assert out.dtype == np.float32


# --- NMS and decoding ---------------------------------------------------------------------------------------


def test_box_iou_worked_by_hand() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    # overlap 9x9 = 81, union 100 + 100 - 81 = 119
    np.testing.assert_allclose(box_iou(a, b), [[81 / 119, 0.0, 1.0]], rtol=1e-6)


def test_class_wise_nms() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 0, 1])
    # IoU(0, 1) = 0.68: suppressed at 0.5, kept at 0.7; box 3 is another class, never suppressed by box 0
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 2, 3]
    assert batched_nms(boxes, scores, classes, 0.7).tolist() == [0, 1, 2, 3]
    assert batched_nms(boxes[:0], scores[:0], classes[:0], 0.5).tolist() == []


def test_decode_yolo_head_output() -> None:
    # 3 anchors, 2 classes: rows cx, cy, w, h, score(class 0), score(class 1)
    out = np.array([
        [50, 52, 200],
        [40, 40, 100],
        [20, 20, 10],
        [10, 10, 10],
        [0.9, 0.85, 0.1],
        [0.2, 0.1, 0.3],
    ], np.float32)
    np.testing.assert_allclose(cxcywh_to_xyxy(out[:4].T[:1]), [[40, 35, 60, 45]])
    boxes, scores, class_ids = decode(out, conf=0.25, iou=0.5)
    # anchor 1 overlaps anchor 0 (IoU 18*10/(2*200-180) = 0.818) and goes; anchor 2 (class 1, 0.3) stays
    np.testing.assert_allclose(boxes, [[40, 35, 60, 45], [195, 95, 205, 105]])
    np.testing.assert_allclose(scores, [0.9, 0.3], rtol=1e-6)
    assert class_ids.tolist() == [0, 1] and class_ids.dtype == np.int64 and boxes.dtype == np.float32
    assert len(decode(out, conf=0.95, iou=0.5)[0]) == 0


def test_metadata_parsing() -> None:
    assert _names_from_metadata({"names": "{0: 'person', 1: 'chef_hat'}"}) == ("person", "chef_hat")
    assert _names_from_metadata({"names": "not python"}) is None
    assert _names_from_metadata({}) is None
    assert _imgsz_from_metadata({"imgsz": "[384, 640]"}) == (640, 384)  # Ultralytics: [height, width]


def test_detections_select_by_class_name() -> None:
    d = Detections(np.array([[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]], np.float32),
                   np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 4, 5], np.int64), CLASSES)
    assert d.of("bin_open", "bin_closed").class_ids.tolist() == [4, 5]
    assert d.labels() == ["person", "bin_open", "bin_closed"]
    with pytest.raises(KeyError, match="hat"):
        d.of("hat")
    with pytest.raises(ValueError):
        Detections(np.zeros((2, 4), np.float32), np.zeros(1, np.float32), np.zeros(1, np.int64))


# --- evaluation ---------------------------------------------------------------------------------------------


def test_average_precision_worked_by_hand() -> None:
    # 2 truths; ranked detections TP, FP, TP: recall .5 .5 1, precision 1 .5 .667 -> envelope 1 .667 .667.
    # 101 recall points: 51 points in [0, .5] at precision 1, 50 in (.5, 1] at 2/3.
    expected = (51 * 1.0 + 50 * 2 / 3) / 101
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(expected)
    truth = [ImageTruth(np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32), np.array([0, 0]))]
    pred = [ImagePrediction(np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 0, 30, 11]], np.float32),
                            np.array([0.9, 0.8, 0.7]), np.array([0, 0, 0]))]
    scores = evaluate(truth, pred, n_classes=2)
    assert scores[0].ap50 == pytest.approx(expected)
    assert scores[0].instances == 2 and scores[1].instances == 0
    # the third box's IoU is 100/110 = 0.909: a hit up to the 0.90 threshold, a miss at 0.95
    assert scores[0].ap[-1] == pytest.approx(1 / 101 * 51)


# --- the shipped model and its manifest ---------------------------------------------------------------------


def _sample_frame(name: str, t_s: float) -> tuple[np.ndarray, list[list[float]]]:
    truth = json.loads((KITCHEN_SAMPLES / f"{name}.truth.json").read_text())
    index = round(t_s * truth["fps"])
    frame = truth["frames"][index]
    persons = [o["box"] for o in frame["objects"] if o["label"] == "person" and o["visible"] >= 0.8
               and o["box"][3] - o["box"][1] >= 80]
    with av.open(str(KITCHEN_SAMPLES / f"{name}.mp4")) as container:
        for i, decoded in enumerate(container.decode(video=0)):
            if i == index:
                return decoded.to_ndarray(format="bgr24"), persons
    raise AssertionError(f"{name}: frame {index} not in the video")


def test_shipped_model_finds_the_staff_in_a_sample_clip() -> None:
    det = OnnxDetector(default_model_path(), conf=0.25, iou=0.45, threads=1)
    assert det.names == CLASSES
    frame, persons = _sample_frame("kitchen-missing-hat", 2.0)
    assert len(persons) == 2
    dets = det.detect([frame])[0]
    found = dets.of("person")
    assert found.boxes.dtype == np.float32 and found.class_ids.dtype == np.int64
    iou = box_iou(np.asarray(persons, np.float32), found.boxes)
    assert (iou.max(axis=1) >= 0.5).all(), f"truth {persons}, found {found.boxes.round().tolist()}"


def test_batch_of_different_sizes_matches_one_by_one() -> None:
    det = OnnxDetector(default_model_path(), threads=1)
    frame, _ = _sample_frame("kitchen-compliant", 4.0)
    small = frame[::2, ::2].copy()
    together = det.detect([frame, small])
    alone = [det.detect([frame])[0], det.detect([small])[0]]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
    assert det.detect([]) == []


def test_shipped_manifest_describes_the_model() -> None:
    path = default_model_path()
    manifest = read_manifest(manifest_path(path))
    det = OnnxDetector(path)
    assert tuple(manifest.classes) == det.names and tuple(manifest.input_size) == det.input_size
    assert manifest.training.command.startswith("edgewatch ") and " train --data " in manifest.training.command
    assert manifest.accuracy is not None and set(manifest.accuracy.per_class) == set(CLASSES)
    assert path.stat().st_size < 8 * 1024 * 1024
    if manifest.precision == "int8":  # 7-bit weights: no x86 kernel saturates (models/quantize.py)
        assert manifest.export.int8 is not None
        low, high = manifest.export.int8["weight_range"]
        assert low >= -64 and high <= 64


def _copy_model(tmp_path: Path) -> Path:
    src = default_model_path()
    dst = tmp_path / src.name
    shutil.copy2(src, dst)
    shutil.copy2(manifest_path(src), manifest_path(dst))
    return dst


def test_tampered_manifest_sha_is_refused_with_the_file_named(tmp_path: Path) -> None:
    model = _copy_model(tmp_path)
    where = manifest_path(model)
    data = json.loads(where.read_text())
    data["sha256"] = "0" * 64
    where.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=r"kitchen-default\.onnx: SHA-256 [0-9a-f]{64} does not match") as exc:
        OnnxDetector(model)
    assert "0" * 64 in str(exc.value) and "edgewatch export" in str(exc.value)


def test_changed_model_bytes_or_classes_are_refused(tmp_path: Path) -> None:
    model = _copy_model(tmp_path)
    where = manifest_path(model)
    data = json.loads(where.read_text())
    data["classes"] = [*CLASSES[:-1], "bin_lidless"]
    where.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="bin_lidless"):
        OnnxDetector(model)
    shutil.copy2(manifest_path(default_model_path()), where)
    with model.open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match="bytes but manifest"):
        OnnxDetector(model)


def test_class_names_come_from_the_model_metadata(tmp_path: Path) -> None:
    model = tmp_path / "no-manifest.onnx"
    shutil.copy2(default_model_path(), model)  # no manifest beside it: the names can only come from the model
    det = OnnxDetector(model)
    assert det.manifest is None
    assert det.names == CLASSES
    meta = det.session.get_modelmeta().custom_metadata_map
    assert "bin_closed" in meta["names"]


# --- training and export ------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["train", "--data", "data.yaml"], ["export", "best.pt", "-o", "m.onnx"]])
def test_train_and_export_without_the_extra_say_what_to_install(
        argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    assert edgewatch_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"edgewatch {argv[0]}: error:") and "pip install 'edgewatch[train]'" in err


@pytest.mark.parametrize("value", ["0", "-1", "500"])
def test_train_time_budget_out_of_range_is_a_one_line_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert edgewatch_main(["train", "--data", "data.yaml", "--time", value]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--time" in err and value in err


@pytest.mark.slow
def test_train_export_load_round_trip(tmp_path: Path) -> None:
    """A real training run through the train venv (torch, ultralytics): 1 epoch on a few 128 px images, ONNX
    and int8 export, then the edge's wrapper loads both in this (torch-free) venv."""
    exe = TRAIN_VENV / "bin" / "edgewatch"
    assert exe.exists(), f"{exe} missing: `make venv-train` creates it (torch, ultralytics)"
    env = {**os.environ, "YOLO_CONFIG_DIR": str(tmp_path / "ultralytics-config")}

    def run(*args: str) -> str:
        done = subprocess.run([str(exe), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"edgewatch {args[0]} failed:\n{done.stderr[-3000:]}"
        assert "Downloading" not in done.stderr, "Ultralytics tried to download something"
        return done.stdout

    run("generate", "kitchen-dataset", "--out", "ds", "--count", "12", "--seed", "3", "--imgsz", "128",
        "--val-fraction", "0.5", "--jobs", "2")
    best = Path(run("train", "--data", "ds/data.yaml", "--epochs", "1", "--imgsz", "128", "--batch", "4",
                    "--out", "run", "--final-val-only").strip().splitlines()[-1])
    assert best.is_file()
    record = json.loads((tmp_path / "run" / "edgewatch-train.json").read_text())
    assert record["data_command"].startswith("edgewatch generate kitchen-dataset --out ds --count 12")
    assert record["epochs"] == 1 and record["device"] == "cpu"
    written = run("export", str(best), "-o", "out/m.onnx", "--imgsz", "96x128", "--int8",
                  "--calibration-data", "ds/data.yaml", "--calibration-images", "4").split()
    assert sorted(Path(p).name for p in written) == ["m-int8.manifest.json", "m-int8.onnx", "m.manifest.json",
                                                      "m.onnx"]
    int8_manifest = json.loads((tmp_path / "out" / "m-int8.manifest.json").read_text())
    low, high = int8_manifest["export"]["int8"]["weight_range"]
    assert -64 <= low < 0 < high <= 64, "int8 weights must be 7-bit (no VPMADDUBSW saturation without VNNI)"
    measured = subprocess.run(
        [str(TRAIN_VENV / "bin" / "python"), "-c",
         "import onnx, sys; from models.quantize import int8_weight_range; "
         "print(*int8_weight_range(onnx.load(sys.argv[1])))", str(tmp_path / "out" / "m-int8.onnx")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert [int(v) for v in measured] == [low, high]
    # Re-quantising an int8 model from its own weights (for one whose float export is gone) keeps 7-bit weights
    # exactly on their grid, recalibrates the activations and names its source in the manifest.
    requantized = run("requantize", "out/m-int8.onnx", "-o", "out/r.onnx", "--calibration-data", "ds/data.yaml",
                      "--calibration-images", "4").split()
    assert [Path(p).name for p in requantized] == ["r.onnx", "r.manifest.json"]
    r_manifest = json.loads((tmp_path / "out" / "r.manifest.json").read_text())
    assert r_manifest["export"]["int8"]["requantized_from"]["sha256"] == int8_manifest["sha256"]
    assert r_manifest["training"] == int8_manifest["training"] and r_manifest["accuracy"] is None
    same = subprocess.run(
        [str(TRAIN_VENV / "bin" / "python"), "-c",
         "import onnx, sys, numpy as np; from onnx import numpy_helper as nh\n"
         "a, b = ({t.name: nh.to_array(t) for t in onnx.load(p).graph.initializer if t.data_type == 3}"
         " for p in sys.argv[1:])\n"
         "print(len(a), sum(np.array_equal(v, b.get(k)) for k, v in a.items()))",
         str(tmp_path / "out" / "m-int8.onnx"), str(tmp_path / "out" / "r.onnx")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert int(same[0]) > 0 and same[0] == same[1], f"int8 weights changed on re-quantising: {same}"
    with pytest.raises(AssertionError, match="is fp32"):
        run("requantize", "out/m.onnx", "-o", "out/r2.onnx", "--calibration-data", "ds/data.yaml")
    img = np.full((90, 160, 3), 90, np.uint8)
    for name, precision in (("m.onnx", "fp32"), ("m-int8.onnx", "int8")):
        det = OnnxDetector(tmp_path / "out" / name, conf=0.0, threads=1)
        assert det.names == CLASSES and det.input_size == (128, 96)
        assert det.manifest is not None and det.manifest.precision == precision
        assert det.manifest.training.command.startswith("edgewatch train --data ds/data.yaml --epochs 1")
        assert det.manifest.training.device == "cpu"
        dets = det.detect([img, img])
        assert len(dets) == 2 and len(dets[0]) > 0  # conf 0: every anchor's best class, after NMS
        assert (dets[0].boxes[:, [0, 2]] <= 160).all() and (dets[0].boxes[:, [1, 3]] <= 90).all()
