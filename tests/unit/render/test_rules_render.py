"""Rendering of AlertRuleSet children: the rule file text is canonical."""

from __future__ import annotations

from dashstream_operator.render.rules import canonical_groups, rules_yaml

RULE = {"alert": "A", "expr": "up == 0", "labels": {"severity": "critical", "component": "x"},
        "annotations": {"summary": "s", "description": "d"}}


def test_the_rule_text_does_not_depend_on_the_order_keys_came_in() -> None:
    # The API server returns an applied object's maps with sorted keys; a YAML file keeps
    # the author's order. Both must give one text (one hash), or every such difference
    # would rewrite the ConfigMap and reload Prometheus for nothing.
    reordered = {**RULE, "labels": dict(reversed(list(RULE["labels"].items()))),  # type: ignore[attr-defined]
                 "annotations": dict(reversed(list(RULE["annotations"].items())))}  # type: ignore[attr-defined]
    one = rules_yaml(canonical_groups([{"name": "g", "rules": [RULE]}]))
    other = rules_yaml(canonical_groups([{"name": "g", "rules": [reordered]}]))
    assert one == other
    assert one.index("component:") < one.index("severity:")
