"""JSON payloads with the API's field names, in the docs' order.

API URLs (``url``, ``log_url``, ...) point back at the emulator, built from the request's own
base URL, so a client can follow them; ``web_url`` values point at buildkite.com as the real
ones do. Fields the emulator has no behaviour for carry the API's neutral values (null, 0, []).
"""

from __future__ import annotations

import re
from typing import Any

from .model import (
    BLOCKED_JOB_STATES,
    UNFINISHED_BUILD_STATES,
    Build,
    Job,
    Organization,
    Pipeline,
    Step,
    User,
    graphql_id,
    iso,
    stable_id,
)
from .state import World

WEB = "https://buildkite.com"
_REPOSITORY_PATH = re.compile(r"[:/]([^/:]+/[^/]+?)(?:\.git)?/?$")


class Renderer:
    """Renders records for one request: ``base`` is its API root, e.g. ``http://host/v2``."""

    def __init__(self, world: World, base: str):
        self.world = world
        self.base = base

    # URLs.

    def organization_url(self, org: Organization) -> str:
        return f"{self.base}/organizations/{org.slug}"

    def pipeline_url(self, pipeline: Pipeline) -> str:
        return f"{self.organization_url(pipeline.organization)}/pipelines/{pipeline.slug}"

    def build_url(self, build: Build) -> str:
        return f"{self.pipeline_url(build.pipeline)}/builds/{build.number}"

    def job_url(self, build: Build, job: Job) -> str:
        return f"{self.build_url(build)}/jobs/{job.id}"

    @staticmethod
    def build_web_url(build: Build) -> str:
        pipeline = build.pipeline
        return f"{WEB}/{pipeline.organization.slug}/{pipeline.slug}/builds/{build.number}"

    # Records.

    @staticmethod
    def user(user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "graphql_id": graphql_id("User", user.id),
            "name": user.name,
            "email": user.email,
            "avatar_url": user.avatar_url,
            "created_at": iso(user.created_at),
        }

    def access_token(self, token: str, scopes: list[str]) -> dict[str, Any]:
        owner = self.world.owner
        return {
            "uuid": stable_id("token", token),
            "scopes": scopes,
            "description": "Buildkite emulator token",
            "created_at": iso(owner.created_at),
            "expires_at": None,
            "user": {"name": owner.name, "email": owner.email},
        }

    def organization(self, org: Organization) -> dict[str, Any]:
        url = self.organization_url(org)
        return {
            "id": org.id,
            "graphql_id": graphql_id("Organization", org.id),
            "url": url,
            "web_url": f"{WEB}/{org.slug}",
            "name": org.name,
            "slug": org.slug,
            "pipelines_url": f"{url}/pipelines",
            "agents_url": f"{url}/agents",
            "emojis_url": f"{url}/emojis",
            "created_at": iso(org.created_at),
        }

    def pipeline(self, pipeline: Pipeline) -> dict[str, Any]:
        url = self.pipeline_url(pipeline)
        settings = pipeline.settings
        match = _REPOSITORY_PATH.search(pipeline.repository)
        plain_id = pipeline.id.replace("-", "")
        live = [
            b
            for b in self.world.builds
            if b.pipeline is pipeline and b.state in UNFINISHED_BUILD_STATES
        ]
        jobs = [job for build in live for job in build.jobs]
        return {
            "id": pipeline.id,
            "graphql_id": graphql_id("Pipeline", pipeline.id),
            "url": url,
            "web_url": f"{WEB}/{pipeline.organization.slug}/{pipeline.slug}",
            "name": pipeline.name,
            "description": settings["description"],
            "slug": pipeline.slug,
            "repository": pipeline.repository,
            "cluster_id": settings["cluster_id"],
            "pipeline_template_uuid": None,
            "branch_configuration": settings["branch_configuration"],
            "default_branch": pipeline.default_branch,
            "skip_queued_branch_builds": settings["skip_queued_branch_builds"],
            "skip_queued_branch_builds_filter": settings["skip_queued_branch_builds_filter"],
            "cancel_running_branch_builds": settings["cancel_running_branch_builds"],
            "cancel_running_branch_builds_filter": settings["cancel_running_branch_builds_filter"],
            "allow_rebuilds": settings["allow_rebuilds"],
            "provider": {
                "id": "github",
                "webhook_url": f"https://webhook.buildkite.com/deliver/{plain_id}",
                "settings": {
                    "repository": match[1] if match else pipeline.repository,
                    "trigger_mode": "code",
                    "build_pull_requests": True,
                    "publish_commit_status": True,
                },
            },
            "builds_url": f"{url}/builds",
            "badge_url": f"https://badge.buildkite.com/{plain_id}.svg",
            "created_by": self.user(pipeline.created_by) if pipeline.created_by else None,
            "created_at": iso(pipeline.created_at),
            "archived_at": iso(pipeline.archived_at),
            "env": pipeline.env,
            "scheduled_builds_count": sum(b.state == "scheduled" for b in live),
            "running_builds_count": sum(b.state != "scheduled" for b in live),
            "scheduled_jobs_count": sum(job.state == "scheduled" for job in jobs),
            "running_jobs_count": sum(job.state == "running" for job in jobs),
            "waiting_jobs_count": sum(job.state == "waiting" for job in jobs),
            "visibility": settings["visibility"],
            "tags": settings["tags"],
            "emoji": None,
            "color": None,
            "configuration": settings["configuration"],
            "steps": [self._step(step) for step in pipeline.steps],
            "cluster_url": None,
        }

    @staticmethod
    def _step(step: Step) -> dict[str, Any]:
        """A step as the pipeline's (visual) ``steps`` show it: group steps have no entry
        there, their steps take their place."""
        if step.block:
            return {"type": "manual", "label": step.label, "key": step.key}
        if step.wait:
            return {"type": "waiter", "key": step.key}
        if step.trigger is not None:
            return {
                "type": "trigger",
                "label": step.label,
                "key": step.key,
                "trigger_project_slug": step.trigger,
                "trigger_commit": "HEAD",
                "trigger_branch": None,
                "trigger_async": step.trigger_async,
            }
        return {
            "type": "script",
            "name": step.label,
            "key": step.key,
            "command": step.command,
            "artifact_paths": ", ".join(a.path for a in step.artifacts) or None,
            "branch_configuration": None,
            "env": step.env,
            "timeout_in_minutes": None,
            "agent_query_rules": [],
        }

    def build(
        self,
        build: Build,
        jobs: list[Job] | None,
        *,
        job_state_counts: dict[str, Any] | None = None,
        with_pipeline: bool = True,
    ) -> dict[str, Any]:
        """A build; ``jobs=None`` leaves the jobs out (``exclude_jobs``)."""
        head = {
            "id": build.id,
            "graphql_id": graphql_id("Build", build.id),
            "url": self.build_url(build),
            "web_url": self.build_web_url(build),
            "number": build.number,
            "state": build.state,
            "cancel_reason": None,
            "blocked": build.blocked,
            "blocked_state": build.state if build.blocked else "",
            "message": build.message,
            "commit": build.commit,
            "branch": build.branch,
            "tag": None,
            "env": build.env,
            "source": build.source,
            "author": build.author,
            "creator": self.user(build.creator),
        }
        if jobs is not None:
            head["jobs"] = [self.job(build, job) for job in jobs]
        if job_state_counts is not None:
            head["job_state_counts"] = job_state_counts
        origin = build.rebuilt_from
        tail = {
            "created_at": iso(build.created_at),
            "scheduled_at": iso(build.created_at),
            "started_at": iso(build.started_at),
            "failing_at": iso(build.failing_at),
            "finished_at": iso(build.finished_at),
            "meta_data": build.meta_data,
            "pull_request": build.pull_request,
            "merge_queue": None,
            "rebuilt_from": origin
            and {"id": origin.id, "number": origin.number, "url": self.build_url(origin)},
        }
        if with_pipeline:
            tail["pipeline"] = self.pipeline(build.pipeline)
        return {**head, **tail, "cluster_id": None, "cluster_url": None}

    def job(self, build: Build, job: Job) -> dict[str, Any]:
        """A job by its type; one in a group step carries the group's ``group_key``."""
        payload = {
            "manual": self._manual_job,
            "waiter": self._waiter_job,
            "trigger": self._trigger_job,
        }.get(job.step.type, self._script_job)(build, job)
        if job.step.group is not None:
            payload["group_key"] = job.step.group
        return payload

    def _script_job(self, build: Build, job: Job) -> dict[str, Any]:
        url = self.job_url(build, job)
        step = job.step
        return {
            "id": job.id,
            "graphql_id": graphql_id("Job", job.id),
            "type": "script",
            "name": step.label,
            "step_key": step.key,
            "step": {"id": stable_id(build.pipeline.id, "step", step.key), "signature": None},
            "priority": {"number": job.priority},
            "agent_query_rules": [],
            "state": job.state,
            "build_url": self.build_url(build),
            "web_url": f"{self.build_web_url(build)}#{job.id}",
            "log_url": f"{url}/log",
            "raw_log_url": f"{url}/log.txt",
            "artifacts_url": f"{url}/artifacts",
            "command": step.command,
            "soft_failed": job.soft_failed,
            "exit_status": job.exit_status,
            "signal": job.signal,
            "signal_reason": job.signal_reason,
            "broken_reason": None,
            "artifact_paths": ", ".join(a.path for a in step.artifacts) or None,
            "agent": job.agent and self._agent(build, job.agent),
            "created_at": iso(job.created_at),
            "scheduled_at": iso(job.created_at),
            "runnable_at": iso(job.started_at),
            "concurrency_wait_time_ms": None,
            "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at),
            "expired_at": None,
            "retried": job.retried,
            "retried_in_job_id": job.retried_in_job_id,
            "retries_count": job.attempt or None,
            "retry_source": job.retry_source_id
            and {"job_id": job.retry_source_id, "retry_type": "manual"},
            "retry_type": "manual" if job.attempt else None,
            "parallel_group_index": None,
            "parallel_group_total": None,
            "matrix": None,
            "cluster_id": None,
            "cluster_url": None,
            "cluster_queue_id": None,
            "cluster_queue_url": None,
        }

    def _manual_job(self, build: Build, job: Job) -> dict[str, Any]:
        """A block step's job, with the fields the docs show for one."""
        return {
            "id": job.id,
            "graphql_id": graphql_id("Job", job.id),
            "type": "manual",
            "label": job.step.label,
            "step_key": job.step.key,
            "state": job.state,
            "web_url": None,
            "unblocked_by": job.unblocked_by and self.user(job.unblocked_by),
            "unblocked_at": iso(job.unblocked_at),
            "unblockable": job.state in BLOCKED_JOB_STATES,
            "unblock_url": f"{self.job_url(build, job)}/unblock",
        }

    @staticmethod
    def _waiter_job(_: Build, job: Job) -> dict[str, Any]:
        """A wait step's job: it never runs, so it has no log, agent or exit status."""
        return {
            "id": job.id,
            "graphql_id": graphql_id("Job", job.id),
            "type": "waiter",
            "step_key": job.step.key,
            "state": job.state,
        }

    def _trigger_job(self, build: Build, job: Job) -> dict[str, Any]:
        """A trigger step's job, with the fields the docs show for one."""
        child = job.triggered_build
        return {
            "id": job.id,
            "graphql_id": graphql_id("Job", job.id),
            "type": "trigger",
            "name": job.step.label,
            "step_key": job.step.key,
            "state": job.state,
            "async": job.step.trigger_async,
            "web_url": f"{self.build_web_url(build)}#{job.id}",
            "created_at": iso(job.created_at),
            "scheduled_at": iso(job.created_at),
            "runnable_at": iso(job.started_at),
            "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at),
            "triggered_build": child
            and {
                "id": child.id,
                "number": child.number,
                "url": self.build_url(child),
                "web_url": self.build_web_url(child),
            },
        }

    def _agent(self, build: Build, name: str) -> dict[str, Any]:
        org = build.pipeline.organization
        agent_id = stable_id(org.slug, "agent", name)
        return {
            "id": agent_id,
            "graphql_id": graphql_id("Agent", agent_id),
            "url": f"{self.organization_url(org)}/agents/{agent_id}",
            "web_url": f"{WEB}/organizations/{org.slug}/agents/{agent_id}",
            "name": name,
            "connection_state": "connected",
            "hostname": name,
            "user_agent": "buildkite-agent/3.87.0 (linux; amd64)",
        }

    def job_env(self, build: Build, job: Job) -> dict[str, str]:
        """What the agent exported to the job, then pipeline, build, step and job overrides."""
        pipeline = build.pipeline
        env = {
            "CI": "true",
            "BUILDKITE": "true",
            "BUILDKITE_TAG": "",
            "BUILDKITE_REPO": pipeline.repository,
            "BUILDKITE_BRANCH": build.branch,
            "BUILDKITE_COMMIT": build.commit,
            "BUILDKITE_JOB_ID": job.id,
            "BUILDKITE_COMMAND": job.step.command,
            "BUILDKITE_LABEL": job.step.label,
            "BUILDKITE_STEP_KEY": job.step.key,
            "BUILDKITE_MESSAGE": build.message,
            "BUILDKITE_BUILD_ID": build.id,
            "BUILDKITE_BUILD_URL": self.build_web_url(build),
            "BUILDKITE_BUILD_NUMBER": str(build.number),
            "BUILDKITE_AGENT_NAME": job.agent or "",
            "BUILDKITE_ORGANIZATION_SLUG": pipeline.organization.slug,
            "BUILDKITE_PIPELINE_SLUG": pipeline.slug,
            "BUILDKITE_PIPELINE_DEFAULT_BRANCH": pipeline.default_branch,
            "BUILDKITE_PIPELINE_PROVIDER": "github",
            "BUILDKITE_PULL_REQUEST": str(build.pull_request.get("id") or "false"),
            "BUILDKITE_BUILD_CREATOR": build.creator.name,
            "BUILDKITE_BUILD_CREATOR_EMAIL": build.creator.email,
            "BUILDKITE_RETRY_COUNT": str(job.attempt),
            "BUILDKITE_ARTIFACT_PATHS": "",
        }
        for overrides in (pipeline.env, build.env, job.step.env, job.env):
            env.update({str(key): str(value) for key, value in overrides.items()})
        return env
