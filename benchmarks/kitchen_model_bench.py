"""Accuracy and speed of the kitchen detector (ONNX, through models.OnnxDetector), on a held-out generated set.

    python -m benchmarks.kitchen_model_bench --data data/kitchen-holdout/data.yaml \\
        --model models/kitchen-default.onnx --model data/export/kitchen-default-fp32.onnx \\
        --sizes 320x192 640x384 --write-manifest models/kitchen-default.onnx

Make the held-out set with seeds the training set never used (the generator varies room, layout, lighting,
staff and headwear per seed), e.g. ``edgewatch generate kitchen-dataset --out data/kitchen-holdout --count 300
--seed 1001 --imgsz 960 --val-fraction 0``. Every image of both of its splits is evaluated.

Accuracy: AP per class at IoU 0.5 and averaged over IoU 0.50:0.95 (models.evaluation, our own numpy code, not
Ultralytics' validator), detections at conf 0.001 as is usual for AP. Speed: milliseconds of CPU time per frame
on one thread (onnxruntime intra-op threads = 1), median over the frames, for the whole ``detect`` call
(letterbox, inference, NMS, mapping back) and for inference alone, at conf 0.25 as deployed. CPU time rather
than wall time because the benchmark machine is shared: CPU time does not count waiting for a core.
``--write-manifest MODEL`` records the accuracy of MODEL at its own input size in its manifest.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models import OnnxDetector
from models.evaluation import ImagePrediction, ImageTruth, evaluate
from models.letterbox import to_blob
from models.manifest import Accuracy, ClassAccuracy, manifest_path, read_manifest, write_manifest
from models.training import class_names, read_data_yaml

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def load_images(data_yaml: Path, limit: int | None) -> tuple[list[Path], list[str]]:
    data = read_data_yaml(data_yaml)
    root = Path(data.get("path") or data_yaml.parent)
    images: list[Path] = []
    for split in ("train", "val"):
        folder = root / data[split]
        if folder.is_dir():
            images += sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return (images[:limit] if limit else images), class_names(data)


def read_truth(image: Path, width: int, height: int) -> ImageTruth:
    label = image.parent.parent.parent / "labels" / image.parent.name / f"{image.stem}.txt"
    rows = np.loadtxt(label, ndmin=2) if label.is_file() and label.stat().st_size else np.zeros((0, 5))
    cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return ImageTruth(boxes, rows[:, 0].astype(np.int64))


def size_arg(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def run_one(model: Path, size: tuple[int, int] | None, images: list[Path], truth: list[ImageTruth],
            names: list[str], speed_frames: int) -> dict[str, Any]:
    det = OnnxDetector(model, conf=0.001, iou=0.45, threads=1, input_size=size)
    if list(det.names) != names:
        raise SystemExit(f"{model}: classes {det.names} differ from the data set's {names}")
    predictions = []
    for path in images:
        d = det.detect([cv2.imread(str(path))])[0]
        predictions.append(ImagePrediction(d.boxes, d.scores, d.class_ids))
    scores = evaluate(truth, predictions, len(names))
    present = [s for s in scores if s.instances]
    # speed at the deployed threshold, one frame per call, CPU time of this process (one onnxruntime thread)
    fast = OnnxDetector(model, conf=0.25, iou=0.45, threads=1, input_size=size)
    frames = [cv2.imread(str(p)) for p in images[:speed_frames]]
    fast.detect(frames[:1])  # warm-up: first-run allocations
    total_ms, infer_ms = [], []
    for frame in frames:
        t0 = time.process_time()
        fast.detect([frame])
        total_ms.append((time.process_time() - t0) * 1000)
    input_name = fast.session.get_inputs()[0].name
    for frame in frames:
        blob = to_blob([cv2.resize(frame, fast.input_size)])  # inference alone: the session's run
        t0 = time.process_time()
        fast.session.run(None, {input_name: blob})
        infer_ms.append((time.process_time() - t0) * 1000)
    return {
        "model": str(model), "precision": det.manifest.precision if det.manifest else "unknown",
        "input_size": list(det.input_size), "bytes": model.stat().st_size, "images": len(images),
        "map50": float(np.mean([s.ap50 for s in present])), "map50_95": float(np.mean([s.ap50_95 for s in present])),
        "per_class": {names[i]: {"ap50": s.ap50, "ap50_95": s.ap50_95, "instances": s.instances}
                      for i, s in enumerate(scores)},
        "cpu_ms_per_frame": statistics.median(total_ms), "cpu_ms_inference": statistics.median(infer_ms),
        "speed_frames": len(frames),
    }


def markdown(results: list[dict[str, Any]], names: list[str]) -> str:
    head = "| model | precision | input | MB | mAP50 | mAP50-95 | " + " | ".join(f"{n} AP50" for n in names)
    head += " | CPU ms/frame (detect) | CPU ms (inference) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        per = " | ".join(f"{r['per_class'][n]['ap50']:.3f}" for n in names)
        lines.append(f"| {Path(r['model']).name} | {r['precision']} | {r['input_size'][0]}x{r['input_size'][1]} | "
                     f"{r['bytes'] / 1e6:.1f} | {r['map50']:.3f} | {r['map50_95']:.3f} | {per} | "
                     f"{r['cpu_ms_per_frame']:.0f} | {r['cpu_ms_inference']:.0f} |")
    instances = ", ".join(f"{n} {results[0]['per_class'][n]['instances']}" for n in names)
    lines.append(f"\n{results[0]['images']} images; truth boxes: {instances}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="held-out data YAML (edgewatch generate …)")
    parser.add_argument("--model", type=Path, action="append", required=True, help="ONNX model (repeatable)")
    parser.add_argument("--sizes", nargs="*", type=size_arg, default=[],
                        help="input sizes WxH to run dynamic-size models at (default: the model's own)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N images")
    parser.add_argument("--speed-frames", type=int, default=60, help="frames timed per model and size")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--write-manifest", type=Path, help="record this model's accuracy in its manifest")
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)
    images, names = load_images(args.data, args.limit)
    if not images:
        raise SystemExit(f"{args.data}: no images")
    truth = []
    for p in images:
        h, w = cv2.imread(str(p)).shape[:2]
        truth.append(read_truth(p, w, h))
    command = shlex.join(["python", "-m", "benchmarks.kitchen_model_bench", *(argv or sys.argv[1:])])
    results = []
    for model in args.model:
        for size in args.sizes or [None]:
            print(f"{model.name} at {size or 'its own size'} …", file=sys.stderr, flush=True)
            results.append(run_one(model, size, images, truth, names, args.speed_frames))
    print(markdown(results, names))
    if args.json:
        args.json.write_text(json.dumps({"command": command, "results": results}, indent=2) + "\n")
    if args.write_manifest:
        target = args.write_manifest.resolve()
        native = [r for r in results if Path(r["model"]).resolve() == target
                  and tuple(r["input_size"]) == OnnxDetector(target).input_size]
        if not native:
            raise SystemExit(f"--write-manifest {target}: not among the models run at their own input size")
        r = native[0]
        where = manifest_path(target)
        manifest = read_manifest(where)
        manifest.accuracy = Accuracy(
            dataset=f"{len(images)} held-out images of {args.data} ({read_data_yaml(args.data).get('generated_by')})",
            command=command, date=datetime.now(UTC).date().isoformat(), images=len(images), map50=round(r["map50"], 4),
            map50_95=round(r["map50_95"], 4),
            per_class={n: ClassAccuracy(ap50=round(v["ap50"], 4), ap50_95=round(v["ap50_95"], 4),
                                        instances=v["instances"]) for n, v in r["per_class"].items()})
        write_manifest(manifest, target)
        print(f"accuracy written to {where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
