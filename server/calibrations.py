"""Camera calibrations kept by the server: versioned (who saved which, when), fitted from clicked points.

Nothing here knows HTTP (``server/api/calibrations.py`` is the thin layer over it). The geometry is
``calibration/`` itself: the fit is :func:`calibration.fit.fit_calibration`, the grid lines are the calibration
model's own projection (:meth:`FacadeCalibration.project`, lens distortion included) sampled along each storey
floor and column edge, so the web page draws exactly what ``edgewatch calibrate preview`` draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from calibration import FacadeCalibration
from calibration.fit import CalibrationPoints, fit_calibration
from calibration.io import calibration_to_dict
from calibration.preview import facade_x_range
from server.db import Base, UTCDateTime, utcnow

SAMPLES_PER_LINE = 48
"""Points per grid line: enough for a strongly distorted lens to bend the line visibly, few enough to send."""


class CameraCalibration(Base):
    """One saved version of a camera's calibration (never updated: a new save is a new version)."""

    __tablename__ = "camera_calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(128))
    camera_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    calibration: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("site", "camera_id", "version", name="uq_camera_calibrations_version"),
        Index("ix_camera_calibrations_camera", "site", "camera_id"),
    )


Polyline = list[list[float]]


@dataclass(frozen=True)
class GridLine:
    """A storey floor (``kind`` "storey", at the bottom of storey ``name``; "roof" for the top) or a column edge
    (``kind`` "column"), as pixel polylines (split where the line leaves the camera's view)."""

    kind: str
    name: str
    pieces: list[Polyline]


def _pieces(cal: FacadeCalibration, start: np.ndarray, end: np.ndarray) -> list[Polyline]:
    s = np.linspace(0.0, 1.0, SAMPLES_PER_LINE)[:, None]
    uv = cal.project(start[None, :] * (1 - s) + end[None, :] * s)
    w, h = cal.image_size
    ok = np.all(np.isfinite(uv), axis=1) & (np.abs(uv[:, 0]) < 4 * w) & (np.abs(uv[:, 1]) < 4 * h)
    pieces: list[Polyline] = []
    run: Polyline = []
    for good, (u, v) in zip(ok, uv, strict=True):
        if good:
            run.append([round(float(u), 1), round(float(v), 1)])
        else:
            if len(run) > 1:
                pieces.append(run)
            run = []
    if len(run) > 1:
        pieces.append(run)
    return pieces


def facade_grid(cal: FacadeCalibration) -> list[GridLine]:
    """Storey floors (and the roof) across the facade, and column edges from ground to roof, on the facade
    plane y = 0, projected into the image."""
    x0, x1 = facade_x_range(cal)
    edges = cal.storey_edges_m
    lines: list[GridLine] = []
    for i, z in enumerate(edges):
        name = cal.floors[i].name if i < len(cal.floors) else "roof"
        lines.append(GridLine("storey" if i < len(cal.floors) else "roof", name,
                              _pieces(cal, np.array([x0, 0.0, z]), np.array([x1, 0.0, z]))))
    for x in sorted({c.x_min for c in cal.columns} | {c.x_max for c in cal.columns}):
        names = [c.name for c in cal.columns if c.x_min == x]
        lines.append(GridLine("column", names[0] if names else "", _pieces(
            cal, np.array([x, 0.0, edges[0]]), np.array([x, 0.0, edges[-1]]))))
    return lines


@dataclass(frozen=True)
class FitReport:
    """A fit as the calibration page shows it."""

    calibration: dict[str, Any]
    rms_px: float
    rms_storey_fraction: float
    residuals_px: list[float]
    outliers: list[int]
    grid: list[GridLine]


def fit_from_points(points: dict[str, Any]) -> FitReport:
    """Fit a camera to the clicked points in ``points`` (the calibration file with ``points``); raises
    :class:`calibration.CalibrationError` with a message for the user when it cannot or should not."""
    fit = fit_calibration(CalibrationPoints.model_validate(points))
    return FitReport(calibration=calibration_to_dict(fit.calibration), rms_px=round(fit.rms_px, 3),
                     rms_storey_fraction=round(fit.rms_storey_fraction, 4),
                     residuals_px=[round(float(r), 2) for r in fit.residuals_px], outliers=list(fit.outliers),
                     grid=facade_grid(fit.calibration))


def validated(calibration: dict[str, Any]) -> FacadeCalibration:
    """The full calibration (intrinsics and extrinsics included); :class:`CalibrationError` names bad keys."""
    return FacadeCalibration.model_validate(calibration)


def save_version(session: Session, site: str, camera_id: str, cal: FacadeCalibration, actor: str) -> CameraCalibration:
    """Store ``cal`` as the camera's next version, saved by ``actor`` now (the caller commits)."""
    newest = session.scalar(select(func.max(CameraCalibration.version))
                            .where(CameraCalibration.site == site, CameraCalibration.camera_id == camera_id))
    row = CameraCalibration(site=site, camera_id=camera_id, version=(newest or 0) + 1,
                            calibration=calibration_to_dict(cal), saved_by=actor, saved_at=utcnow())
    session.add(row)
    session.flush()
    return row


def versions(session: Session, site: str, camera_id: str) -> list[CameraCalibration]:
    """All saved versions of a camera's calibration, newest first."""
    return list(session.scalars(select(CameraCalibration)
                                .where(CameraCalibration.site == site, CameraCalibration.camera_id == camera_id)
                                .order_by(CameraCalibration.version.desc())).all())
