"""Camera calibration against a building facade, and back-projection of falling-object tracks.

Pure geometry: no video, no MQTT. See docs/calibration.md.

>>> from calibration import load_calibration
>>> cal = load_calibration("calibration/examples/caima-b3-east.yaml")  # doctest: +SKIP
>>> cal.floor_at(34.2)  # doctest: +SKIP
'12'
"""

from calibration.camera import Camera
from calibration.errors import CalibrationError
from calibration.io import load_calibration, save_calibration
from calibration.model import (
    CalibrationPoint,
    CalibrationUncertainty,
    Column,
    Extrinsics,
    FacadeCalibration,
    FacadeGeometry,
    Intrinsics,
    Storey,
)

__all__ = [
    "CalibrationError",
    "CalibrationPoint",
    "CalibrationUncertainty",
    "Camera",
    "Column",
    "Extrinsics",
    "FacadeCalibration",
    "FacadeGeometry",
    "Intrinsics",
    "Storey",
    "load_calibration",
    "save_calibration",
]
