"""Kubernetes Events in tests: kopf posts them from a background queue, after the status
patch a test waits for, so an Event is awaited, never read once."""

from __future__ import annotations

from kubernetes import client

from support.wait import wait_until

__all__ = ["event_list", "event_reasons", "events_by_object", "wait_for_events"]


# An Event's type and reason are optional in the API; kopf sets both.
Seen = set[tuple[str | None, str | None]]


def event_list(api: client.ApiClient, ns: str, name: str) -> list[tuple[str | None, str | None]]:
    """(type, reason) of each Event in ``ns`` about the object called ``name``, repeats
    included (to count them)."""
    items = client.CoreV1Api(api).list_namespaced_event(ns).items
    return [(e.type, e.reason) for e in items if e.involved_object.name == name]


def events_by_object(api: client.ApiClient, ns: str,
                     ) -> dict[str, list[tuple[str | None, str | None]]]:
    """event_list for every object of ``ns`` at once (one LIST)."""
    out: dict[str, list[tuple[str | None, str | None]]] = {}
    for e in client.CoreV1Api(api).list_namespaced_event(ns).items:
        out.setdefault(str(e.involved_object.name), []).append((e.type, e.reason))
    return out


def event_reasons(api: client.ApiClient, ns: str, name: str) -> Seen:
    """The distinct (type, reason) pairs of Events about ``name``."""
    return set(event_list(api, ns, name))


def wait_for_events(api: client.ApiClient, ns: str, name: str, *expected: tuple[str, str],
                    timeout: float = 20.0) -> Seen:
    """Wait until every (type, reason) in ``expected`` was posted about ``name``; return all
    seen."""
    seen, _ = wait_until(lambda: (s := event_reasons(api, ns, name)) >= set(expected) and s,
                         timeout=timeout, what=f"events {sorted(expected)} about {ns}/{name}")
    return seen
