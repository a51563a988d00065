"""Sample bodies of the three kinds and helpers shared by the model tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dashstream_operator.models import SpecError

# Every Kafka option at once (SASL_SSL with SCRAM and mutual TLS): shared with the
# CRD validation tests, which send it to the API server.
COMPLETE_KAFKA: dict[str, Any] = {
    "bootstrapServers": "kafka-0.kafka:9093,kafka-1.kafka:9093",
    "securityProtocol": "SASL_SSL",
    "sasl": {
        "mechanism": "SCRAM-SHA-512",
        "usernameSecretRef": {"name": "kafka-user", "key": "username"},
        "passwordSecretRef": {"name": "kafka-user", "key": "password"},
    },
    "tls": {
        "caSecretRef": {"name": "kafka-ca", "key": "ca.crt"},
        "certSecretRef": {"name": "kafka-client", "key": "tls.crt"},
        "keySecretRef": {"name": "kafka-client", "key": "tls.key"},
    },
}

MINIMAL_PIPELINE: dict[str, Any] = {"spec": {"kafka": {"bootstrapServers": "kafka:9092"}}}

COMPLETE_PIPELINE: dict[str, Any] = {
    "spec": {
        "kafka": COMPLETE_KAFKA,
        "topics": [
            {
                "name": "quality",
                "role": "events",
                "partitions": 3,
                "replicationFactor": 3,
                "config": {"retention.ms": "604800000", "cleanup.policy": "delete"},
            },
            {"name": "quality-dlq", "role": "dlq"},
            {"name": "quality.archive"},
        ],
        "topicDeletionPolicy": "Delete",
        "components": {
            "websocketServer": {
                "replicas": 2,
                "image": "images.example/dashstream:1.0",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 1}},
                "settings": {"REPLAY_BUFFER_SIZE": "1000"},
            },
            "prometheusExporter": {"enabled": False},
            "qualityMonitor": {"replicas": 0},
        },
        "monitoring": {
            "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prom"}}
        },
    }
}

COMPLETE_RULES: dict[str, Any] = {
    "spec": {
        "groups": [
            {
                "name": "dashstream",
                "interval": "1m",
                "limit": 10,
                "rules": [
                    {
                        "alert": "ServiceDown",
                        "expr": "up == 0",
                        "for": "5m",
                        "keep_firing_for": "1m",
                        "labels": {"severity": "critical"},
                        "annotations": {"summary": "{{ $labels.job }} is down"},
                    },
                    {"record": "job:up:sum", "expr": "sum by (job) (up)"},
                ],
            }
        ],
        "targets": {
            "configMap": {"name": "rules", "key": "dashstream.yaml", "labels": {"a": "b"}},
            "prometheusRule": {"enabled": True, "labels": {"release": "prom"}},
        },
        "validation": {
            "components": ["prometheus-exporter"],
            "unknownMetrics": "Warn",
            "requiredLabels": ["severity", "team"],
        },
    }
}

COMPLETE_DASHBOARDS: dict[str, Any] = {
    "spec": {
        "dashboards": [
            {"name": "quality", "json": '{"uid": "q", "title": "Quality", "panels": []}'},
            {"name": "infra", "gzipBase64": "H4sIAAAAAAAAA6uuBQBDv6ajAgAAAA=="},
            {"name": "exporter", "configMapKeyRef": {"name": "dash", "key": "exporter.json"}},
        ],
        "folder": "DashStream",
        "datasource": "Prometheus",
        "targets": {
            "sidecar": {"labelKey": "grafana_dashboard", "labelValue": "1"},
            "grafanaOperator": {
                "instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
                "allowCrossNamespaceImport": True,
            },
        },
        "validation": {"components": ["all"], "unknownMetrics": "Reject"},
    }
}


def with_spec(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    body["spec"].update(changes)
    return body


def spec_error(parse: Any, body: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(body)
    return info.value


