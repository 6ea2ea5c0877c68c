"""MQTT delivery of spooled events, with the server's end-to-end ack (paho-mqtt 2.x, MQTT 5, QoS 1).

One thread owns the spool: it writes new events durably, publishes the oldest unacknowledged ones (event
message, then clip chunks, then the snapshot), deletes an event only on the server's ``stored`` (or, logged,
``rejected``) ack, republishes the chunks a ``missing`` ack names, republishes what is still unacknowledged after
``ack_timeout_s`` and after every reconnect, and sends the retained status heartbeat. The broker being down,
at start or later, only means events wait in the spool while paho reconnects with back-off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.events import utc_iso
from edge.runtime import wire
from edge.runtime.config import MqttConfig
from edge.runtime.evidence import snapshot_jpeg
from edge.runtime.spool import EvidenceBundle, Spool, SpooledEvent

log = logging.getLogger(__name__)

MAX_OUTSTANDING_EVENTS = 8
"""Events sent and not yet acknowledged at once, so a long outage does not flood paho's queue on reconnect."""


@dataclass
class _Sent:
    at_s: float
    connection: int


class Delivery:
    """Start with :meth:`start`; hand events over with :meth:`submit` (any thread); :meth:`stop` at the end.

    ``status_fields`` is called from the delivery thread at each heartbeat for the ingest figures
    (fps_in, fps_out, decode_lag_s, dropped_frames, reconnects).
    """

    def __init__(self, site: str, camera_id: str, config: MqttConfig, spool: Spool,
                 status_fields: Callable[[], dict[str, Any]], version: str) -> None:
        self.site, self.camera_id, self.config, self.spool = site, camera_id, config, spool
        self.status_fields, self.version = status_fields, version
        self._inbox: queue.Queue[EvidenceBundle] = queue.Queue()
        self._acks: queue.Queue[bytes] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._status_due = threading.Event()
        self._connection = 0
        self._sent: dict[str, _Sent] = {}
        self._thread = threading.Thread(target=self._run, name=f"delivery-{camera_id}", daemon=True)
        self.published_events = 0
        self.acked = 0
        self.client = self._make_client()

    # --- paho ----------------------------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{cfg.client_id}-{self.camera_id}",
                             protocol=mqtt.MQTTv5)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls is not None:
            client.tls_set(ca_certs=str(cfg.tls.ca), certfile=str(cfg.tls.cert) if cfg.tls.cert else None,
                           keyfile=str(cfg.tls.key) if cfg.tls.key else None, cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(wire.status_topic(self.site, self.camera_id),
                        json.dumps({"state": "offline", "version": self.version}), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=8)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            log.error("%s: MQTT broker %s:%d refused the connection: %s (check mqtt.username/password/tls)",
                      self.camera_id, self.config.host, self.config.port, reason_code)
            return
        self._connection += 1
        client.subscribe(wire.ack_topic(self.site, self.camera_id), qos=1)
        log.info("%s: connected to MQTT broker %s:%d; %d spooled event(s) to deliver", self.camera_id,
                 self.config.host, self.config.port, len(self.spool))
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        if self._connected.is_set() and not self._stop.is_set():
            log.warning("%s: lost the MQTT broker %s:%d (%s); spooling and reconnecting", self.camera_id,
                        self.config.host, self.config.port, reason_code)
        self._connected.clear()

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        log.warning("%s: MQTT broker %s:%d unreachable; events are spooled, retrying with back-off",
                    self.camera_id, self.config.host, self.config.port)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._acks.put(bytes(message.payload))
        self._wake.set()

    # --- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s,
                                  clean_start=True)
        self.client.loop_start()
        self._thread.start()

    def submit(self, bundle: EvidenceBundle) -> None:
        self._inbox.put(bundle)
        self._wake.set()

    def report_status_now(self) -> None:
        """Publish the status heartbeat at the next turn of the delivery thread instead of waiting for the
        period (the camera's stream went down or came back: inspectors should see it now)."""
        self._status_due.set()
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Write what is still in the inbox to the spool, say "offline" and disconnect."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        if self._connected.is_set():
            info = self.client.publish(wire.status_topic(self.site, self.camera_id),
                                       json.dumps({"state": "offline", "t": utc_iso_now(), "version": self.version}),
                                       qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2.0)
        self.client.disconnect()
        self.client.loop_stop()

    # --- the delivery thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        next_heartbeat = 0.0
        next_disk_retry = 0.0
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            stopping = self._stop.is_set()
            try:
                self._take_inbox()
                now = time.monotonic()
                if self.spool.waiting and now >= next_disk_retry:
                    self.spool.retry_waiting()
                    next_disk_retry = now + 5.0
                if stopping:
                    return
                self._handle_acks()
                if self._connected.is_set():
                    self._publish_due(now)
                    if now >= next_heartbeat or self._status_due.is_set():
                        self._status_due.clear()
                        self._heartbeat()
                        next_heartbeat = now + self.config.heartbeat_s
            except Exception:  # the thread must outlive any one bad event; the log says what happened
                log.exception("%s: delivery error", self.camera_id)
                if stopping:
                    return
                time.sleep(1.0)

    def _take_inbox(self) -> None:
        while True:
            try:
                bundle = self._inbox.get_nowait()
            except queue.Empty:
                return
            if bundle.snapshot_at is not None and bundle.clip is not None:
                self._take_snapshot(bundle)
            if self.spool.put(bundle) is not None:
                log.info("%s: event %s spooled (%d waiting, %d bytes)", self.camera_id, bundle.event_id,
                         len(self.spool), self.spool.bytes)

    def _take_snapshot(self, bundle: EvidenceBundle) -> None:
        """The JPEG of the event's middle frame; a convenience, so a failure is logged and the event goes on."""
        assert bundle.snapshot_at is not None and bundle.clip is not None
        try:
            bundle.snapshot = snapshot_jpeg(bundle.clip, *bundle.snapshot_at)
            bundle.message["snapshot_sha256"] = hashlib.sha256(bundle.snapshot).hexdigest()
        except Exception as exc:
            log.error("%s: no snapshot for event %s: %s", self.camera_id, bundle.event_id, exc)
        bundle.snapshot_at = None

    def _handle_acks(self) -> None:
        while True:
            try:
                payload = self._acks.get_nowait()
            except queue.Empty:
                return
            try:
                ack = wire.parse_ack(payload)
            except ValueError as exc:
                log.warning("%s: ignoring a malformed ack: %s", self.camera_id, exc)
                continue
            spooled = self.spool.events.get(ack.event_id)
            if spooled is None:
                log.debug("%s: ack %s for %s, which is no longer spooled", self.camera_id, ack.status, ack.event_id)
                continue
            if ack.status == "stored":
                self.spool.delete(ack.event_id)
                self._sent.pop(ack.event_id, None)
                self.acked += 1
                log.info("%s: event %s stored by the server; removed from the spool", self.camera_id, ack.event_id)
            elif ack.status == "rejected":
                log.error("%s: the server REJECTED event %s (%s); removing it from the spool", self.camera_id,
                          ack.event_id, ack.reason or "no reason given")
                self.spool.delete(ack.event_id)
                self._sent.pop(ack.event_id, None)
            else:
                log.info("%s: server is missing chunks %s of %s; resending them", self.camera_id,
                         ack.missing_chunks or "(all)", ack.event_id)
                self._publish(spooled, chunks=ack.missing_chunks or None, event=not ack.missing_chunks,
                              snapshot=ack.missing_snapshot or not ack.missing_chunks)
                self._sent[ack.event_id] = _Sent(time.monotonic(), self._connection)

    def _publish_due(self, now: float) -> None:
        outstanding = 0
        for spooled in self.spool.oldest_first():
            sent = self._sent.get(spooled.event_id)
            fresh = sent is not None and sent.connection == self._connection
            if fresh and sent is not None and now - sent.at_s < self.config.ack_timeout_s:
                outstanding += 1
                continue
            if outstanding >= MAX_OUTSTANDING_EVENTS:
                break
            if sent is not None:
                why = "after a reconnect" if not fresh else f"no ack after {self.config.ack_timeout_s:.0f} s"
                log.info("%s: republishing event %s (%s)", self.camera_id, spooled.event_id, why)
            if not self._publish(spooled):
                return
            self._sent[spooled.event_id] = _Sent(now, self._connection)
            self.published_events += 1
            outstanding += 1

    def _publish(self, spooled: SpooledEvent, chunks: list[int] | None = None, event: bool = True,
                 snapshot: bool = True) -> bool:
        """Publish an event's message, clip chunks (all, or ``chunks``) and snapshot. False if disconnected."""
        site, cam = self.site, self.camera_id
        try:
            message = spooled.message_path.read_bytes()
            clip = spooled.clip_path.read_bytes() if spooled.clip_path.exists() else b""
        except OSError as exc:
            log.error("%s: cannot read spooled event %s: %s", self.camera_id, spooled.event_id, exc)
            return True
        infos = []
        if event:
            infos.append(self.client.publish(wire.event_topic(site, cam), message, qos=1))
        seqs = range(wire.chunk_count(len(clip))) if chunks is None else chunks
        for seq in seqs:
            data = wire.clip_chunk(clip, seq)
            if data:
                infos.append(self.client.publish(wire.clip_topic(site, cam, spooled.event_id, seq), data, qos=1))
        if snapshot and spooled.snapshot_path.exists():
            infos.append(self.client.publish(wire.snapshot_topic(site, cam, spooled.event_id),
                                             spooled.snapshot_path.read_bytes(), qos=1))
        return all(i.rc == mqtt.MQTT_ERR_SUCCESS for i in infos)

    def _heartbeat(self) -> None:
        status = {"state": "online", "t": utc_iso_now(), **self.status_fields(),
                  "spool_events": len(self.spool), "spool_bytes": self.spool.bytes,
                  "spool_waiting_for_disk": len(self.spool.waiting), "spool_dropped": self.spool.dropped,
                  "version": self.version}
        self.client.publish(wire.status_topic(self.site, self.camera_id), json.dumps(status), qos=1, retain=True)


def utc_iso_now() -> str:
    from datetime import UTC, datetime

    return utc_iso(datetime.now(UTC))
