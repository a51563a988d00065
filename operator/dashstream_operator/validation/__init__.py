"""Offline validation helpers shared by the operator, the CLI and the tests.

Everything here is pure (no Kubernetes, no network) so the same checks run in
the AlertRuleSet controller, in ``dashstream validate`` for GitOps CI, and in the
unit tests that guard the canonical ``alert-rules/`` and dashboards.
"""
