"""Process-local counters rendered in the Prometheus text format (``/metrics``); hand-written, no client lib."""

from __future__ import annotations

import threading
from collections import defaultdict

_HELP = {
    "edgewatch_ingest_messages_total": "MQTT messages handled, by kind and result",
    "edgewatch_acks_total": "acks published, by status",
    "edgewatch_http_requests_total": "API requests, by route and status code",
}


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] += amount

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self, gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]] | None = None) -> str:
        """Counters, then ``gauges`` (name → (help, {labels: value})), as Prometheus text."""
        with self._lock:
            items = sorted(self._values.items())
        lines: list[str] = []
        seen: set[str] = set()
        for (name, labels), value in items:
            if name not in seen:
                seen.add(name)
                lines += [f"# HELP {name} {_HELP.get(name, name)}", f"# TYPE {name} counter"]
            lines.append(f"{name}{_labels(labels)} {value:g}")
        for name, (help_text, series) in (gauges or {}).items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f"{name}{_labels(labels)} {value:g}" for labels, value in series.items()]
        return "\n".join(lines) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


COUNTERS = Counters()
