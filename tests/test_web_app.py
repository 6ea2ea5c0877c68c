"""The web app in a real browser (Debian's Chromium driven by Playwright) against the real server app under
uvicorn on a free localhost port, with a SQLite database seeded through the server's own ingest.

Screenshots of the main pages go to ``artifacts/web/`` (git-ignored), at a laptop and a 375 px phone width.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import uvicorn
from test_server_helpers import REPO, make_event, server_config, topic

from calibration import load_calibration
from server.app import create_app, create_context
from server.context import ServerContext
from server.ingest import Ingest

playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install -e .[dev] (playwright)")

CHROMIUM = os.environ.get("EDGEWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SAMPLE = REPO / "sample_videos" / "falling" / "falling_easy_mid_floor"
ARTIFACTS = REPO / "artifacts" / "web"
ADMIN_TOKEN = "admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def frame_jpeg(video: Path, index: int) -> bytes:
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read frame {index} of {video}"
    return bytes(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])


class World:
    """The running server, its base URL, the users' tokens and the seeded events."""

    def __init__(self, ctx: ServerContext, base: str, tmp: Path) -> None:
        self.ctx, self.base, self.tmp = ctx, base, tmp
        self.ingest = Ingest(ctx.sessions, ctx.store, ctx.rules, ctx.config.ingest, lambda ack: None)
        self.tokens: dict[str, str] = {"admin": ADMIN_TOKEN}
        self.passwords: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []  # the falling events the fixture seeds
        self.clip = (SAMPLE.with_suffix(".mp4")).read_bytes()
        self.snapshot = frame_jpeg(SAMPLE.with_suffix(".mp4"), 70)
        self.truth = json.loads(SAMPLE.with_suffix(".truth.json").read_text())

    def feed(self, event: dict[str, Any], clip: bytes | None = None, snapshot: bytes | None = None) -> None:
        site, cam = event["site"], event["camera_id"]
        self.ingest.handle(topic(site, cam, "event"), json.dumps(event).encode())
        for seq in range(event["clip_chunks"]):
            assert clip is not None
            self.ingest.handle(topic(site, cam, "clip", event["event_id"], str(seq)),
                               clip[seq * 262144:(seq + 1) * 262144])
        if snapshot is not None:
            self.ingest.handle(topic(site, cam, "snapshot", event["event_id"]), snapshot)

    def falling(self, started_at: str, floor: str = "13", column: str = "G") -> dict[str, Any]:
        throw = self.truth["throws"][0]
        track = [{"t": p["t"], "u": p["u"], "v": p["v"]} for p in throw["track"] if p["visible"]]
        ev = make_event(clip=self.clip, snapshot=self.snapshot, started_at=started_at, floor=floor, column=column)
        ev.update(start=track[0]["t"], end=track[-1]["t"], track=track,
                  overlay={"clip_start_media_s": 0.0, "image_size": self.truth["image_size"],
                           "track": [{**p, "media_t": p["t"]} for p in track]})
        ev["release"]["floor_probabilities"] = {"12": 0.12, floor: 0.8, "14": 0.08}
        self.feed(ev, self.clip, self.snapshot)
        return ev

    def user(self, name: str, role: str, sites: list[str]) -> str:
        """A user with a password (for the sign-in form) and an API token (for the test's own API calls)."""
        password = f"{name}-harbour-lantern"
        r = httpx.post(f"{self.base}/api/v1/users", json={"name": name, "role": role, "sites": sites,
                                                           "password": password},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert r.status_code == 201, r.text
        self.tokens[name], self.passwords[name] = r.json()["token"], password
        return self.tokens[name]

    def get(self, path: str, who: str = "admin") -> Any:
        r = httpx.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {self.tokens[who]}"})
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("web")
    ctx = create_context(server_config(f"sqlite:///{tmp / 'web.db'}", tmp))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ctx, run_ingest=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    w = World(ctx, f"http://127.0.0.1:{port}", tmp)
    # Three falling-object cases at one building column within a day: the third raises a recurrence alert.
    w.events = [w.falling(f"2026-11-22T0{h}:00:00.000Z") for h in (7, 8, 9)]
    w.feed(make_event(floor="5", column="C", started_at="2026-11-21T10:00:00.000Z"))
    w.feed(make_event("shenglihe", "kitchen-07", type="missing_chef_hat", started_at="2026-11-22T06:00:00.000Z"))
    w.user("ina", "inspector", ["caima"])
    w.user("kit", "inspector", ["shenglihe"])
    w.user("max", "manager", ["caima"])
    w.passwords["admin"] = "admin-harbour-lantern"
    r = httpx.put(f"{w.base}/api/v1/users/1/password", json={"password": w.passwords["admin"]},
                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 204, r.text
    yield w
    server.should_exit = True
    thread.join(10)
    ctx.engine.dispose()


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Any]:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), \
        f"{CHROMIUM} missing: run scripts/install-system-deps.sh (Debian package chromium)"
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, world: World) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=world.base)
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def sign_in(page: Any, world: World, name: str) -> None:
    """Sign in with user name and password, as inspectors do."""
    page.goto("/")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(world.passwords[name])
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_selector("#violations li")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# --- signing in -------------------------------------------------------------------------------------------------


