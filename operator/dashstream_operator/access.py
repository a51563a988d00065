"""What the operator's own credentials allow, asked before optional watches are
registered: kopf treats a watch it may not run as fatal (it retries, then stops the
operator), where an optional insight such as "does a Prometheus select our monitors"
should only say that it cannot tell."""

from __future__ import annotations

import logging

from kubernetes import client, config

__all__ = ["may_watch_cluster_wide"]

log = logging.getLogger(__name__)


def may_watch_cluster_wide(group: str, resource: str) -> bool:
    """list and watch of ``resource`` in every namespace (a SelfSubjectAccessReview
    each). When the question itself fails, assume yes: the watch then reports why."""
    try:
        config.load_config()
        api = client.AuthorizationV1Api()
        for verb in ("list", "watch"):
            review = api.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
                spec=client.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=client.V1ResourceAttributes(
                        group=group, resource=resource, verb=verb))))
            if not (review.status and review.status.allowed):
                return False
    except Exception as exc:  # no cluster yet, or no right to ask: kopf will say more
        log.warning("cannot ask whether %s.%s may be watched (%s); assuming it may",
                    resource, group, exc)
    return True
