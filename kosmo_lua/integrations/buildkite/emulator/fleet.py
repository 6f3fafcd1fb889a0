"""Agents and the clusters their queues belong to: records, rules and payloads.

An agent runs the jobs that name it (``Job.agent``, by name); stopping one that runs a job
with ``force`` cancels that job's build. Pausing and resuming only flip its flags: the
emulator's jobs do not wait for agents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import Build, Job, Organization, User, graphql_id, iso
from .state import ApiError

if TYPE_CHECKING:
    from .payloads import Renderer
    from .state import World

CONNECTION_STATES = ("never_connected", "connected", "disconnected", "stopping", "stopped", "lost")
LISTED_STATES = ("connected", "stopping")  # what list agents shows


@dataclass
class Queue:
    id: str
    key: str
    description: str | None
    created_at: float
    dispatch_paused: bool = False


@dataclass
class Cluster:
    id: str
    name: str
    description: str | None
    emoji: str | None
    color: str | None
    created_at: float
    created_by: User
    queues: list[Queue] = field(default_factory=list)


@dataclass
class Agent:
    id: str
    name: str
    hostname: str
    version: str
    connection_state: str
    queue: str
    created_at: float
    creator: User
    os_id: str = "linux"
    arch: str = "amd64"
    ip_address: str = "10.0.0.1"
    meta_data: list[str] = field(default_factory=list)
    priority: int | None = None
    connected_at: float | None = None
    disconnected_at: float | None = None
    lost_at: float | None = None
    stopped_at: float | None = None
    paused: bool = False
    paused_at: float | None = None
    paused_by: User | None = None
    paused_note: str | None = None
    paused_timeout_in_minutes: int | None = None


# Lookups: each miss is the API's 404.


def agent(org: Organization, agent_id: str) -> Agent:
    for candidate in org.agents:
        if candidate.id == agent_id:
            return candidate
    raise ApiError(404, "No agent found")


def cluster(org: Organization, cluster_id: str) -> Cluster:
    for candidate in org.clusters:
        if candidate.id == cluster_id:
            return candidate
    raise ApiError(404, "No cluster found")


def queue(found: Cluster, queue_id: str) -> Queue:
    for candidate in found.queues:
        if candidate.id == queue_id:
            return candidate
    raise ApiError(404, "No queue found")


def queue_of(org: Organization, one: Agent) -> tuple[Cluster, Queue] | None:
    """The cluster queue an agent's ``queue`` tag names, if any cluster has it."""
    for candidate in org.clusters:
        for item in candidate.queues:
            if item.key == one.queue:
                return candidate, item
    return None


def current_job(world: World, org: Organization, one: Agent) -> tuple[Build, Job] | None:
    """The job the agent is running now, if any."""
    for build in world.builds:
        if build.pipeline.organization is org and build.next_at is not None:
            for job in build.jobs:
                if job.state == "running" and job.agent == one.name:
                    return build, job
    return None


def listed(org: Organization, request_args: dict[str, str | None]) -> list[Agent]:
    """The agents list agents shows: connected or stopping, filtered by name and hostname
    (parts of them, any case), version (exact) and cluster queue."""
    name = (request_args.get("name") or "").lower()
    hostname = (request_args.get("hostname") or "").lower()
    version = request_args.get("version")
    queue_id = request_args.get("cluster_queue_id")
    chosen = []
    for one in org.agents:
        placed = queue_of(org, one)
        if (
            one.connection_state in LISTED_STATES
            and name in one.name.lower()
            and hostname in one.hostname.lower()
            and (not version or one.version == version)
            and (not queue_id or (placed is not None and placed[1].id == queue_id))
        ):
            chosen.append(one)
    return chosen


# Rules.


def stop(world: World, org: Organization, one: Agent, force: bool, now: float) -> None:
    """A connected agent stops: at once when idle or forced (its job's build is canceled),
    after its job otherwise (it is ``stopping`` meanwhile)."""
    if one.connection_state != "connected":
        raise ApiError(400, "Can only stop connected agents")
    running = current_job(world, org, one)
    if running is not None and not force:
        one.connection_state = "stopping"
        return
    if running is not None:
        world.cancel(running[0], now)
    one.connection_state = "stopped"
    one.stopped_at = one.disconnected_at = now


