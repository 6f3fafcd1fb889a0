"""The endpoints of agents (list, get, stop, pause, resume) and of clusters and queues."""

from __future__ import annotations

from . import fleet
from .registry import Context, ok, organization_of, page, route
from .wsgi import Response

AGENTS = "/organizations/{org}/agents"
AGENT = AGENTS + "/{agent}"
CLUSTERS = "/organizations/{org}/clusters"
CLUSTER = CLUSTERS + "/{cluster}"


@route("GET", AGENTS, "read_agents")
def list_agents(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    request = context.request
    filters = {
        name: request.arg(name) for name in ("name", "hostname", "version", "cluster_queue_id")
    }
    agents = fleet.listed(org, filters)
    return page(
        context, agents, lambda one: fleet.agent_payload(context.render, context.world, org, one)
    )


@route("GET", AGENT, "read_agents")
def get_agent(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    one = fleet.agent(org, params["agent"])
    return ok(fleet.agent_payload(context.render, context.world, org, one))


@route("PUT", AGENT + "/stop", "write_agents")
def stop_agent(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    one = fleet.agent(org, params["agent"])
    force = context.request.json().get("force", True)
    fleet.stop(context.world, org, one, force is not False, context.now)
    return Response(204)


@route("PUT", AGENT + "/pause", "write_agents")
def pause_agent(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    one = fleet.agent(org, params["agent"])
    fleet.pause(one, context.request.json(), context.world.owner, context.now)
    return Response(204)


@route("PUT", AGENT + "/resume", "write_agents")
def resume_agent(context: Context, params: dict[str, str]) -> Response:
    fleet.resume(fleet.agent(organization_of(context, params), params["agent"]))
    return Response(204)


@route("GET", CLUSTERS, "read_clusters")
def list_clusters(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    return page(
        context, org.clusters, lambda found: fleet.cluster_payload(context.render, org, found)
    )


@route("GET", CLUSTER, "read_clusters")
def get_cluster(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    return ok(fleet.cluster_payload(context.render, org, fleet.cluster(org, params["cluster"])))


@route("GET", CLUSTER + "/queues", "read_clusters")
def list_cluster_queues(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    found = fleet.cluster(org, params["cluster"])
    return page(
        context,
        found.queues,
        lambda item: fleet.queue_payload(context.render, org, found, item),
    )


@route("GET", CLUSTER + "/queues/{queue}", "read_clusters")
def get_cluster_queue(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    found = fleet.cluster(org, params["cluster"])
    item = fleet.queue(found, params["queue"])
    return ok(fleet.queue_payload(context.render, org, found, item))
