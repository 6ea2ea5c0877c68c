"""Reading and writing calibration files (YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml

from calibration.errors import CalibrationError
from calibration.model import FacadeCalibration, FacadeGeometry

M = TypeVar("M", bound=FacadeGeometry)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping at the top of a YAML file, or a :class:`CalibrationError` saying what is wrong with it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationError(f"{p}: file not found; check the path") from None
    except OSError as exc:
        raise CalibrationError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise CalibrationError(f"{p}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise CalibrationError(f"{p}: expected a YAML mapping (building:, image_size:, floors:, …) at the top")
    return data


def load_model(path: str | Path, model: type[M]) -> M:
    data = read_yaml(path)
    try:
        return model.model_validate(data)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from None


def load_calibration(path: str | Path) -> FacadeCalibration:
    """Load and validate a calibration file; errors name the file and the key."""
    return load_model(path, FacadeCalibration)


class _FlowDumper(yaml.SafeDumper):
    """Block style for the document, flow style for short lists and for mappings of scalars (one per line)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = all(not isinstance(v, dict | list | tuple) for v in data)
    pairs = all(isinstance(v, list | tuple) and all(not isinstance(w, dict | list) for w in v) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat or (pairs and len(data) <= 4))


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    flat = all(not isinstance(v, dict) and not (isinstance(v, list) and len(v) > 8) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flat and len(data) <= 8)


_FlowDumper.add_representer(list, _represent_list)
_FlowDumper.add_representer(tuple, _represent_list)  # type: ignore[arg-type]
_FlowDumper.add_representer(dict, _represent_dict)


class _Document(dict[str, Any]):
    """The top-level mapping: always block style."""


def _represent_document(dumper: yaml.SafeDumper, data: _Document) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=False)


_FlowDumper.add_representer(_Document, _represent_document)

# The contract's key order; unknown keys (added by newer versions or by hand) follow.
KEY_ORDER = (
    "building",
    "camera_id",
    "image_size",
    "intrinsics",
    "extrinsics",
    "floors",
    "roof_z",
    "columns",
    "detection_area",
    "ignore_areas",
    "points",
    "uncertainty",
    "fit",
)


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML text in the style of the contract example."""
    ordered = _Document({k: data[k] for k in KEY_ORDER if k in data})
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    return yaml.dump(ordered, Dumper=_FlowDumper, sort_keys=False, width=110, allow_unicode=True)


def calibration_to_dict(cal: FacadeGeometry) -> dict[str, Any]:
    data = cal.model_dump(mode="json", exclude_none=True)
    for key in ("columns", "ignore_areas", "points"):
        if not data.get(key):
            data.pop(key, None)
    return data


def save_calibration(cal: FacadeGeometry, path: str | Path) -> None:
    """Write ``cal`` as YAML (the contract layout); numbers rounded only where YAML prints them."""
    Path(path).write_text(dump_yaml(calibration_to_dict(cal)), encoding="utf-8")
