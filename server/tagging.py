"""Violation tagging: an event becomes (part of) a case, and repeated cases at one place raise an alert.

Knows the rules and the database, nothing of MQTT or HTTP. Runs inside the ingest transaction of the event, so
an event is never stored without its tagging; decisions are serialised per case and per place
(:func:`server.db.lock_key`), so two replicas never open two cases for one incident.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import Alert, AuditEntry, EventRow, Violation, lock_key, utcnow
from server.rules import Rules

log = logging.getLogger(__name__)


def place_label(building: str | None, restaurant: str | None, camera_id: str, floor: str | None,
                column: str | None, zone: str | None, falling: bool) -> str:
    """What an inspector reads: "Caima block 3, floor 12, column B" or "Shenglihe noodles, zone prep-1"."""
    if falling:
        where = building or f"camera {camera_id}"
        return f"{where}, floor {floor or '?'}, column {column or '?'}"
    where = restaurant or building or f"camera {camera_id}"
    return f"{where}, zone {zone}" if zone else where


def recurrence_place(building: str | None, restaurant: str | None, camera_id: str, column: str | None,
                     falling: bool) -> str:
    """The place recurrences are counted at: building + window column, or the restaurant."""
    if falling:
        return f"{building or f'camera {camera_id}'}, column {column or '?'}"
    return restaurant or building or f"camera {camera_id}"


def tag_event(session: Session, rules: Rules, event: EventRow) -> Violation | None:
    """Attach ``event`` to a case (new or merged) and raise a recurrence alert when due; None when the event
    type raises no violation."""
    rule = rules.violations.get(event.type)
    if rule is None:
        return None
    place = rules.cameras.get(event.camera_id)
    building = place.building if place else None
    restaurant = place.restaurant if place else None
    falling = event.type == "falling_object"
    zone = None if falling else event.zone

    lock_key(session, f"case|{event.site}|{event.camera_id}|{rule.violation}|{event.floor}|{event.column}|{zone}")
    window = timedelta(seconds=rules.merge_window_s)
    t = event.started_at
    case = session.scalars(
        select(Violation)
        .where(
            Violation.site == event.site,
            Violation.camera_id == event.camera_id,
            Violation.type == rule.violation,
            Violation.floor.is_not_distinct_from(event.floor),
            Violation.column.is_not_distinct_from(event.column),
            Violation.zone.is_not_distinct_from(zone),
            Violation.last_seen >= t - window,
            Violation.first_seen <= t + window,
        )
        .order_by(Violation.last_seen.desc())
        .limit(1)
    ).first()
    now = utcnow()
    if case is not None:
        case.first_seen = min(case.first_seen, t)
        case.last_seen = max(case.last_seen, t)
        case.event_count += 1
        case.updated_at = now
        event.violation_id = case.id
        return case

    case = Violation(
        site=event.site, camera_id=event.camera_id, type=rule.violation, event_type=event.type,
        severity=rule.severity, building=building, restaurant=restaurant, floor=event.floor,
        column=event.column, zone=zone,
        place=place_label(building, restaurant, event.camera_id, event.floor, event.column, zone, falling),
        recurrence_place=recurrence_place(building, restaurant, event.camera_id, event.column, falling),
        first_seen=t, last_seen=t, event_count=1, status="open", created_at=now, updated_at=now,
    )
    session.add(case)
    session.flush()
    event.violation_id = case.id
    session.add(AuditEntry(violation_id=case.id, actor="ingest", action="created",
                           detail={"event_id": event.event_id}, at=now))
    _check_recurrence(session, rules, case)
    return case


def _check_recurrence(session: Session, rules: Rules, case: Violation) -> Alert | None:
    rule = rules.recurrence_for(case.type)
    if rule is None:
        return None
    lock_key(session, f"alert|{case.type}|{case.recurrence_place}")
    period = timedelta(seconds=rule.period_s)
    since = case.first_seen - period
    count, earliest = session.execute(
        select(func.count(Violation.id), func.min(Violation.first_seen)).where(
            Violation.type == case.type,
            Violation.recurrence_place == case.recurrence_place,
            Violation.first_seen > since,
            Violation.first_seen <= case.first_seen,
        )
    ).one()
    if count < rule.count:
        return None
    alert = session.scalars(
        select(Alert).where(Alert.type == case.type, Alert.place == case.recurrence_place, Alert.last_seen > since)
        .order_by(Alert.last_seen.desc()).limit(1)
    ).first()
    if alert is None:
        alert = Alert(site=case.site, type=case.type, place=case.recurrence_place, count=count,
                      period_s=rule.period_s, first_seen=earliest or case.first_seen, last_seen=case.first_seen,
                      created_at=utcnow())
        session.add(alert)
        log.info("recurrence alert: %d %s at %s within %.0f s", count, case.type, case.recurrence_place,
                 rule.period_s)
    else:
        alert.count = max(alert.count, count)
        alert.last_seen = max(alert.last_seen, case.first_seen)
    return alert