def test_password_sign_in_wrong_password_and_sign_out(page: Any, world: World) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/")
    page.wait_for_selector("#password-form")
    assert page.evaluate("document.activeElement.id") == "username"  # ready to type
    shot(page, "sign-in-phone")
    # Keyboard only: the name, Tab, the password, Enter.
    page.keyboard.type("ina")
    page.keyboard.press("Tab")
    page.keyboard.type("not-her-password")
    page.keyboard.press("Enter")
    page.wait_for_selector("#sign-in-error:has-text('Wrong user name or password.')")
    assert page.get_by_label("Password", exact=True).input_value() == ""  # cleared for the next try
    assert page.evaluate("document.activeElement.id") == "password"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "sign-in-error-phone")
    # An unknown user gets exactly the same message.
    page.get_by_label("User name").fill("nobody")
    page.get_by_label("Password", exact=True).fill("not-her-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_function("document.querySelector('#sign-in-error').textContent === 'Wrong user name or password.'")
    # Guessing is throttled: after 5 failures for one name the form says when to try again.
    for _ in range(4):
        page.get_by_label("Password", exact=True).fill("not-her-password")
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_function("document.querySelector('#sign-in-error').textContent !== ''")
    page.get_by_label("Password", exact=True).fill("not-her-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_selector("#sign-in-error:has-text('Too many failed sign-ins. Try again in')")
    assert re.fullmatch(r"Too many failed sign-ins\. Try again in \d+ s\.", page.locator("#sign-in-error").inner_text())

    page.get_by_label("User name").fill("Ina")  # phones capitalise the first letter
    page.get_by_label("Show password").check()
    assert page.get_by_label("Password", exact=True).get_attribute("type") == "text"
    page.get_by_label("Password", exact=True).fill(world.passwords["ina"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#violations li")
    assert "ina (inspector)" in page.locator("#who").inner_text()
    session = page.evaluate("sessionStorage.getItem('edgewatch.token')")
    assert session and session != world.tokens["ina"]  # a fresh session token, not her API token
    bearer = {"Authorization": f"Bearer {session}"}
    assert httpx.get(f"{world.base}/api/v1/me", headers=bearer).json()["name"] == "ina"
    clip_url = f"/web/events/{world.events[0]['event_id']}/clip"
    assert page.request.get(clip_url, headers={"Range": "bytes=0-9"}).status == 206  # the media cookie works

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("#password-form")
    assert page.locator("#nav").is_hidden()
    assert page.evaluate("sessionStorage.getItem('edgewatch.token')") is None
    # The old session is revoked on the server, for the API and for the media cookie alike.
    assert httpx.get(f"{world.base}/api/v1/me", headers=bearer).status_code == 401
    assert httpx.get(f"{world.base}{clip_url}", headers=bearer).status_code == 401
    assert page.request.get(clip_url).status == 401
    page.goto("/#/violations")
    page.wait_for_selector("#password-form")  # no way back in without signing in again
    assert httpx.get(f"{world.base}/api/v1/me", headers={"Authorization": f"Bearer {world.tokens['ina']}"}) \
        .status_code == 200  # her API token was not touched


def test_api_token_sign_in_is_the_folded_alternative(page: Any, world: World) -> None:
    page.goto("/")
    page.wait_for_selector("#password-form")
    assert page.get_by_label("Access token").is_hidden()
    page.get_by_text("Sign in with an API token instead").click()
    page.get_by_label("Access token").fill("wrong-token")
    page.get_by_role("button", name="Use token").click()
    page.wait_for_selector("#token-error:has-text('not valid')")
    page.get_by_label("Access token").fill(world.tokens["kit"])
    page.get_by_role("button", name="Use token").click()
    page.wait_for_selector("#violations li")
    assert "kit (inspector)" in page.locator("#who").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("#password-form")
    # Signing out of the browser does not revoke an admin-issued API token (scripts use it).
    assert httpx.get(f"{world.base}/api/v1/me", headers={"Authorization": f"Bearer {world.tokens['kit']}"}) \
        .status_code == 200


def test_change_own_password(page: Any, world: World) -> None:
    world.user("eve", "inspector", ["caima"])
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, world, "eve")
    page.get_by_role("link", name="eve (inspector)").click()
    page.wait_for_selector("#password-change")
    assert page.locator("#account-name").inner_text() == "eve"
    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill("eve-new-lantern-2")
    page.get_by_label("New password again").fill("eve-new-lantern-3")
    page.get_by_role("button", name="Change password").click()
    assert page.locator("#password-error").inner_text() == "The new passwords differ."
    page.get_by_label("New password again").fill("eve-new-lantern-2")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_selector("#password-error:has-text('The current password is wrong.')")
    page.get_by_label("Current password").fill(world.passwords["eve"])
    page.get_by_role("button", name="Change password").click()
    page.wait_for_selector("#status:has-text('Password changed')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "account-phone")
    # The app carries on with the new session; the old password no longer signs in, the new one does.
    page.get_by_role("link", name="Violations").click()
    page.wait_for_selector("#violations li")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("#password-form")
    page.get_by_label("User name").fill("eve")
    page.get_by_label("Password", exact=True).fill(world.passwords["eve"])
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_selector("#sign-in-error:has-text('Wrong user name or password.')")
    world.passwords["eve"] = "eve-new-lantern-2"
    sign_in(page, world, "eve")


# --- inspectors -------------------------------------------------------------------------------------------------


def test_sign_in_list_filters_and_live_arrival(page: Any, world: World) -> None:
    sign_in(page, world, "ina")
    assert "ina (inspector)" in page.locator("#who").inner_text()
    rows = page.locator("#violations li")
    assert rows.count() == 4  # caima only: the kitchen violation is another site's
    assert page.locator("#count").inner_text() == "1–4 of 4"
    assert page.locator(".badge.recurring").count() >= 1
    shot(page, "list-laptop")

    page.get_by_label("Floor").fill("5")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function("document.querySelector('#count').textContent === '1–1 of 1'")
    assert "floor 5" in rows.first.inner_text()
    page.get_by_label("Floor").fill("")
    page.get_by_label("From").fill("2026-11-22")
    page.get_by_label("Status").select_option("open")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function("document.querySelector('#count').textContent === '1–3 of 3'")
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function("document.querySelector('#count').textContent === '1–4 of 4'")

    page.wait_for_selector("#live[data-state=live]")
    world.feed(make_event(floor="7", column="A", started_at="2026-11-23T12:00:00.000Z"))
    page.wait_for_selector("#violations li.fresh", timeout=10_000)
    assert "floor 7, column A" in rows.first.inner_text()
    assert page.locator("#count").inner_text() == "1–5 of 5"
    world.feed(make_event("shenglihe", "kitchen-07", type="uncovered_bin", started_at="2026-11-23T12:00:01.000Z"))
    time.sleep(1.5)  # two SSE polls: another site's violation must not appear
    assert page.locator("#violations li.fresh").count() == 1


def test_violation_page_clip_seeks_with_range_and_overlay(page: Any, world: World) -> None:
    ev = world.events[-1]
    vid = world.get(f"/api/v1/events/{ev['event_id']}")["violation_id"]
    clip_statuses: list[int] = []
    page.on("response", lambda r: clip_statuses.append(r.status) if "/clip" in r.url else None)
    sign_in(page, world, "ina")
    page.goto(f"/#/violations/{vid}")
    page.wait_for_selector("video#clip")
    page.wait_for_function("document.querySelector('video#clip').readyState >= 1")
    page.evaluate("document.querySelector('video#clip').currentTime = 3.0")
    page.wait_for_function("Math.abs(document.querySelector('video#clip').currentTime - 3.0) < 0.05 && "
                           "!document.querySelector('video#clip').seeking")
    page.wait_for_function("document.querySelector('canvas.overlay').dataset.time === '3.000'")
    assert 206 in clip_statuses, clip_statuses
    # The overlay marks the object where the track says it is at t = 3.0 s (scaled to the displayed size).
    point = next(p for p in ev["track"] if abs(p["t"] - 3.0) < 0.021)
    red = page.evaluate("""([u, v]) => {
        const video = document.querySelector('video#clip'), c = document.querySelector('canvas.overlay');
        const k = Math.min(video.clientWidth / video.videoWidth, video.clientHeight / video.videoHeight);
        const dpr = window.devicePixelRatio || 1;
        const x = ((video.clientWidth - video.videoWidth * k) / 2 + u * k) * dpr;
        const y = ((video.clientHeight - video.videoHeight * k) / 2 + v * k) * dpr;
        const d = c.getContext('2d').getImageData(Math.round(x) - 12, Math.round(y) - 12, 25, 25).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] < 120 && d[i + 3] > 100) n++;
        return n; }""", [point["u"], point["v"]])
    assert red > 5, "no track drawn where the object is at t = 3 s"
    page.evaluate("document.querySelector('video#clip').play()")
    page.wait_for_function("document.querySelector('video#clip').currentTime > 3.2")
    assert page.locator("#verified").inner_text().startswith("✔")
    assert ev["clip"]["sha256"] in page.locator(".integrity .sha").inner_text()
    assert page.locator("#release-text").inner_text() == "Floor 13, column G — probability 80 %"
    assert page.locator("#facade rect.release").count() == 1
    assert page.locator(".snapshot img").evaluate("img => img.naturalWidth") == 1280
    page.evaluate("document.querySelector('video#clip').pause()")
    shot(page, "violation-laptop")
    page.set_viewport_size({"width": 375, "height": 800})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "violation-phone")


def red_pixels_at(page: Any, points: list[tuple[float, float]], radius: int = 4) -> list[int]:
    """How many strongly red overlay pixels lie around each clip pixel (u, v), mapped to the displayed video."""
    return list(page.evaluate("""([pts, r]) => {
        const video = document.querySelector('video#clip'), c = document.querySelector('canvas.overlay');
        const k = Math.min(video.clientWidth / video.videoWidth, video.clientHeight / video.videoHeight);
        const dpr = window.devicePixelRatio || 1, g = c.getContext('2d');
        return pts.map(([u, v]) => {
            const x = ((video.clientWidth - video.videoWidth * k) / 2 + u * k) * dpr;
            const y = ((video.clientHeight - video.videoHeight * k) / 2 + v * k) * dpr;
            const d = g.getImageData(Math.round(x) - r, Math.round(y) - r, 2 * r + 1, 2 * r + 1).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] < 120 && d[i + 3] > 100) n++;
            return n; }); }""", [points, radius]))


def seek(page: Any, t: float) -> None:
    page.evaluate(f"document.querySelector('video#clip').currentTime = {t}")
    page.wait_for_function(f"Math.abs(document.querySelector('video#clip').currentTime - {t}) < 0.05 && "
                           "!document.querySelector('video#clip').seeking")
    page.wait_for_function(f"document.querySelector('canvas.overlay').dataset.time === '{t:.3f}'")


def test_kitchen_event_boxes_drawn_over_the_clip(page: Any, world: World) -> None:
    video = REPO / "sample_videos" / "kitchen" / "kitchen-missing-hat.mp4"
    truth = json.loads(video.with_suffix(".truth.json").read_text())
    alarm = truth["violations"][0]  # staff member 1 in prep-1 without a chef hat
    frame = min(truth["frames"], key=lambda f: abs(f["t"] - alarm["alarm_s"]))
    box = next(o["box"] for o in frame["objects"] if o.get("track_id") == alarm["track_id"])
    clip, snapshot = video.read_bytes(), frame_jpeg(video, int(alarm["alarm_s"] * truth["fps"]))
    ev = make_event("shenglihe", "kitchen-07", type="missing_chef_hat", clip=clip, snapshot=snapshot,
                    zone=alarm["zone"], started_at="2026-11-22T08:00:00.000Z", boxes=[box])
    ev.update(start=alarm["alarm_s"], end=alarm["alarm_s"] + 3.0,
              overlay={"clip_start_media_s": 0.0, "image_size": truth["image_size"], "track": [], "boxes": [box],
                       "zone": alarm["zone"]})
    world.feed(ev, clip, snapshot)
    vid = world.get(f"/api/v1/events/{ev['event_id']}")["violation_id"]

    sign_in(page, world, "kit")
    page.goto(f"/#/violations/{vid}")
    page.wait_for_selector("video#clip")
    page.wait_for_function("document.querySelector('video#clip').readyState >= 1")
    assert page.evaluate("document.querySelector('video#clip').videoWidth") == truth["image_size"][0]
    x1, y1, x2, y2 = box
    edges = [(x1, (y1 + y2) / 2), (x2, (y1 + y2) / 2), ((x1 + x2) / 2, y1), ((x1 + x2) / 2, y2)]
    inside = [((x1 + x2) / 2, (y1 + y2) / 2)]
    # During the event: the person's box in solid red on all four sides, nothing drawn inside it.
    seek(page, alarm["alarm_s"] + 1.0)
    assert page.locator("canvas.overlay").get_attribute("data-boxes") == "event"
    assert all(n > 3 for n in red_pixels_at(page, edges)), red_pixels_at(page, edges)
    assert red_pixels_at(page, inside, 8) == [0]
    assert page.locator("#release-text").count() == 0  # no facade for a kitchen event
    shot(page, "violation-kitchen-laptop")
    # Outside the event's span the box is only a faint dashed hint, not red.
    seek(page, alarm["alarm_s"] + 6.0)
    assert page.locator("canvas.overlay").get_attribute("data-boxes") == "around"
    assert red_pixels_at(page, edges) == [0, 0, 0, 0]


def test_review_confirm_dismiss_note_assign_and_export(page: Any, world: World) -> None:
    ev = world.events[0]
    vid = world.get(f"/api/v1/events/{ev['event_id']}")["violation_id"]
    sign_in(page, world, "ina")
    page.goto(f"/#/violations/{vid}")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_function("document.querySelector('#status-badge').textContent === 'confirmed'")
    page.get_by_role("button", name="Dismiss").click()
    assert "reason" in page.locator(".review .error").inner_text()
    page.get_by_label("Reason to dismiss").fill("a pigeon, not an object")
    page.get_by_role("button", name="Dismiss").click()
    page.wait_for_function("document.querySelector('#status-badge').textContent === 'dismissed'")
    page.get_by_label("Note").fill("checked with the caretaker")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_selector("#audit li:has-text('note')")
    audit = page.locator("#audit").inner_text()
    for text in ("ingest created", "ina confirm", "ina dismiss", "a pigeon, not an object",
                 "checked with the caretaker"):
        assert text in audit, audit
    assert page.locator("#assignee").count() == 0  # inspectors cannot assign

    with page.expect_download() as download:
        page.locator("#export").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    names = set(archive.namelist())
    base = f"events/{ev['event_id']}"
    assert {"case.json", "review_history.json", "hashes.json", "SHA256SUMS", f"{base}/event.json",
            f"{base}/clip.mp4", f"{base}/snapshot.jpg"} <= names
    assert hashlib.sha256(archive.read(f"{base}/clip.mp4")).hexdigest() == ev["clip"]["sha256"]
    assert json.loads(archive.read("hashes.json"))[ev["event_id"]]["clip_verified"] is True
    assert [a["action"] for a in json.loads(archive.read("review_history.json"))] == \
        ["created", "confirm", "dismiss", "note"]
    for line in archive.read("SHA256SUMS").decode().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, world, "max")
    page.goto(f"/#/violations/{vid}")
    page.get_by_label("Assign to (user name)").fill("ina")
    page.get_by_role("button", name="Assign").click()
    page.wait_for_selector("#audit li:has-text('max assign')")


def test_authorisation_failures(page: Any, world: World) -> None:
    sign_in(page, world, "kit")
    caima = world.get(f"/api/v1/events/{world.events[0]['event_id']}")["violation_id"]
    page.goto(f"/#/violations/{caima}")
    page.wait_for_selector("main .error")
    assert "Not found, or not in your sites" in page.locator("main .error").inner_text()
    # Media and downloads follow the same site rules with the session cookie, and need one.
    assert page.request.get(f"/web/violations/{caima}/export.zip").status == 404
    assert page.request.get(f"/web/events/{world.events[0]['event_id']}/clip").status == 404
    assert httpx.get(f"{world.base}/web/events/{world.events[0]['event_id']}/clip").status_code == 401
    # An inspector cannot save a calibration.
    r = httpx.post(f"{world.base}/api/v1/calibrations/caima/caima-b3-east", json={"calibration": {}},
                   headers={"Authorization": f"Bearer {world.tokens['ina']}"})
    assert r.status_code == 403


# --- building managers ----------------------------------------------------------------------------------------


def facade_clicks(cal_path: Path) -> tuple[list[dict[str, Any]], Any]:
    """Known facade points (storey slabs at column edges) and where the sample camera sees them."""
    cal = load_calibration(cal_path)
    picks = [(0, "3"), (2, "3"), (5, "3"), (8, "3"), (0, "8"), (5, "8"), (8, "8"), (2, "12"), (5, "12"), (8, "12")]
    pts = []
    for col, floor in picks:
        x = cal.columns[col].x_min
        z = cal.floor_z(floor)
        u, v = cal.project(np.array([[x, 0.0, z]]))[0]
        pts.append({"u": float(u), "v": float(v), "x": round(x, 4), "floor": floor})
    return pts, cal


def _wait_for_fit(page: Any, timeout_ms: int = 60_000) -> None:
    """Wait for the page to show a fit; on a timeout, fail with what it shows instead ("Fitting…" for a refit
    that never returned, "Cannot fit: …" for one the server refused, or a count of incomplete points): the test
    once timed out in a full CI run and passed alone, with nothing to tell which."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "document.querySelector('#fit-result').textContent.startsWith('Reprojection error')", timeout=timeout_ms)
    except PlaywrightTimeout:
        shown = page.locator("#fit-result").inner_text()
        rows = page.locator("#points tr[data-index]").count()
        pytest.fail(f"no fit shown after {timeout_ms / 1000:.0f} s: #fit-result says {shown!r} ({rows} points)")


def test_calibration_by_clicking_points(page: Any, world: World, tmp_path: Path) -> None:
    cal_path = SAMPLE.with_suffix(".calibration.yaml")
    points, truth = facade_clicks(cal_path)
    image = tmp_path / "facade.jpg"
    image.write_bytes(frame_jpeg(SAMPLE.with_suffix(".mp4"), 0))
    sign_in(page, world, "max")
    page.goto("/#/cameras/caima/caima-b3-east")
    page.wait_for_selector("#history li")
    page.get_by_label("Building").fill("Caima block 3")
    page.get_by_label("Storeys (floor slab heights, lowest first)").fill(
        "\n".join(f"{f.name}: {f.z}" for f in truth.floors) + f"\nroof: {truth.roof_z}")
    page.get_by_label("Window columns (optional)").fill(
        "\n".join(f"{c.name}: {c.x_min}-{c.x_max}" for c in truth.columns))
    page.get_by_label("Snapshot image from this camera").set_input_files(str(image))
    canvas = page.locator("#calib-canvas")
    canvas.wait_for()
    page.wait_for_function("document.querySelector('#calib-image').naturalWidth === 1280")
    box = canvas.bounding_box()
    k = box["width"] / 1280
    for i, p in enumerate(points):
        canvas.click(position={"x": p["u"] * k, "y": p["v"] * k})
        row = page.locator(f"#points tr[data-index='{i}']")
        row.locator(".p-x").fill(str(p["x"]))
        row.locator(".p-x").dispatch_event("change")
        row.locator(".p-floor").select_option(p["floor"])
    # A mis-click, then moved into place with the arrow keys, and a stray point deleted.
    canvas.click(position={"x": 40, "y": 40})
    page.get_by_role("button", name=f"Delete point {len(points) + 1}").click()
    # Every edit refits on the server (pose and focal ladder, leave-one-out); on a loaded CI box the queue of
    # refits took over 20 s once, so the waits allow a minute (they return as soon as the fit is shown).
    _wait_for_fit(page)
    result = page.locator("#fit-result").inner_text()
    rms = float(result.split("Reprojection error ")[1].split(" px")[0])
    # The sample lens has barrel distortion (k1 = -0.2) that 10 points do not fit (k1 needs 16): a few pixels.
    assert rms < 5.0, result
    assert int(canvas.get_attribute("data-grid-lines") or 0) == len(truth.floors) + 1 + len(truth.columns) + 1
    # Drag point 6 (mid-facade) 30 x 20 screen px away: the fit follows (its error grows); dragged back, as before.
    i = 5
    row = page.locator(f"#points tr[data-index='{i}']")
    before = float(row.locator("td").nth(5).inner_text())
    residual_js = f"Number(document.querySelector(\"#points tr[data-index='{i}'] td:nth-child(7)\").textContent)"
    canvas.scroll_into_view_if_needed()  # typing into the table scrolled the page since the clicks
    now = canvas.bounding_box()
    start = (now["x"] + points[i]["u"] * k, now["y"] + points[i]["v"] * k)
    moved = (start[0] + 30, start[1] + 20)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*moved, steps=6)
    page.mouse.up()
    page.wait_for_function(f"(b) => {residual_js} > b + 10", arg=before, timeout=60_000)
    assert abs(float(row.locator(".p-u").input_value()) - (points[i]["u"] + 30 / k)) < 1.5
    assert abs(float(row.locator(".p-v").input_value()) - (points[i]["v"] + 20 / k)) < 1.5
    shot(page, "calibration-dragged-laptop")
    page.mouse.move(*moved)
    page.mouse.down()
    page.mouse.move(*start, steps=6)
    page.mouse.up()
    page.wait_for_function(f"(b) => {residual_js} < b + 1.5", arg=before, timeout=60_000)
    _wait_for_fit(page)
    # Detection area (4 corners) and one ignore area (3 corners).
    page.get_by_label("Detection area").check()
    for u, v in ((200, 20), (1100, 20), (1100, 700), (200, 700)):
        canvas.click(position={"x": u * k, "y": v * k})
    page.get_by_label("Ignore area").check()
    for u, v in ((900, 600), (1000, 600), (950, 680)):
        canvas.click(position={"x": u * k, "y": v * k})
    page.get_by_role("button", name="Finish ignore area").click()
    assert "4 corners" in page.locator("#poly-info").inner_text()
    shot(page, "calibration-laptop")
    assert page.get_by_label("Building").input_value() == "Caima block 3"
    page.get_by_role("button", name="Save calibration").click()
    page.wait_for_selector("#history li:has-text('Version 1 — max')")
    saved = world.get("/api/v1/calibrations/caima/caima-b3-east", "max")["current"]
    assert saved["version"] == 1 and saved["saved_by"] == "max"
    cal = saved["calibration"]
    assert cal["building"] == "Caima block 3" and cal["camera_id"] == "caima-b3-east"
    assert len(cal["detection_area"]) == 4 and len(cal["ignore_areas"]) == 1 and len(cal["points"]) == len(points)
    # The fitted camera puts a facade point where the true camera does (within a few pixels).
    probe = np.array([[truth.columns[4].x_min, 0.0, truth.floor_z("10")]])
    fitted = load_calibration_dict(cal)
    assert float(np.linalg.norm(fitted.project(probe) - truth.project(probe))) < 6.0

    # The violation page now draws the saved calibration's storeys and columns.
    vid = world.get(f"/api/v1/events/{world.events[1]['event_id']}")["violation_id"]
    page.goto(f"/#/violations/{vid}")
    page.wait_for_selector("#facade")
    assert page.locator("#facade rect.cell").count() == len(truth.floors) * len(truth.columns)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/#/cameras/caima/caima-b3-east")
    page.wait_for_selector("#history li:has-text('Version 1')")
    assert page.get_by_label("Building").input_value() == "Caima block 3"
    assert page.locator("#points tr").count() == len(points)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "calibration-phone")


def load_calibration_dict(data: dict[str, Any]) -> Any:
    from calibration import FacadeCalibration

    return FacadeCalibration.model_validate(data)


def test_phone_list(page: Any, world: World) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, world, "admin")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "list-phone")
