"""The web app's server side without a browser: static files, calibration fit/preview/versions, sign-in cookie."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from test_server_helpers import REPO, server_config

from server.app import create_app, create_context

ADMIN = {"Authorization": "Bearer admin-token-0123456789"}
POINTS = REPO / "calibration" / "examples" / "caima-b3-east.points.yaml"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    ctx = create_context(server_config(f"sqlite:///{tmp_path / 'web.db'}", tmp_path))
    with TestClient(create_app(ctx, run_ingest=False)) as c:
        yield c
    ctx.engine.dispose()


def test_static_files_and_nothing_else(client: TestClient) -> None:
    assert "<main" in client.get("/").text
    assert client.get("/app/app.js").headers["content-type"].startswith("text/javascript")
    for path in ("/app/..%2Fapp.py", "/app/router.py", "/app/missing.js"):
        assert client.get(path).status_code == 404, path


def test_fit_preview_and_versions(client: TestClient) -> None:
    points = yaml.safe_load(POINTS.read_text())
    fit = client.post("/api/v1/calibrations/fit", json={"points": points}, headers=ADMIN)
    assert fit.status_code == 200, fit.text
    body = fit.json()
    assert body["rms_px"] < 2.0 and len(body["residuals_px"]) == len(points["points"])
    kinds = [g["kind"] for g in body["grid"]]
    assert kinds.count("storey") == 20 and kinds.count("roof") == 1 and kinds.count("column") == 6
    assert all(len(piece) > 1 for g in body["grid"] for piece in g["pieces"])
    preview = client.post("/api/v1/calibrations/preview", json={"calibration": body["calibration"]}, headers=ADMIN)
    assert preview.json()["grid"] == body["grid"]

    too_few = {**points, "points": points["points"][:3]}
    bad = client.post("/api/v1/calibrations/fit", json={"points": too_few}, headers=ADMIN)
    assert bad.status_code == 422 and "6" in bad.json()["detail"]

    url = "/api/v1/calibrations/caima/caima-b3-east"
    assert client.get(url, headers=ADMIN).json() == {"current": None, "versions": []}
    for _ in range(2):
        assert client.post(url, json={"calibration": body["calibration"]}, headers=ADMIN).status_code == 201
    got = client.get(url, headers=ADMIN).json()
    assert [v["version"] for v in got["versions"]] == [2, 1] and got["current"]["saved_by"] == "admin"
    wrong = client.post("/api/v1/calibrations/caima/other-cam", json={"calibration": body["calibration"]},
                        headers=ADMIN)
    assert wrong.status_code == 422 and "camera_id" in wrong.json()["detail"]


def test_sign_in_sets_a_strict_http_only_cookie(client: TestClient) -> None:
    assert client.post("/web/session", json={"token": "nope"}).status_code == 401
    r = client.post("/web/session", json={"token": "admin-token-0123456789"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/web" in cookie
    assert client.delete("/web/session").status_code == 204
