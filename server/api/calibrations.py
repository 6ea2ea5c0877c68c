"""/calibrations: fit a camera to clicked facade points, preview the storey/column grid, save versions.

Fitting and previewing are pure geometry (any signed-in user); saving needs a manager of the camera's site and
makes a new version with who and when. Handlers stay thin: the work is in ``server/calibrations.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from calibration import CalibrationError
from server.api.deps import PrincipalDep, SessionDep, not_found, require_role
from server.auth import Principal
from server.calibrations import CameraCalibration, GridLine, facade_grid, fit_from_points, save_version, validated
from server.calibrations import versions as calibration_versions
from server.config import ID_PATTERN

router = APIRouter(prefix="/calibrations", tags=["calibrations"])

SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]
ManagerDep = Annotated[Principal, Depends(require_role("manager"))]


class GridLineOut(BaseModel):
    kind: str = Field(description="storey (bottom edge of that storey) | roof | column (left edge of that column)")
    name: str
    pieces: list[list[list[float]]] = Field(description="pixel polylines [[u, v], …]")

    @classmethod
    def of(cls, line: GridLine) -> GridLineOut:
        return cls(kind=line.kind, name=line.name, pieces=line.pieces)


class FitIn(BaseModel):
    points: dict[str, Any] = Field(description="the calibration file with `points` (as `calibrate fit` reads)")


class FitOut(BaseModel):
    calibration: dict[str, Any]
    rms_px: float
    rms_storey_fraction: float
    residuals_px: list[float] = Field(description="per clicked point, pixels between click and reprojection")
    outliers: list[int] = Field(description="indices of points flagged as mis-clicks (left out of the fit)")
    grid: list[GridLineOut]


class CalibrationIn(BaseModel):
    calibration: dict[str, Any] = Field(description="a full calibration file (intrinsics and extrinsics included)")


class GridOut(BaseModel):
    grid: list[GridLineOut]


class CalibrationVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site: str
    camera_id: str
    version: int
    saved_by: str
    saved_at: datetime
    calibration: dict[str, Any]


class CalibrationHistoryOut(BaseModel):
    current: CalibrationVersionOut | None
    versions: list[CalibrationVersionOut] = Field(description="newest first, each with who saved it and when")


def _unprocessable(exc: CalibrationError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


@router.post("/fit", response_model=FitOut, summary="Fit a camera to clicked points; grid lines to draw")
def fit(body: FitIn) -> FitOut:
    try:
        report = fit_from_points(body.points)
    except CalibrationError as exc:
        raise _unprocessable(exc) from None
    return FitOut(calibration=report.calibration, rms_px=report.rms_px,
                  rms_storey_fraction=report.rms_storey_fraction, residuals_px=report.residuals_px,
                  outliers=report.outliers, grid=[GridLineOut.of(g) for g in report.grid])


@router.post("/preview", response_model=GridOut, summary="The storey/column grid of a calibration, in pixels")
def preview(body: CalibrationIn) -> GridOut:
    try:
        cal = validated(body.calibration)
    except CalibrationError as exc:
        raise _unprocessable(exc) from None
    return GridOut(grid=[GridLineOut.of(g) for g in facade_grid(cal)])


@router.get("/{site}/{camera_id}", response_model=CalibrationHistoryOut,
            summary="A camera's calibration and its saved versions")
def history(site: SiteId, camera_id: SiteId, principal: PrincipalDep, session: SessionDep) -> CalibrationHistoryOut:
    if not principal.can_see(site):
        raise not_found("camera")
    rows = calibration_versions(session, site, camera_id)
    out = [CalibrationVersionOut.model_validate(r) for r in rows]
    return CalibrationHistoryOut(current=out[0] if out else None, versions=out)


@router.post("/{site}/{camera_id}", response_model=CalibrationVersionOut, status_code=status.HTTP_201_CREATED,
             summary="Save a new version of a camera's calibration (managers)")
def save(site: SiteId, camera_id: SiteId, body: CalibrationIn, principal: ManagerDep,
         session: SessionDep) -> CalibrationVersionOut:
    if not principal.can_see(site):
        raise not_found("camera")
    try:
        cal = validated(body.calibration)
    except CalibrationError as exc:
        raise _unprocessable(exc) from None
    if cal.camera_id is not None and cal.camera_id != camera_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"camera_id: the calibration is for {cal.camera_id!r}, not {camera_id!r}")
    row: CameraCalibration = save_version(session, site, camera_id, cal, principal.name)
    session.commit()
    return CalibrationVersionOut.model_validate(row)
