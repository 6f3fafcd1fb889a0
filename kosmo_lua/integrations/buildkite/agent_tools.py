"""Buildkite's agents (list, inspect, stop, pause, resume) and clusters with their queues."""

from __future__ import annotations

from ...tools import Param, Tool
from .params import ORG, ORGANIZATION

AGENT = ORG + "/agents/{agent_id}"
CLUSTER = ORG + "/clusters/{cluster_id}"

AGENT_ID = Param(
    "agent_id",
    "string",
    "Agent UUID, from list_agents.",
    required=True,
    location="path",
    example="0b461f65-e7be-4c80-888a-ef11d81fd971",
)
CLUSTER_ID = Param(
    "cluster_id",
    "string",
    "Cluster UUID, from list_clusters.",
    required=True,
    location="path",
    example="42f1a7da-812d-4430-93d8-1cc7c33a6bcf",
)

_AN_AGENT = (
    "local bk = app.integrations.buildkite\n"
    'local agent = bk.list_agents{organization = "acme-inc", per_page = 1}[1]\n'
)
_A_CLUSTER = (
    'local bk = app.integrations.buildkite\nlocal cluster = bk.list_clusters("acme-inc")[1]\n'
)

AGENT_TOOLS = (
    Tool(
        "list_agents",
        "List an organization's connected (and stopping) agents.",
        "read",
        "GET",
        (ORG + "/agents",),
        params=(
            ORGANIZATION,
            Param("name", "string", "Only agents with this name.", location="query"),
            Param("hostname", "string", "Only agents on this hostname.", location="query"),
            Param(
                "version",
                "string",
                "Only agents of this exact version, e.g. 3.87.0.",
                location="query",
            ),
            Param(
                "cluster_queue_id",
                "string",
                "Only agents of this cluster queue (a queue UUID).",
                location="query",
            ),
        ),
        paginated=True,
        result="Agent[]",
        returns=(
            "The organization's agents (`meta_data`: tags as `key=value`; `job`: the job it "
            "runs, if any)."
        ),
        example="local bk = app.integrations.buildkite\n"
        'for _, agent in ipairs(bk.list_agents{organization = "acme-inc"}) do\n'
        '  print(agent.name, agent.connection_state, agent.job and agent.job.name or "idle")\n'
        "end",
        notes="Agents disconnected, stopped, lost or never connected are not listed;"
        " get_agent finds one of those by id.",
    ),
    Tool(
        "get_agent",
        "Get one agent, in any connection state.",
        "read",
        "GET",
        (AGENT,),
        params=(ORGANIZATION, AGENT_ID),
        result="Agent",
        returns="The agent.",
        example=_AN_AGENT + 'local same = bk.get_agent("acme-inc", agent.id)\n'
        "print(same.hostname, same.version, same.connection_state)",
    ),
    Tool(
        "stop_agent",
        "Stop an agent: it takes no more jobs and shuts down.",
        "write",
        "PUT",
        (AGENT + "/stop",),
        params=(
            ORGANIZATION,
            AGENT_ID,
            Param(
                "force",
                "boolean",
                "Cancel the job (and build) the agent is running, if any; false lets the"
                " job finish first.",
                location="body",
                default=True,
            ),
        ),
        result="{}",
        returns="`{}` (the API answers 204).",
        example=_AN_AGENT
        + 'bk.stop_agent{organization = "acme-inc", agent_id = agent.id, force = false}\n'
        'print(bk.get_agent("acme-inc", agent.id).connection_state)',
        notes='Only a connected agent can be stopped: others answer 400 ("Can only stop'
        ' connected agents").',
    ),
    Tool(
        "pause_agent",
        "Pause an agent: no jobs are dispatched to it until it is resumed.",
        "write",
        "PUT",
        (AGENT + "/pause",),
        params=(
            ORGANIZATION,
            AGENT_ID,
            Param(
                "note",
                "string",
                "Why the agent is paused, shown to others.",
                location="body",
                example="Upgrading Xcode",
            ),
            Param(
                "timeout_in_minutes",
                "integer",
                "Resume by itself after this many minutes.",
                location="body",
                minimum=1,
            ),
        ),
        result="{}",
        returns="`{}` (the API answers 204).",
        example=_AN_AGENT + 'bk.pause_agent{organization = "acme-inc", agent_id = agent.id,\n'
        '  note = "Upgrading Xcode", timeout_in_minutes = 60}\n'
        'print(bk.get_agent("acme-inc", agent.id).paused)',
        notes="The API answers 422 for an agent already paused, or not connected.",
    ),
    Tool(
        "resume_agent",
        "Resume a paused agent.",
        "write",
        "PUT",
        (AGENT + "/resume",),
        params=(ORGANIZATION, AGENT_ID),
        result="{}",
        returns="`{}` (the API answers 204).",
        example=_AN_AGENT + 'bk.pause_agent{organization = "acme-inc", agent_id = agent.id}\n'
        'bk.resume_agent("acme-inc", agent.id)',
        notes='The API answers 422 ("Agent is not paused") for an agent that is not paused.',
    ),
)

CLUSTER_TOOLS = (
    Tool(
        "list_clusters",
        "List an organization's clusters.",
        "read",
        "GET",
        (ORG + "/clusters",),
        params=(ORGANIZATION,),
        paginated=True,
        result="Cluster[]",
        returns="The organization's clusters.",
        example="for _, cluster in ipairs(app.integrations.buildkite.list_clusters(\n"
        '    "acme-inc")) do\n'
        "  print(cluster.name, cluster.id)\n"
        "end",
    ),
    Tool(
        "get_cluster",
        "Get one cluster.",
        "read",
        "GET",
        (CLUSTER,),
        params=(ORGANIZATION, CLUSTER_ID),
        result="Cluster",
        returns="The cluster.",
        example=_A_CLUSTER + 'print(bk.get_cluster("acme-inc", cluster.id).default_queue_id)',
    ),
    Tool(
        "list_cluster_queues",
        "List the queues of a cluster.",
        "read",
        "GET",
        (CLUSTER + "/queues",),
        params=(ORGANIZATION, CLUSTER_ID),
        paginated=True,
        result="Queue[]",
        returns="The cluster's queues.",
        example=_A_CLUSTER
        + 'for _, queue in ipairs(bk.list_cluster_queues("acme-inc", cluster.id)) do\n'
        "  print(queue.key, queue.dispatch_paused)\n"
        "end",
    ),
    Tool(
        "get_cluster_queue",
        "Get one queue of a cluster.",
        "read",
        "GET",
        (CLUSTER + "/queues/{queue_id}",),
        params=(
            ORGANIZATION,
            CLUSTER_ID,
            Param(
                "queue_id",
                "string",
                "Queue UUID, from list_cluster_queues.",
                required=True,
                location="path",
                example="01885682-55a7-44f5-84f3-0402fb452e66",
            ),
        ),
        result="Queue",
        returns="The queue.",
        example=_A_CLUSTER
        + 'local queue = bk.get_cluster_queue("acme-inc", cluster.id, cluster.default_queue_id)\n'
        "print(queue.key, queue.description)",
    ),
)
