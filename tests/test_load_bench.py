"""The load test's server part, small: three simulated edge boxes (separate processes running the real edge
Spool and Delivery) publish events with real clips through a real Mosquitto to one `edgewatch server` on
SQLite; every event is stored exactly once. The full load run is `python -m benchmarks.load_bench`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from services.mosquitto import MosquittoBroker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the checkout, not an installed package
from benchmarks.load_bench import ServerUnderTest, make_evidence, server_step  # noqa: E402

SAMPLE = ROOT / "sample_videos" / "falling" / "falling_easy_mid_floor.mp4"


def test_three_edge_boxes_deliver_every_event_once(tmp_path: Path,
                                                   mosquitto_factory: Callable[..., MosquittoBroker]) -> None:
    broker = mosquitto_factory()
    (tmp_path / "evidence").mkdir()
    evidence = make_evidence(SAMPLE, 4.0, tmp_path / "evidence")  # a 4 s clip remuxed by the ring buffer
    boxes = ["box-a", "box-b", "box-c"]
    server = ServerUnderTest("sqlite", broker, boxes, tmp_path / "server")
    try:
        args = argparse.Namespace(seconds=3.0, drain=40.0, max_p99_s=40.0)
        step = server_step(3.0, args, broker, server, boxes, evidence, tmp_path)  # 1 event/s per box for 3 s
        print({k: step[k] for k in ("submitted", "stored", "acked", "ack_ms_p50", "ack_ms_p99", "visible_ms_p50",
                                    "load_avg", "cpu_s")})
        assert step["submitted"] == 9
        assert step["not_stored"] == 0 and step["stored"] == 9, step
        assert step["acked"] == 9, "an edge box never got its stored ack"
        assert step["left_in_edge_spools"] == 0, "a stored event was not deleted from its box's spool"
        assert step["visible_sampled"] == 3, "box-a's events were not all seen through the API"
        counted, _violations = server.totals()
        assert counted == 9, f"violations count {counted} events for 9 stored: one was doubled or lost"
    finally:
        server.close()
