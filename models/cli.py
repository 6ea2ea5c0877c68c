"""`edgewatch train`, `export` and `requantize`: the kitchen detector's training and ONNX export (``train``
extra)."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from pathlib import Path

from edgewatch.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train",
        help="train a YOLO detector on a YOLO-format data set (needs the train extra)",
        description="Train an Ultralytics YOLO detector on a YOLO-format data set, offline: from a model YAML "
        "(from scratch) or local .pt weights, never downloading. Writes RUN/weights/best.pt and "
        "RUN/edgewatch-train.json (the command and provenance `edgewatch export` puts in the manifest). "
        "Needs pip install 'edgewatch[train]'.",
    )
    t.add_argument("--data", type=Path, required=True, help="Ultralytics data YAML (train, val, names)")
    t.add_argument("--model", default="yolo11n.yaml",
                   help="model YAML to train from scratch (yolo11n.yaml, yolov8n.yaml, …) or local .pt weights")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--time", type=float, metavar="HOURS",
                   help="train for this long instead of a number of epochs: after each epoch the epoch count "
                   "and the learning-rate schedule are refitted to end on time (Ultralytics' time budget)")
    t.add_argument("--imgsz", type=int, default=640, help="training image size (square, multiple of 32)")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--workers", type=int, default=2, help="data-loader processes")
    t.add_argument("--device", default="cpu", help="cpu, or a CUDA device index such as 0")
    t.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--mosaic", type=float, default=1.0, help="probability of mosaic augmentation")
    t.add_argument("--close-mosaic", type=int, default=5, help="last epochs trained without mosaic")
    t.add_argument("--nbs", type=int, default=64,
                   help="images per optimiser step (gradients accumulate over batches; default 64)")
    t.add_argument("--warmup-epochs", type=float, default=3.0, help="epochs of learning-rate warm-up")
    t.add_argument("--final-val-only", action="store_true", help="validate after the last epoch only (faster)")
    t.add_argument("--fraction", type=float, default=1.0,
                   help="train on this fraction of the training images (the first ones, sorted by name)")
    t.add_argument("--no-cache", action="store_true", help="read images from disk each epoch instead of RAM")
    t.add_argument("--out", type=Path, default=Path("runs/kitchen"), help="run folder (default runs/kitchen)")
    t.set_defaults(func=run_train)

    e = sub.add_parser(
        "export",
        help="export trained weights to ONNX (optionally int8) with a manifest",
        description="Export Ultralytics .pt weights to ONNX for the edge, with OUT.manifest.json beside it "
        "(SHA-256, classes, input size, training provenance). --int8 also writes OUT-int8.onnx, statically "
        "quantised (QDQ) with images of --calibration-data. Needs pip install 'edgewatch[train]'.",
    )
    e.add_argument("weights", type=Path, help="trained weights, e.g. runs/kitchen/weights/best.pt")
    e.add_argument("-o", "--out", type=Path, required=True, help="ONNX file to write")
    e.add_argument("--imgsz", help="input HEIGHTxWIDTH, or one number for a square (default: 16:9 as wide as "
                   "the training images, e.g. 384x640 for 640, so objects keep their trained scale)")
    e.add_argument("--fixed-batch", action="store_true",
                   help="batch of 1 baked in (default: dynamic batch, so several frames run in one call)")
    e.add_argument("--opset", type=int, help="ONNX opset (default: Ultralytics' choice for the installed onnx)")
    e.add_argument("--int8", action="store_true",
                   help="also write an int8 model (static QDQ quantisation, 7-bit weights: processors without VNNI "
                        "compute the same numbers)")
    e.add_argument("--int8-out", type=Path, help="where the int8 model goes (default OUT-int8.onnx)")
    e.add_argument("--calibration-data", type=Path, help="data YAML whose images calibrate the int8 model")
    e.add_argument("--calibration-images", type=int, default=128, help="images used to calibrate (default 128)")
    e.add_argument("--licence", default=None, help="licence of the weights, recorded in the manifest")
    e.set_defaults(func=run_export)

    r = sub.add_parser(
        "requantize",
        help="quantise an int8 model again (7-bit weights) from its own weights",
        description="Quantise an int8 ONNX model again with today's settings (7-bit weights, activations "
        "recalibrated on --calibration-data), starting from its own weights: for a model whose float export was "
        "not kept, e.g. one quantised with 8-bit weights, which processors without VNNI compute differently. "
        "Writes OUT and OUT.manifest.json (training record kept, source named, accuracy left for "
        "benchmarks/kitchen_model_bench.py --write-manifest). Needs pip install 'edgewatch[train]'.",
    )
    r.add_argument("model", type=Path, help="int8 ONNX model with its manifest, e.g. models/kitchen-default.onnx")
    r.add_argument("-o", "--out", type=Path, required=True, help="ONNX file to write")
    r.add_argument("--calibration-data", type=Path, required=True,
                   help="data YAML whose images calibrate the activations")
    r.add_argument("--calibration-images", type=int, default=128, help="images used to calibrate (default 128)")
    r.set_defaults(func=run_requantize)


def _imgsz(text: str) -> tuple[int, int]:
    """``384x640`` -> (384, 640) as (height, width); ``640`` -> (640, 640)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise UserError(f"--imgsz: expected HEIGHTxWIDTH such as 384x640, got {text!r}") from None
    h, w = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1]) if len(parts) == 2 else (0, 0)
    if h < 32 or w < 32 or h % 32 or w % 32:
        raise UserError(f"--imgsz {text}: height and width must be multiples of 32 (the model's largest stride)")
    return h, w


