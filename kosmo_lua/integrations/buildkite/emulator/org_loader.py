"""An organization's agents, clusters and Test Engine suites in the data format: their
records (``FIELDS`` joins loader.py's organization) and how they are built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .analytics import Failure, Suite, TestRun
from .fleet import CONNECTION_STATES, Agent, Cluster, Queue
from .model import Build, Organization, parse_time, stable_id
from .schema import (
    BOOLEAN,
    INTEGER,
    POSITIVE,
    SECONDS,
    STRING,
    STRING_LIST,
    TEXT,
    TIME,
    Kind,
    Record,
    Records,
    error,
    one_of,
    shown,
)
from .state import World, slugify

AGENT_VERSION = "3.87.0"

AGENT = Record(
    {
        "name": TEXT,
        "hostname": STRING,
        "version": STRING,
        "connection_state": one_of(*CONNECTION_STATES),
        "queue": STRING,
        "os_id": STRING,
        "arch": STRING,
        "ip_address": STRING,
        "meta_data": STRING_LIST,
        "priority": INTEGER,
        "paused": BOOLEAN,
        "paused_note": STRING,
        "created_at": TIME,
    },
    required=("name",),
)
QUEUE = Record({"key": TEXT, "description": STRING, "dispatch_paused": BOOLEAN}, required=("key",))
CLUSTER = Record(
    {
        "name": TEXT,
        "description": STRING,
        "emoji": STRING,
        "color": STRING,
        "created_at": TIME,
        "queues": Records(QUEUE, non_empty=True),
    },
    required=("name", "queues"),
)
FAILURE = Record(
    {
        "name": TEXT,
        "location": STRING,
        "reason": STRING,
        "duration": SECONDS,
        "backtrace": STRING_LIST,
        "expanded": STRING_LIST,
    },
    required=("name",),
)
# A run reports the tests of one build of the organization, named by pipeline and number.
RUN = Record(
    {"pipeline": TEXT, "build": POSITIVE, "failures": Records(FAILURE)},
    required=("pipeline", "build"),
)
SUITE = Record(
    {"name": TEXT, "slug": STRING, "default_branch": STRING, "runs": Records(RUN)},
    required=("name",),
)
FIELDS: dict[str, Kind | Records] = {
    "clusters": Records(CLUSTER),
    "agents": Records(AGENT),
    "suites": Records(SUITE),
}


def load(world: World, org: Organization, spec: Mapping[str, Any], where: str, now: float) -> None:
    """The organization's clusters, agents and suites, after its pipelines and builds."""
    for item in spec.get("clusters", ()):
        org.clusters.append(_cluster(world, org, item, now))
    for index, item in enumerate(spec.get("agents", ())):
        org.agents.append(_agent(world, org, item, f"{where}.agents[{index}]", now))
    for index, item in enumerate(spec.get("suites", ())):
        org.suites.append(_suite(world, org, item, f"{where}.suites[{index}]"))


def _cluster(world: World, org: Organization, spec: Mapping[str, Any], now: float) -> Cluster:
    cluster_id = stable_id(org.slug, "cluster", spec["name"])
    created_at = _time(spec.get("created_at"), now)
    return Cluster(
        id=cluster_id,
        name=spec["name"],
        description=spec.get("description"),
        emoji=spec.get("emoji"),
        color=spec.get("color"),
        created_at=created_at,
        created_by=world.owner,
        queues=[
            Queue(
                id=stable_id(cluster_id, "queue", queue["key"]),
                key=queue["key"],
                description=queue.get("description"),
                created_at=created_at,
                dispatch_paused=queue.get("dispatch_paused", False),
            )
            for queue in spec["queues"]
        ],
    )


def _agent(
    world: World, org: Organization, spec: Mapping[str, Any], where: str, now: float
) -> Agent:
    name = spec["name"]
    if any(other.name == name for other in org.agents):
        raise error(where, f'"name" {shown(name)} is taken by an earlier agent')
    state = spec.get("connection_state", "connected")
    created_at = _time(spec.get("created_at"), now)
    connected = None if state == "never_connected" else created_at
    paused = spec.get("paused", False)
    if paused and state != "connected":
        raise error(where, f'"paused" is for connected agents; this one is {state}')
    return Agent(
        # As jobs name their agents (payloads.py), so a job's agent is one of these.
        id=stable_id(org.slug, "agent", name),
        name=name,
        hostname=spec.get("hostname") or name,
        version=spec.get("version") or AGENT_VERSION,
        connection_state=state,
        queue=spec.get("queue") or "default",
        created_at=created_at,
        creator=world.owner,
        os_id=spec.get("os_id") or "linux",
        arch=spec.get("arch") or "amd64",
        ip_address=spec.get("ip_address") or "10.0.0.1",
        meta_data=list(spec.get("meta_data") or []),
        priority=spec.get("priority"),
        connected_at=connected,
        disconnected_at=now if state in ("disconnected", "stopped") else None,
        stopped_at=now if state == "stopped" else None,
        lost_at=now if state == "lost" else None,
        paused=paused,
        paused_at=now if paused else None,
        paused_by=world.owner if paused else None,
        paused_note=spec.get("paused_note") if paused else None,
    )


def _suite(world: World, org: Organization, spec: Mapping[str, Any], where: str) -> Suite:
    slug = spec.get("slug") or slugify(spec["name"])
    suite_id = stable_id(org.slug, "suite", slug)
    runs = []
    for index, item in enumerate(spec.get("runs", ())):
        build = _build_of(world, org, item, f"{where}.runs[{index}]")
        runs.append(
            TestRun(
                id=stable_id(suite_id, "run", build.id),
                build=build,
                failures=[
                    Failure(
                        name=failure["name"],
                        location=failure.get("location") or "",
                        reason=failure.get("reason") or "",
                        duration=failure.get("duration", 0.5),
                        backtrace=list(failure.get("backtrace") or []),
                        expanded=list(failure.get("expanded") or []),
                    )
                    for failure in item.get("failures", ())
                ],
            )
        )
    return Suite(
        id=suite_id,
        slug=slug,
        name=spec["name"],
        default_branch=spec.get("default_branch") or "main",
        runs=runs,
    )


def _build_of(world: World, org: Organization, spec: Mapping[str, Any], where: str) -> Build:
    for build in world.builds:
        pipeline = build.pipeline
        if (
            pipeline.organization is org
            and pipeline.slug == spec["pipeline"]
            and build.number == spec["build"]
        ):
            return build
    raise error(where, f"no build {spec['build']} of pipeline {shown(spec['pipeline'])}")


def _time(text: str | None, default: float) -> float:
    return parse_time(text) if text else default
