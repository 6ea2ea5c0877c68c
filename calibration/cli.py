"""``edgewatch calibrate fit | preview | intrinsics``: the building manager's calibration commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import ValidationError

from calibration.errors import CalibrationError
from calibration.fit import DEFAULT_MAX_STOREY_FRACTION, DEFAULT_OUTLIER_PX, CalibrationPoints, fit_calibration
from calibration.intrinsics import calibrate_intrinsics, parse_board
from calibration.io import dump_yaml, load_calibration, load_model, read_yaml, save_calibration
from calibration.model import Intrinsics, describe_validation_error
from calibration.preview import draw_facade_grid


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def add_parser(subparsers: Any) -> None:
    """Register ``calibrate`` and its sub-commands on the ``edgewatch`` parser."""
    cal = subparsers.add_parser(
        "calibrate",
        help="camera calibration against a building facade",
        description="Fit a camera to clicked facade points, check it on an image, or calibrate a lens from "
        "checkerboard photos. Files follow the calibration file contract (docs/calibration.md).",
    )
    cal.set_defaults(func=lambda _args: (cal.print_help(sys.stderr), 2)[1])
    sub = cal.add_subparsers(dest="calibrate_command", metavar="SUBCOMMAND")

    fit = sub.add_parser(
        "fit",
        help="fit camera pose (and focal length) to clicked facade points",
        description="Read a calibration file with `points:` (6–30 clicks {u, v, x, z} or {u, v, x, floor, dz}, "
        "y defaults to 0 = facade plane) and optional known `intrinsics:`; estimate the camera pose (and focal "
        "length when not given), flag mis-clicked points, report the reprojection error of a click in pixels and as "
        "a share of a storey, and write the completed calibration.",
    )
    fit.add_argument("points", metavar="POINTS.yaml", help="calibration file with clicked points")
    fit.add_argument("-o", "--output", required=True, metavar="CAL.yaml", help="where to write the calibration")
    fit.add_argument(
        "--intrinsics",
        metavar="INTR.yaml",
        help="known lens (output of `calibrate intrinsics`); overrides `intrinsics:` in POINTS.yaml",
    )
    fit.add_argument(
        "--max-storey-fraction",
        type=float,
        default=DEFAULT_MAX_STOREY_FRACTION,
        help="refuse when the RMS reprojection error of a click exceeds this share of a storey's height at the top "
        f"of the clicked area (default {DEFAULT_MAX_STOREY_FRACTION})",
    )
    fit.add_argument(
        "--outlier-px",
        type=float,
        default=DEFAULT_OUTLIER_PX,
        help="least leave-one-out error, pixels, for a point to be flagged as mis-clicked; it must also be 5 "
        "standard deviations off (click noise plus the other points' prediction error) "
        f"(default {DEFAULT_OUTLIER_PX:g})",
    )
    fit.set_defaults(func=run_fit)

    prev = sub.add_parser(
        "preview",
        help="draw storey and column lines over a camera image",
        description="Project the facade grid (storey floors, column edges, names, clicked points) through the "
        "calibrated camera, lens distortion included, and draw it over IMAGE.",
    )
    prev.add_argument("calibration", metavar="CAL.yaml")
    prev.add_argument("image", metavar="IMAGE", help="a frame from the camera, full resolution")
    prev.add_argument("-o", "--output", required=True, metavar="OUT.png")
    prev.set_defaults(func=run_preview)

    intr = sub.add_parser(
        "intrinsics",
        help="calibrate the lens from checkerboard photos",
        description="Find a checkerboard in each image (cv2.findChessboardCorners) and estimate focal length, "
        "principal point and distortion (cv2.calibrateCamera, or cv2.fisheye.calibrate with --fisheye).",
    )
    intr.add_argument("images", nargs="+", metavar="IMAGE", help="photos of the board from this camera")
    intr.add_argument("--board", default="9x6", help="inner corners COLSxROWS (default 9x6)")
    intr.add_argument("--square-mm", type=float, default=25.0, help="side of one square in mm (default 25)")
    intr.add_argument("--fisheye", action="store_true", help="use the fisheye lens model (k1..k4)")
    intr.add_argument("-o", "--output", required=True, metavar="INTR.yaml")
    intr.set_defaults(func=run_intrinsics)


def _load_points(args: argparse.Namespace) -> CalibrationPoints:
    if not args.intrinsics:
        return load_model(args.points, CalibrationPoints)
    data = read_yaml(args.points)
    lens = read_yaml(args.intrinsics)
    try:
        known = Intrinsics.model_validate(lens.get("intrinsics", lens))
    except ValidationError as exc:
        detail = describe_validation_error(exc)
        raise CalibrationError(f"{args.intrinsics}: intrinsics.{detail}") from None
    size = lens.get("image_size")
    if size is not None and "image_size" in data and list(size) != list(data["image_size"]):
        raise CalibrationError(
            f"{args.intrinsics}: calibrated for {size[0]}×{size[1]} images, but {args.points} says "
            f"image_size {data['image_size']}; calibrate the lens at the camera's full resolution"
        )
    data["intrinsics"] = known.model_dump()
    try:
        return CalibrationPoints.model_validate(data)
    except CalibrationError as exc:
        raise CalibrationError(f"{args.points}: {exc}") from None


def run_fit(args: argparse.Namespace) -> int:
    points = _load_points(args)
    result = fit_calibration(
        points, max_storey_fraction=args.max_storey_fraction, outlier_px=args.outlier_px, progress=_say
    )
    _say(f"{'#':>3} {'u':>8} {'v':>8} {'x':>7} {'z':>7} {'err px':>7} {'LOO px':>7} {'flag at':>7}")
    _, xyz = points.point_arrays()
    for i, p in enumerate(points.points):
        flag = "  <- mis-click? left out of the fit" if i in result.outliers else ""
        _say(
            f"{i:>3} {p.u:>8.1f} {p.v:>8.1f} {xyz[i, 0]:>7.2f} {xyz[i, 2]:>7.2f} "
            f"{result.residuals_px[i]:>7.2f} {result.loo_residuals_px[i]:>7.2f} {result.loo_limit_px[i]:>7.1f}{flag}"
        )
    cal = result.calibration
    c = cal.camera_center
    _say(
        f"camera at x={c[0]:.2f} y={c[1]:.2f} z={c[2]:.2f} m, fx={cal.intrinsics.fx:.1f} px; "
        f"reprojection error {result.rms_px:.2f} px RMS per click = {100 * result.rms_storey_fraction:.1f} % "
        f"of a storey "
        f"({result.storey_px_at_top:.1f} px) at z={result.z_top_m:.1f} m; pointing ±{result.rotation_std_deg:.2f}°"
    )
    if result.outliers:
        _say(f"flagged {len(result.outliers)} point(s) as mis-clicked: {result.outliers}; re-click them to check")
    loose = result.loosely_checked()
    if loose:
        _say(
            f"point(s) {loose}: the other points predict them too loosely to catch a 50 px mis-click ('flag at' "
            "column); check them by eye or add points near them"
        )
    save_calibration(cal, args.output)
    _say(f"wrote {args.output}")
    return 0


def run_preview(args: argparse.Namespace) -> int:
    cal = load_calibration(args.calibration)
    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image is None:
        raise CalibrationError(f"{args.image}: cannot read this image (missing file or not an image)")
    h, w = image.shape[:2]
    if (w, h) != cal.image_size:
        raise CalibrationError(
            f"{args.image}: image is {w}×{h} but {args.calibration} is for {cal.image_size[0]}×"
            f"{cal.image_size[1]}; use a full-resolution frame from the same camera"
        )
    _say(f"drawing {len(cal.floors)} storeys and {len(cal.columns)} columns")
    out = draw_facade_grid(cal, image)
    if not cv2.imwrite(args.output, out):
        raise CalibrationError(f"{args.output}: cannot write (check the folder exists and the extension)")
    _say(f"wrote {args.output}")
    return 0


def run_intrinsics(args: argparse.Namespace) -> int:
    board = parse_board(args.board)
    result = calibrate_intrinsics(args.images, board, args.square_mm, fisheye=args.fisheye, progress=_say)
    data = {
        "image_size": list(result.image_size),
        "intrinsics": result.intrinsics.model_dump(),
        "rms_px": round(result.rms_px, 4),
        "views": len(result.used),
    }
    Path(args.output).write_text(dump_yaml(data), encoding="utf-8")
    i = result.intrinsics
    _say(
        f"fx={i.fx:.1f} fy={i.fy:.1f} cx={i.cx:.1f} cy={i.cy:.1f} dist={np.round(i.dist, 4).tolist()} "
        f"rms={result.rms_px:.3f} px over {len(result.used)} views; wrote {args.output}"
    )
    return 0