def _command() -> str:
    return shlex.join(["edgewatch", *sys.argv[1:]])


def run_train(args: argparse.Namespace) -> int:
    from models.training import TrainSettings, train

    if args.epochs < 1 or args.batch < 1 or args.imgsz < 32 or args.imgsz % 32:
        raise UserError("--epochs and --batch must be at least 1, --imgsz a multiple of 32")
    if not 0.0 < args.fraction <= 1.0:
        raise UserError(f"--fraction must be in (0, 1], got {args.fraction}")
    if args.time is not None and not 0.0 < args.time <= 240.0:
        raise UserError(f"--time must be a number of hours in (0, 240], got {args.time}")
    settings = TrainSettings(data=args.data, model=args.model, epochs=args.epochs, imgsz=args.imgsz,
                             batch=args.batch, workers=args.workers, device=args.device, seed=args.seed,
                             out=args.out, cache=not args.no_cache, mosaic=args.mosaic,
                             close_mosaic=args.close_mosaic, threads=args.threads, nbs=args.nbs,
                             warmup_epochs=args.warmup_epochs, val_each_epoch=not args.final_val_only,
                             fraction=args.fraction, time_h=args.time)
    with contextlib.redirect_stdout(sys.stderr):  # Ultralytics' progress bars write to sys.stdout
        best = train(settings, command=_command())
    print(best)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from models.export import ExportSettings, export

    if args.int8 and args.calibration_data is None:
        raise UserError("--int8 needs --calibration-data DATA.yaml: images to calibrate the quantisation with")
    if args.int8_out is not None and not args.int8:
        raise UserError("--int8-out is for --int8 exports")
    settings = ExportSettings(weights=args.weights, out=args.out, imgsz=_imgsz(args.imgsz) if args.imgsz else None,
                              dynamic_batch=not args.fixed_batch, opset=args.opset, int8=args.int8,
                              calibration_data=args.calibration_data, calibration_images=args.calibration_images,
                              int8_out=args.int8_out, licence=args.licence)
    with contextlib.redirect_stdout(sys.stderr):
        paths = export(settings, command=_command())
    for path in paths:
        print(path)
    return 0


def run_requantize(args: argparse.Namespace) -> int:
    from models.export import requantize
    from models.ultralytics_env import INSTALL_HINT

    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UserError(f"edgewatch requantize needs onnx: {INSTALL_HINT}") from None
    for path in requantize(args.model, args.out, args.calibration_data, args.calibration_images, _command()):
        print(path)
    return 0