def pause(one: Agent, body: dict[str, Any], user: User, now: float) -> None:
    if one.connection_state != "connected":
        raise ApiError(422, "Only connected agents may be paused")
    if one.paused:
        raise ApiError(422, "Agent is already paused")
    timeout = body.get("timeout_in_minutes")
    one.paused, one.paused_at, one.paused_by = True, now, user
    one.paused_note = str(body["note"]) if body.get("note") is not None else None
    one.paused_timeout_in_minutes = timeout if isinstance(timeout, int) else None


def resume(one: Agent) -> None:
    if not one.paused:
        raise ApiError(422, "Agent is not paused")
    one.paused, one.paused_at, one.paused_by = False, None, None
    one.paused_note, one.paused_timeout_in_minutes = None, None


# Payloads, with the docs' field names.


def agent_payload(render: Renderer, world: World, org: Organization, one: Agent) -> dict[str, Any]:
    url = f"{render.organization_url(org)}/agents/{one.id}"
    running = current_job(world, org, one)
    return {
        "id": one.id,
        "graphql_id": graphql_id("Agent", one.id),
        "url": url,
        "web_url": f"https://buildkite.com/organizations/{org.slug}/agents/{one.id}",
        "name": one.name,
        "connection_state": one.connection_state,
        "hostname": one.hostname,
        "ip_address": one.ip_address,
        "user_agent": f"buildkite-agent/{one.version} ({one.os_id}; {one.arch})",
        "version": one.version,
        "os_id": one.os_id,
        "arch": one.arch,
        "queue": one.queue,
        "creator": render.user(one.creator),
        "created_at": iso(one.created_at),
        "connected_at": iso(one.connected_at),
        "disconnected_at": iso(one.disconnected_at),
        "lost_at": iso(one.lost_at),
        "stopped_at": iso(one.stopped_at),
        "job": running and render.job(*running),
        "last_job_finished_at": iso(_last_finished(world, org, one)),
        "priority": one.priority,
        "meta_data": _tags(one),
        "paused": one.paused,
        "paused_at": iso(one.paused_at),
        "paused_by": one.paused_by and render.user(one.paused_by),
        "paused_note": one.paused_note,
        "paused_timeout_in_minutes": one.paused_timeout_in_minutes,
    }


def _tags(one: Agent) -> list[str]:
    """The agent's tags as ``key=value``; its queue is one of them, as on a real agent."""
    if any(tag.startswith("queue=") for tag in one.meta_data):
        return list(one.meta_data)
    return [f"queue={one.queue}", *one.meta_data]


def _last_finished(world: World, org: Organization, one: Agent) -> float | None:
    times = [
        job.finished_at
        for build in world.builds
        if build.pipeline.organization is org
        for job in build.jobs
        if job.agent == one.name and job.finished_at is not None
    ]
    return max(times, default=None)


def cluster_url(render: Renderer, org: Organization, found: Cluster) -> str:
    return f"{render.organization_url(org)}/clusters/{found.id}"


def cluster_payload(render: Renderer, org: Organization, found: Cluster) -> dict[str, Any]:
    url = cluster_url(render, org, found)
    default = found.queues[0] if found.queues else None
    return {
        "id": found.id,
        "graphql_id": graphql_id("Cluster", found.id),
        "default_queue_id": default and default.id,
        "name": found.name,
        "description": found.description,
        "emoji": found.emoji,
        "color": found.color,
        "maintainers": {"users": [], "teams": []},
        "url": url,
        "web_url": f"https://buildkite.com/organizations/{org.slug}/clusters/{found.id}",
        "default_queue_url": default and f"{url}/queues/{default.id}",
        "queues_url": f"{url}/queues",
        "created_at": iso(found.created_at),
        "created_by": render.user(found.created_by),
    }


def queue_payload(
    render: Renderer, org: Organization, found: Cluster, item: Queue
) -> dict[str, Any]:
    url = cluster_url(render, org, found)
    web = f"https://buildkite.com/organizations/{org.slug}/clusters/{found.id}"
    return {
        "id": item.id,
        "graphql_id": graphql_id("ClusterQueue", item.id),
        "key": item.key,
        "description": item.description,
        "url": f"{url}/queues/{item.id}",
        "web_url": f"{web}/queues/{item.id}",
        "cluster_url": url,
        "dispatch_paused": item.dispatch_paused,
        "dispatch_paused_by": None,
        "dispatch_paused_at": None,
        "dispatch_paused_note": None,
        "created_at": iso(item.created_at),
        "created_by": render.user(found.created_by),
    }
