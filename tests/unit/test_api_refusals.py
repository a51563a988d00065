"""How the operator classifies the API server's refusals: away (a warning, retried),
forbidden (an error naming the permission, no traceback), anything else (a bug)."""

from __future__ import annotations

import json
import logging

import pytest
from kubernetes import client

from dashstream_operator.handlers.skeleton import log_failure
from dashstream_operator.k8s import api_forbidden, api_unavailable


def refused(status: int, message: str = "") -> client.ApiException:
    exc = client.ApiException(status=status, reason="Forbidden" if status == 403 else "X")
    exc.body = json.dumps({"kind": "Status", "message": message}) if message else None
    return exc


WORDS = ('dashboardsets.dashstream.io "d" is forbidden: User "system:serviceaccount:ns:op" '
         'cannot patch resource "dashboardsets/status"')


def test_forbidden_gives_the_api_servers_words() -> None:
    assert api_forbidden(refused(403, WORDS)) == WORDS
    assert api_forbidden(refused(403)) == "Forbidden"  # no Status body
    assert api_forbidden(refused(409, "conflict")) is None
    assert api_forbidden(ValueError("x")) is None
    assert not api_unavailable(refused(403, WORDS))


@pytest.mark.parametrize("status", [0, 429, 500, 503])
def test_the_api_server_away_is_no_refusal(status: int) -> None:
    assert api_unavailable(refused(status)) and api_forbidden(refused(status)) is None


def test_log_failure_names_a_missing_permission_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        log_failure("DashboardSet", "ns", "d", "reconcile", refused(403, WORDS))
        log_failure("DashboardSet", "ns", "d", "reconcile", refused(503))
        log_failure("DashboardSet", "ns", "d", "reconcile", KeyError("bug"))
    forbidden, away, bug = caplog.records
    assert forbidden.levelno == logging.ERROR and forbidden.exc_info is None
    assert 'cannot patch resource "dashboardsets/status"' in forbidden.getMessage()
    assert away.levelno == logging.WARNING and away.exc_info is None
    assert bug.levelno == logging.ERROR and bug.exc_info is not None
