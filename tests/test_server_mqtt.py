"""The server's MQTT topic filters: shared by default, plain when a single replica opts out."""

from __future__ import annotations

from server.config import MqttConfig
from server.mqtt import subscriptions


def test_replicas_share_event_clip_and_snapshot_but_each_gets_status() -> None:
    assert MqttConfig().shared_subscription is True
    assert subscriptions("g1") == ["$share/g1/edgewatch/v1/+/+/event", "$share/g1/edgewatch/v1/+/+/clip/+/+",
                                   "$share/g1/edgewatch/v1/+/+/snapshot/+", "edgewatch/v1/+/+/status"]


def test_a_single_replica_can_subscribe_without_share() -> None:
    # The demo on the embedded rumqttd, which loses messages on several filters of one share group.
    assert subscriptions(None) == ["edgewatch/v1/+/+/event", "edgewatch/v1/+/+/clip/+/+",
                                   "edgewatch/v1/+/+/snapshot/+", "edgewatch/v1/+/+/status"]
