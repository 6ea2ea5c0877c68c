"""The falling-object scene generator: determinism, truth geometry, visibility, physics."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
import yaml

from edgewatch.scenes.camera import look_at_camera
from edgewatch.scenes.falling import random_spec, render_scene
from edgewatch.scenes.physics import G_MPS2, drag_constant, integrate_fall, terminal_velocity_mps


def _project(cal_path: Path, xyz: np.ndarray) -> np.ndarray:
    try:
        from calibration import load_calibration

        return np.asarray(load_calibration(cal_path).project(xyz), float)
    except Exception:  # the calibration package is still being written: OpenCV is the reference
        cal = yaml.safe_load(cal_path.read_text())
        i = cal["intrinsics"]
        K = np.array([[i["fx"], 0, i["cx"]], [0, i["fy"], i["cy"]], [0, 0, 1]], float)
        uv, _ = cv2.projectPoints(
            xyz.reshape(-1, 1, 3),
            np.array(cal["extrinsics"]["rvec"]),
            np.array(cal["extrinsics"]["tvec"]),
            K,
            np.array(i["dist"], float),
        )
        return uv.reshape(-1, 2)


def _spec(seed: int = 11, **kw: Any) -> Any:
    spec = random_spec(seed, width=320, height=240, duration_s=2.0, n_throws=1, distractors=kw.pop("distractors", []))
    th = spec.throws[0]
    # make the fall land in the clip's first two seconds where possible, and be big enough to see
    return replace(spec, throws=(replace(th, release_t_s=0.2, **kw),))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Any]:
    spec = _spec(size_m=0.4, low_contrast=False, color_bgr=(20, 20, 230))
    out = tmp_path_factory.mktemp("falling")
    return render_scene(spec, out, "scene"), spec


def test_same_seed_same_truth(tmp_path: Path) -> None:
    a = render_scene(random_spec(3, width=160, height=120, duration_s=0.4, n_throws=1), tmp_path / "a", "s")
    b = render_scene(random_spec(3, width=160, height=120, duration_s=0.4, n_throws=1), tmp_path / "b", "s")
    assert a["truth"].read_text() == b["truth"].read_text()
    assert a["calibration"].read_text() == b["calibration"].read_text()
    assert random_spec(3).throws != random_spec(4).throws


def test_truth_track_reprojects_with_calibration(rendered: tuple[dict[str, Path], Any]) -> None:
    paths, _ = rendered
    truth = json.loads(paths["truth"].read_text())
    assert truth["kind"] == "falling" and truth["video"] == "scene.mp4"
    for th in truth["throws"]:
        xyz = np.array([p["xyz"] for p in th["track"]])
        uv = np.array([[p["u"], p["v"]] for p in th["track"]])
        err = np.abs(_project(paths["calibration"], xyz) - uv).max()
        assert err < 0.05, err
        ts = [p["t"] for p in th["track"]]
        assert np.allclose(np.diff(ts), 1 / truth["fps"], atol=1e-5)  # one point per frame


def test_floor_and_column_match_calibration(rendered: tuple[dict[str, Path], Any]) -> None:
    paths, _ = rendered
    cal = yaml.safe_load(paths["calibration"].read_text())
    truth = json.loads(paths["truth"].read_text())
    floors = cal["floors"]
    assert [f["name"] for f in floors] == [str(i + 1) for i in range(len(floors))]
    for th in truth["throws"]:
        x, y, z = th["release_xyz"]
        i = [f["name"] for f in floors].index(th["floor"])
        top = floors[i + 1]["z"] if i + 1 < len(floors) else cal["roof_z"]
        assert floors[i]["z"] <= z < top
        col = next(c for c in cal["columns"] if c["name"] == th["column"])
        assert col["x_min"] <= x <= col["x_max"]
        assert -2.0 <= y < 0.0  # in front of the facade, on the street side


def test_object_is_in_the_decoded_frame_at_its_truth_position(
    rendered: tuple[dict[str, Path], Any], tmp_path: Path
) -> None:
    paths, spec = rendered
    empty = render_scene(replace(spec, throws=()), tmp_path, "empty")
    truth = json.loads(paths["truth"].read_text())
    with av.open(str(paths["video"])) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    with av.open(str(empty["video"])) as c:
        bg = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    checked = 0
    for p in truth["throws"][0]["track"]:
        if not p["visible"] or p["size_px"] < 2.0:
            continue
        fi = round(p["t"] * truth["fps"])
        diff = np.abs(frames[fi].astype(int) - bg[fi].astype(int)).sum(2).astype(np.float32)
        u, v = p["u"], p["v"]
        r = int(max(3, p["size_px"]))
        y0, x0 = max(0, int(v) - r), max(0, int(u) - r)
        patch = diff[y0 : int(v) + r + 1, x0 : int(u) + r + 1]
        assert patch.max() > 60, (p, patch.max())
        # the difference's centroid sits on the truth position (blur is centred on the frame time)
        ys, xs = np.nonzero(diff > 40)
        near = (np.abs(xs - u) < 3 * r) & (np.abs(ys - v) < 3 * r + 20)
        if near.sum() > 3:
            w = diff[ys[near], xs[near]]
            cu, cv_ = np.average(xs[near], weights=w), np.average(ys[near], weights=w)
            assert math.hypot(cu - u, cv_ - v) < max(1.5, 0.5 * r), (cu, cv_, u, v)
        checked += 1
    assert checked >= 5


def test_landing_time_matches_integrator(rendered: tuple[dict[str, Path], Any]) -> None:
    paths, spec = rendered
    truth = json.loads(paths["truth"].read_text())
    th, ts = truth["throws"][0], spec.throws[0]
    k = drag_constant(ts.mass_kg, ts.drag_area_m2, ts.drag_coefficient)
    traj = integrate_fall(ts.release_xyz_m, ts.velocity0_mps, k, wind_mps=spec.wind_mps)
    assert th["landing_t_s"] == pytest.approx(ts.release_t_s + traj.landing_t_s, abs=1e-3)
    assert th["terminal_velocity_mps"] == pytest.approx(terminal_velocity_mps(k), rel=1e-3)
    assert 15.0 <= th["terminal_velocity_mps"] <= 60.0


def test_free_fall_by_hand() -> None:
    """Without drag, a drop from 20 m lands after sqrt(2h/g) = 2.0193 s; early on a ≈ -g with drag too."""
    traj = integrate_fall((0, -1, 20.0), (0, 0, 0), 0.0)
    assert traj.landing_t_s == pytest.approx(math.sqrt(2 * 20.0 / G_MPS2), abs=1e-6)
    traj = integrate_fall((0, -1, 80.0), (0.5, -1.0, 0.0), drag_constant(1.0, 0.02, 0.9))
    dt = 0.05
    z = traj.position_at(np.array([0.0, dt, 2 * dt]))[:, 2]
    az = (z[2] - 2 * z[1] + z[0]) / dt**2
    assert az == pytest.approx(-G_MPS2, rel=0.02)
    # and it approaches the terminal speed
    v_end = np.linalg.norm(traj.velocity_mps[-1])
    assert v_end < terminal_velocity_mps(drag_constant(1.0, 0.02, 0.9)) * 1.01


def test_camera_matches_design_example() -> None:
    cam = look_at_camera((10.0, -15.0, 1.5), 0.0, 50.0, 0.0, 1920, 1080, 70.0)
    assert cam.rvec == pytest.approx((0.698, 0.0, 0.0), abs=1e-3)
    assert cam.tvec == pytest.approx((-10.0, 12.455, 8.493), abs=2e-3)


def test_distortion_is_written_and_used(tmp_path: Path) -> None:
    for seed in range(40):
        spec = random_spec(seed, width=160, height=120, duration_s=0.2, n_throws=0, distractors=[])
        if spec.camera.has_distortion:
            break
    else:
        pytest.skip("no distorted camera among the first seeds")
    paths = render_scene(spec, tmp_path, "d")
    cal = yaml.safe_load(paths["calibration"].read_text())
    assert cal["intrinsics"]["dist"] == pytest.approx(list(spec.camera.dist))
    assert len(cal["detection_area"]) >= 3


def test_each_distractor_renders_alone(tmp_path: Path) -> None:
    from edgewatch.scenes.distractors import DISTRACTOR_TYPES

    base = random_spec(5, width=160, height=120, duration_s=0.4, n_throws=0, distractors=[])
    for name in DISTRACTOR_TYPES:
        paths = render_scene(replace(base, distractors=(name,)), tmp_path, name)
        truth = json.loads(paths["truth"].read_text())
        assert truth["distractors"] == [name]
    with pytest.raises(ValueError, match="unknown distractor"):
        random_spec(1, distractors=["fog"])
