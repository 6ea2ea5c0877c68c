"""Synthetic kitchen scenes: determinism, truth boxes against the pixels, rule truth against the frames, the camera
file contract and the YOLO export. Tiny clips (320×180, a few seconds) keep it fast."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edgewatch.scenes.kitchen import (
    KITCHEN_CLASSES,
    KitchenSceneSpec,
    export_yolo_dataset,
    make_renderer,
    random_spec,
    render_frame,
    render_scene,
    rule_truth,
)
from edgewatch.scenes.kitchen_camera import CeilingCamera
from edgewatch.scenes.kitchen_layout import BIN_USE_RADIUS_M, front_of
from edgewatch.scenes.kitchen_staff import HAT_STYLES

W, H = 320, 180
DUR_S = 8.0


def _find_spec(start: int, kind: str) -> KitchenSceneSpec:
    for seed in range(start, start + 300):
        spec = random_spec(seed, width=W, height=H, duration_s=DUR_S)
        if any(v["type"] == kind for v in rule_truth(spec)[1]):
            return spec
    raise AssertionError(f"no seed from {start} gives a {kind} violation")


@pytest.fixture(scope="module")
def hat_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[KitchenSceneSpec, dict[str, Path], dict[str, Any]]:
    spec = _find_spec(100, "missing_chef_hat")
    paths = render_scene(spec, tmp_path_factory.mktemp("hat"), "hat")
    return spec, paths, json.loads(paths["truth"].read_text())


@pytest.fixture(scope="module")
def bin_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[KitchenSceneSpec, dict[str, Path], dict[str, Any]]:
    spec = _find_spec(500, "uncovered_bin")
    paths = render_scene(spec, tmp_path_factory.mktemp("bin"), "bin")
    return spec, paths, json.loads(paths["truth"].read_text())


def test_projection_matches_a_case_worked_by_hand() -> None:
    # camera 3 m up looking along +x, 45° down: the optical axis meets the floor at x = 3 m
    cam = CeilingCamera(0.0, 0.0, 3.0, 0.0, 45.0, 90.0, 640, 360)
    uv, z = cam.project(np.array([[3.0, 0.0, 0.0], [3.0, 1.0, 0.0]]))
    assert np.allclose(uv[0], [320.0, 180.0])
    # (3, 1, 0) lies 1 m to the left (+y): x_cam = −1, depth = (3 + 3)·cos 45°
    depth = 6.0 * math.cos(math.radians(45.0))
    assert z[1] == pytest.approx(depth)
    assert uv[1, 0] == pytest.approx(320.0 - cam.focal_px / depth)
    assert cam.focal_px == pytest.approx(320.0)


def test_painters_order_of_footprints() -> None:
    cam = np.array([0.0, 0.0])
    table = (2.0, 3.0, 2.0, 3.0)
    assert front_of((2.2, 2.6, 1.0, 1.5), table, cam) == 1  # between camera and table: drawn after it
    assert front_of((2.2, 2.6, 3.5, 4.0), table, cam) == -1  # behind the table: drawn before it


def test_same_seed_same_scene(tmp_path: Path) -> None:
    a = random_spec(11, width=W, height=H, duration_s=2.0)
    b = random_spec(11, width=W, height=H, duration_s=2.0)
    assert a == b
    assert random_spec(12, width=W, height=H, duration_s=2.0) != a
    img_a, _ = render_frame(a, make_renderer(a), 20)
    img_b, _ = render_frame(b, make_renderer(b), 20)
    assert np.array_equal(img_a, img_b)
    ta = render_scene(a, tmp_path / "a", "k")["truth"].read_bytes()
    tb = render_scene(b, tmp_path / "b", "k")["truth"].read_bytes()
    assert ta == tb


def test_boxes_inside_image_and_people_differ_from_empty_background(hat_scene: Any) -> None:
    spec, _, truth = hat_scene
    assert truth["image_size"] == [W, H]
    assert len(truth["frames"]) == spec.n_frames
    for fr in truth["frames"]:
        for o in fr["objects"]:
            x0, y0, x1, y1 = o["box"]
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H, o
            assert o["label"] in KITCHEN_CLASSES
    renderer = make_renderer(spec)
    checked = 0
    for i in range(0, spec.n_frames, 15):
        with_people, drawn = render_frame(spec, renderer, i)
        empty, _ = render_frame(spec, renderer, i, with_people=False)
        for d in drawn:
            if d.key != "person" or d.box is None or d.visible < 0.3:
                continue
            x0, y0, x1, y1 = d.box
            diff = np.abs(with_people[y0:y1, x0:x1].astype(int) - empty[y0:y1, x0:x1].astype(int)).max(axis=2)
            assert (diff > 10).mean() > 0.2, (i, d.track_id, d.box)
            checked += 1
    assert checked > 0


def test_head_labels_match_the_render(hat_scene: Any, bin_scene: Any) -> None:
    n_hats = 0
    for _, _, truth in (hat_scene, bin_scene):
        for fr in truth["frames"]:
            people = {o["track_id"]: o for o in fr["objects"] if o["label"] == "person"}
            for o in fr["objects"]:
                if o.get("part_of") != "person":
                    continue
                hat = o["hat"]
                want = "bare_head" if hat is None else "chef_hat" if HAT_STYLES[hat] else "other_headwear"
                assert o["label"] == want
                person = people[o["track_id"]]
                assert person["hat"] == hat
                px0, py0, px1, py1 = person["box"]
                hx0, hy0, hx1, hy1 = o["box"]
                assert px0 <= hx0 and py0 <= hy0 and hx1 <= px1 and hy1 <= py1
                if person["visible"] > 0.9:
                    # the head is the top of a fully visible person
                    assert hy0 - py0 <= 0.12 * (py1 - py0) + 2
                if hat is not None and o["hat_box"] is not None:
                    ax0, ay0, ax1, ay1 = o["hat_box"]
                    assert hx0 <= ax0 and hy0 <= ay0 and ax1 <= hx1 and ay1 <= hy1
                    assert ay0 == hy0  # headwear sits on top of the head
                    n_hats += 1
                elif hat is None:
                    assert o["hat_box"] is None
    assert n_hats > 0


def _frames_in(truth: dict[str, Any], start: float, end: float) -> list[dict[str, Any]]:
    return [fr for fr in truth["frames"] if start - 1e-6 <= fr["t"] < end - 1e-6]


def test_missing_hat_violations_agree_with_frames(hat_scene: Any) -> None:
    spec, _, truth = hat_scene
    violations = [v for v in truth["violations"] if v["type"] == "missing_chef_hat"]
    assert violations
    for v in violations:
        assert v["end_s"] - v["start_s"] >= truth["rules"]["missing_chef_hat_after_s"] - 1e-6
        assert v["alarm_s"] == pytest.approx(v["start_s"] + truth["rules"]["missing_chef_hat_after_s"])
        frames = _frames_in(truth, v["start_s"], v["end_s"])
        seen = 0
        for fr in frames:
            person = [o for o in fr["objects"] if o["label"] == "person" and o["track_id"] == v["track_id"]]
            if person:
                seen += 1
                assert v["zone"] in person[0]["zones"]
                assert person[0]["hat"] is None or not HAT_STYLES[person[0]["hat"]]
            for ps in spec.people_at(fr["t"]):
                if ps.track_id == v["track_id"]:
                    assert ps.hat is None or not HAT_STYLES[ps.hat]
        assert seen >= 0.8 * len(frames)
    # one violation per person per stay
    keys = [(v["track_id"], v["zone"], v["stay"]) for v in violations]
    assert len(keys) == len(set(keys))


def test_uncovered_bin_violations_agree_with_frames(bin_scene: Any) -> None:
    spec, _, truth = bin_scene
    violations = [v for v in truth["violations"] if v["type"] == "uncovered_bin"]
    assert violations
    bins = {b.name: b for b in spec.layout.bins}
    for v in violations:
        assert v["end_s"] - v["start_s"] >= truth["rules"]["uncovered_bin_after_s"] - 1e-6
        b = bins[v["zone"]].box
        for fr in _frames_in(truth, v["start_s"], v["end_s"]):
            labels = [o["label"] for o in fr["objects"] if o.get("zone") == v["zone"]]
            assert labels in ([], ["bin_open"])  # [] only if the bin is hidden
            for p in spec.people_at(fr["t"]):
                d = math.hypot(max(b.x0 - p.x_m, 0, p.x_m - b.x1), max(b.y0 - p.y_m, 0, p.y_m - b.y1))
                assert d > BIN_USE_RADIUS_M
    # every violation is also a raw condition
    conds = {(c["type"], c["zone"], c["start_s"], c["end_s"]) for c in truth["conditions"]}
    for v in truth["violations"]:
        assert (v["type"], v["zone"], v["start_s"], v["end_s"]) in conds


def test_camera_file_has_the_contract_keys(hat_scene: Any) -> None:
    _, paths, truth = hat_scene
    cam = yaml.safe_load(paths["camera"].read_text())
    for key in ("camera_id", "detector", "source", "zones", "rules", "pre_roll_s", "post_roll_s"):
        assert key in cam
    assert cam["detector"] == "kitchen"
    assert set(cam["rules"]) == {"missing_chef_hat_after_s", "uncovered_bin_after_s"}
    kinds = {z["kind"] for z in cam["zones"]}
    assert kinds <= {"hat_required", "bin"} and "hat_required" in kinds
    for z in cam["zones"]:
        poly = np.array(z["polygon"])
        assert poly.shape[1] == 2 and len(poly) >= 3
        assert poly[:, 0].min() >= 0 and poly[:, 0].max() <= W and poly[:, 1].min() >= 0 and poly[:, 1].max() <= H
    assert truth["camera"] == paths["camera"].name and truth["video"] == paths["video"].name
    assert paths["video"].stat().st_size > 1000


def test_yolo_export_writes_valid_labels(tmp_path: Path) -> None:
    data_yaml = export_yolo_dataset(tmp_path / "ds", 8, 3, imgsz=192, val_fraction=0.5)
    data = yaml.safe_load(data_yaml.read_text())
    assert data["names"] == dict(enumerate(KITCHEN_CLASSES)) and data["nc"] == len(KITCHEN_CLASSES)
    images = {s: sorted((tmp_path / "ds" / "images" / s).glob("*.jpg")) for s in ("train", "val")}
    assert len(images["train"]) + len(images["val"]) == 8 and images["train"] and images["val"]
    scenes = {s: {p.stem.rsplit("-", 1)[0] for p in images[s]} for s in images}
    assert not scenes["train"] & scenes["val"]  # split by scene, not by frame
    n_boxes = 0
    for split, imgs in images.items():
        for img in imgs:
            label = tmp_path / "ds" / "labels" / split / f"{img.stem}.txt"
            for line in label.read_text().splitlines():
                parts = line.split()
                assert len(parts) == 5
                assert 0 <= int(parts[0]) < len(KITCHEN_CLASSES)
                cx, cy, w, h = map(float, parts[1:])
                assert 0 < w <= 1 and 0 < h <= 1
                assert cx - w / 2 >= -1e-6 and cx + w / 2 <= 1 + 1e-6
                assert cy - h / 2 >= -1e-6 and cy + h / 2 <= 1 + 1e-6
                n_boxes += 1
    assert n_boxes > 0


def test_yolo_export_is_the_same_rendered_in_parallel(tmp_path: Path) -> None:
    """``jobs`` renders scenes in other processes; every random draw is made beforehand, so the files are the
    same byte for byte (a data set's command reproduces it whatever machine made it)."""
    one = export_yolo_dataset(tmp_path / "one", 14, 5, imgsz=160, val_fraction=0.3).parent
    three = export_yolo_dataset(tmp_path / "three", 14, 5, imgsz=160, val_fraction=0.3, jobs=3).parent
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file() and p.name != "data.yaml")
    assert len(files) == 2 * 14 and files == sorted(p.relative_to(three) for p in three.rglob("*")
                                                      if p.is_file() and p.name != "data.yaml")
    assert all((one / f).read_bytes() == (three / f).read_bytes() for f in files)
