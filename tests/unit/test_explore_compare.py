"""The exploration oracle's comparison of a live child with its render (pure)."""

from __future__ import annotations

from support.explore.compare import difference, owned_fields, unrendered

RENDER = {"metadata": {"labels": {"app": "x"}},
          "data": {"A": "1"},
          "spec": {"containers": [{"name": "c", "env": [{"name": "E", "value": "v"}],
                                   "ports": [{"containerPort": 8080}],
                                   "resources": {"limits": {"cpu": "0.5"}}}]}}


def test_rendered_fields_must_be_live_others_may_be_added() -> None:
    live = {"metadata": {"labels": {"app": "x", "theirs": "y"}}, "data": {"A": "1", "B": "2"},
            "spec": {"containers": [{"name": "sidecar"}, {
                "name": "c", "env": [{"name": "E", "value": "v"}, {"name": "F", "value": "w"}],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m"}}}]}}
    assert difference(RENDER, live) is None
    changed = {**live, "data": {"A": "9"}}
    assert difference(RENDER, changed) == ".data.A: '9', rendered '1'"


def test_quantities_are_equal_as_quantities_only_under_resources() -> None:
    assert difference({"data": {"N": "2000"}}, {"data": {"N": "2k"}}) is not None
    assert difference({"spec": {"resources": {"limits": {"memory": "1Gi"}}}},
                      {"spec": {"resources": {"limits": {"memory": "1024Mi"}}}}) is None


def test_a_field_the_operator_owns_but_no_longer_renders_is_reported() -> None:
    fields = {"f:metadata": {"f:labels": {"f:app": {}},
                             "f:annotations": {"f:dashstream.io/applied-hash": {}}},
              "f:data": {"f:A": {}, "f:GONE": {}},
              "f:spec": {"f:containers": {'k:{"name":"c"}': {
                  "f:env": {'k:{"name":"E"}': {".": {}, "f:value": {}},
                            'k:{"name":"OLD"}': {".": {}}},
                  "f:ports": {'k:{"containerPort":8080,"protocol":"TCP"}': {".": {}}},
                  "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}}}}}}
    assert unrendered(fields, RENDER) == [
        "data.GONE", 'spec.containers.{"name":"c"}.env[{"name":"OLD"}]',
        'spec.containers.{"name":"c"}.resources.limits.memory']


def test_only_the_operators_apply_counts_as_owned() -> None:
    live = {"metadata": {"managedFields": [
        {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:data": {}}},
        {"manager": "dashstream-operator", "operation": "Apply",
         "fieldsV1": {"f:data": {"f:A": {}}}}]}}
    assert owned_fields(live) == {"f:data": {"f:A": {}}}
    assert owned_fields({"metadata": {}}) is None
