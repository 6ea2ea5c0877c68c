"""The MQTT side of ingest: a paho-mqtt 2 client (MQTT 5) on the replicas' shared subscriptions.

Messages are handled on paho's network thread and acknowledged to the broker (PUBACK) only after
:meth:`Ingest.handle` returned, so a replica that dies mid-message leaves it to be redelivered. Status messages
are retained, and brokers do not send retained messages to shared subscriptions, so every replica subscribes to
``status`` directly (the camera upsert is idempotent).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from server.config import MqttConfig
from server.ingest import TOPIC_ROOT, Ack, Ingest

log = logging.getLogger(__name__)

SHARED_TOPICS = ("+/+/event", "+/+/clip/+/+", "+/+/snapshot/+")


def subscriptions(share_group: str | None) -> list[str]:
    """The topic filters of one replica; ``share_group`` None: plain ones, for a single replica.

    rumqttd (iotcore 0.4, the demo's embedded broker) loses most messages when one client has several filters in
    the same share group (of 20 events with 3 clip chunks and a snapshot each, 2 events and 1 snapshot arrived),
    so the demo runs its one server without ``$share`` there.
    """
    prefix = f"$share/{share_group}/" if share_group is not None else ""
    return [*(f"{prefix}{TOPIC_ROOT}/{t}" for t in SHARED_TOPICS), f"{TOPIC_ROOT}/+/+/status"]


class MqttIngest:
    """Connects, subscribes, feeds :class:`Ingest`, publishes its acks, and sweeps incomplete clips."""

    def __init__(self, config: MqttConfig, ingest: Ingest, sweep_interval_s: float) -> None:
        self.config = config
        self.ingest = ingest
        self.sweep_interval_s = sweep_interval_s
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=config.client_id,
                                  protocol=mqtt.MQTTv5)
        if config.username:
            self.client.username_pw_set(config.username, config.password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(1, 30)
        ingest.publish = self._publish

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        self.client.connect_async(self.config.host, self.config.port, self.config.keepalive_s,
                                  clean_start=False, properties=props)
        self.client.loop_start()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="clip-sweeper", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()
        if self._sweeper is not None:
            self._sweeper.join(5)

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        return self.subscribed.wait(timeout_s)

    # --- paho callbacks ----------------------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connect to %s:%s refused: %s", self.config.host, self.config.port, reason)
            return
        self.connected.set()
        log.info("MQTT connected to %s:%s as %s", self.config.host, self.config.port, self.config.client_id)
        client.subscribe([(t, SubscribeOptions(qos=1)) for t in subscriptions(
            self.config.share_group if self.config.shared_subscription else None)])

    def _on_subscribe(self, _c: mqtt.Client, _ud: Any, _mid: int, reasons: list[Any], _props: Any) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("MQTT subscription refused: %s (does the broker support MQTT 5 shared subscriptions?)",
                      failed)
        else:
            self.subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._stop.is_set():
            log.warning("MQTT disconnected (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        self.ingest.handle(msg.topic, bytes(msg.payload))

    def _publish(self, ack: Ack) -> None:
        self.client.publish(ack.topic, ack.payload(), qos=1)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_interval_s):
            try:
                self.ingest.sweep()
            except Exception:
                log.exception("sweeping incomplete clips failed; retrying in %.0f s", self.sweep_interval_s)
