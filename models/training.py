"""Training a YOLO detector on a YOLO-format data set with Ultralytics (the ``train`` extra).

The run folder gets Ultralytics' usual ``weights/best.pt`` and ``last.pt``, and ``edgewatch-train.json``: the exact
command, the data set's provenance and the versions, which ``edgewatch export`` copies into the model's manifest.
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgewatch.errors import UserError
from models.ultralytics_env import require_ultralytics

TRAIN_RECORD = "edgewatch-train.json"


@dataclass(frozen=True)
class TrainSettings:
    data: Path
    model: str = "yolo11n.yaml"  # a model YAML trains from scratch; a .pt file starts from those weights
    epochs: int = 30
    imgsz: int = 640
    batch: int = 16
    workers: int = 2
    device: str = "cpu"
    seed: int = 0
    out: Path = Path("runs/kitchen")
    patience: int = 100
    cache: bool = True
    mosaic: float = 1.0
    close_mosaic: int = 5
    threads: int | None = None
    nbs: int = 64  # nominal batch: gradients accumulate to this many images per optimiser step
    warmup_epochs: float = 3.0
    val_each_epoch: bool = True  # False: validate only after the last epoch
    fraction: float = 1.0  # of the training images, the first ones in sorted order
    time_h: float | None = None  # a time budget in hours: epochs and schedule are refitted to it after each epoch


def read_data_yaml(path: Path) -> dict[str, Any]:
    """The data set's YAML, checked for what training needs: ``train``, ``val`` and ``names``."""
    if not path.is_file():
        raise UserError(f"--data {path}: no such file; make one with `edgewatch generate kitchen-dataset --out DIR` "
                        f"or write an Ultralytics data YAML")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"--data {path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"--data {path}: expected a mapping with train, val and names")
    missing = [k for k in ("train", "val", "names") if k not in data]
    if missing:
        raise UserError(f"--data {path}: missing key {missing[0]!r} (an Ultralytics data YAML has train, val, names)")
    return data


def class_names(data: dict[str, Any]) -> list[str]:
    names = data["names"]
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    return [str(n) for n in names]


def count_images(data_yaml: Path, data: dict[str, Any], split: str) -> int:
    """Images in one split (folders or list files, relative to ``path`` or the YAML's folder)."""
    root = Path(data.get("path") or data_yaml.parent)
    if not root.is_absolute():
        root = data_yaml.parent / root
    entries = data[split] if isinstance(data[split], list) else [data[split]]
    n = 0
    for entry in entries:
        p = root / entry
        if p.is_dir():
            n += sum(1 for f in p.rglob("*") if f.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp"})
        elif p.is_file():
            n += sum(1 for line in p.read_text().splitlines() if line.strip())
    return n


def _device_name(torch: Any, device: str) -> str:
    """What trained: the GPU's name for a CUDA device index, else the device string as given."""
    first = device.split(",")[0].removeprefix("cuda:")
    if first.isdigit() and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(int(first)))
    return device


def train(settings: TrainSettings, command: str | None = None) -> Path:
    """Train, write the run's ``edgewatch-train.json``, and return the best weights' path."""
    ultralytics = require_ultralytics("edgewatch train")
    data = read_data_yaml(settings.data)
    import torch

    if settings.threads:
        torch.set_num_threads(settings.threads)
    run_dir = settings.out.resolve()
    from_weights = settings.model.endswith(".pt")
    if from_weights and not Path(settings.model).is_file():
        raise UserError(f"--model {settings.model}: no such weights file (nothing is downloaded; give a local "
                        f".pt or a model YAML such as yolo11n.yaml)")
    model = ultralytics.YOLO(settings.model)
    started = time.monotonic()
    model.train(
        data=str(settings.data.resolve()), epochs=settings.epochs, imgsz=settings.imgsz, batch=settings.batch,
        workers=settings.workers, device=settings.device, seed=settings.seed, deterministic=True,
        project=str(run_dir.parent), name=run_dir.name, exist_ok=True,
        # From a model YAML: from scratch, never fetching weights. From a local .pt: those weights (Ultralytics
        # 8.4 discards them and starts from scratch when pretrained=False).
        pretrained=from_weights,
        amp=False,  # the AMP self-check downloads yolo11n.pt; CPU training has no AMP anyway
        plots=False, patience=settings.patience, cache=settings.cache, mosaic=settings.mosaic,
        close_mosaic=settings.close_mosaic, nbs=settings.nbs, warmup_epochs=settings.warmup_epochs,
        val=settings.val_each_epoch, fraction=settings.fraction, verbose=True,
        **({"time": settings.time_h} if settings.time_h else {}),
    )
    wall_s = time.monotonic() - started
    trainer = model.trainer
    if trainer is None:
        raise UserError("edgewatch train: Ultralytics returned without a trainer; see the log above")
    save_dir = Path(trainer.save_dir)
    best = save_dir / "weights" / "best.pt"
    if not best.is_file():
        best = save_dir / "weights" / "last.pt"
    command = command or shlex.join(["edgewatch", "train", *sys.argv[2:]])
    architecture = (f"{settings.model} (from scratch)" if settings.model.endswith((".yaml", ".yml"))
                    else settings.model)
    # The epochs actually trained: a time budget or early stopping ends the run before settings.epochs.
    epochs = int(getattr(trainer, "epoch", settings.epochs - 1)) + 1
    parent = Path(settings.model).resolve().parent.parent / TRAIN_RECORD
    if settings.model.endswith(".pt") and parent.is_file():
        # Continued from weights of an earlier `edgewatch train`: the record keeps the whole chain of commands.
        earlier = json.loads(parent.read_text())
        command = f"{earlier['command']} && {command}"
        architecture = f"{earlier['architecture']}, continued from {settings.model}"
        epochs += int(earlier["epochs"])
        wall_s += float(earlier.get("wall_time_s") or 0.0)
    record = {
        "command": command,
        "data": str(data.get("description") or f"YOLO data set {settings.data}"),
        "data_command": data.get("generated_by"),
        "architecture": architecture,
        "epochs": epochs,
        "imgsz": settings.imgsz,
        "images_train": round(count_images(settings.data, data, "train") * settings.fraction),
        "images_val": count_images(settings.data, data, "val"),
        "classes": class_names(data),
        "wall_time_s": round(wall_s, 1),
        "device": _device_name(torch, settings.device),
        "versions": {"ultralytics": ultralytics.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
    }
    (save_dir / TRAIN_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return best
