"""The oracle's Kafka half: the broker, described directly, against the declared topics."""

from __future__ import annotations

from typing import Any

from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

from support.explore.world import World
from support.pipelines import condition

Key = tuple[str, str]


def deleted_topics_left(world: World) -> list[str]:
    """Topics of pipelines deleted with topicDeletionPolicy: Delete still in Kafka."""
    present = world.admin.list_topics(timeout=10).topics
    return [f"topic {t} still in Kafka after its pipeline was deleted with "
            "topicDeletionPolicy: Delete" for t in sorted(world.deleted_topics) if t in present]


def topic_problems(world: World, live_crs: dict[Key, dict[str, Any]]) -> list[str]:
    problems = []
    md = world.admin.list_topics(timeout=10)  # one metadata request for every pipeline
    for (kind, name), body in live_crs.items():
        if kind != "DashStreamPipeline":
            continue
        all_as_declared = True
        for topic in body["spec"]["topics"]:
            tname, want = topic["name"], topic.get("partitions", 1)
            if tname not in md.topics:
                problems.append(f"topic {tname} ({name}) missing in Kafka")
                all_as_declared = False
                continue
            have = len(md.topics[tname].partitions)
            if have != max(want, world.max_partitions.get(tname, want)):
                problems.append(f"topic {tname}: {have} partitions; declared {want}, the most "
                                f"ever declared {world.max_partitions.get(tname)}")
            all_as_declared &= have == want
            res = ConfigResource(ResourceType.TOPIC, tname)
            entries = world.admin.describe_configs([res])[res].result(timeout=10)
            declared = topic.get("config") or {}
            for key, value in declared.items():
                if entries[key].value != value:
                    problems.append(f"topic {tname}: {key}={entries[key].value}, declared {value}")
                    all_as_declared = False
            for key in world.topic_keys.get(tname, set()) - set(declared):
                source = getattr(entries[key].source, "value", entries[key].source)
                if source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value:
                    problems.append(f"topic {tname}: {key} no longer declared, still set to "
                                    f"{entries[key].value}")
                    all_as_declared = False
        managed = {t["name"]: t.get("managedConfig") or []
                   for t in (body.get("status") or {}).get("topics") or []}
        for topic in body["spec"]["topics"]:
            declared_keys = sorted(topic.get("config") or {})
            if all_as_declared and managed.get(topic["name"]) != declared_keys:
                problems.append(f"topic {topic['name']}: status managedConfig "
                                f"{managed.get(topic['name'])}, declared {declared_keys}")
        topics_ready = (condition(body, "TopicsReady") or {}).get("status") == "True"
        if topics_ready != all_as_declared:
            problems.append(f"DashStreamPipeline/{name}: TopicsReady {topics_ready} but the "
                            f"broker {'matches' if all_as_declared else 'does not match'} "
                            "the declared topics")
    return problems
