"""A GitHub-style integration declared as data only, installed as a plug-in would be.

It differs from Buildkite wherever GitHub does: a credential named ``token``, the base URL
in ``api_url``, ``X-RateLimit-*`` headers whose reset is a Unix time, throttling answered
with 403 and nothing remaining, and its own words for errors. Nothing here is host code.
"""

from kosmo_lua import (
    CredentialField,
    Integration,
    Mistake,
    Pagination,
    Param,
    RateLimit,
    Tool,
)

from .emulator import GitHubEmulator

OWNER = Param(
    "owner",
    "string",
    "Account that owns the repository.",
    required=True,
    location="path",
    example="octocat",
)

INTEGRATION = Integration(
    name="github",
    title="GitHub",
    summary="Users and repositories (REST API).",
    tools=(
        Tool(
            "get_user",
            "Get the authenticated user.",
            "read",
            "GET",
            ("/user",),
            returns="The user: login, name.",
        ),
        Tool(
            "list_repos",
            "List a user's repositories.",
            "read",
            "GET",
            ("/users/{owner}/repos",),
            params=(
                OWNER,
                Param(
                    "sort",
                    "string",
                    "Order: created, updated, pushed, full_name.",
                    location="query",
                    enum=("created", "updated", "pushed", "full_name"),
                ),
            ),
            paginated=True,
            returns="A list of repositories.",
        ),
        Tool(
            "get_issue",
            "Get one issue by number.",
            "read",
            "GET",
            ("/repos/{owner}/{repo}/issues/{number}",),
            params=(
                OWNER,
                Param("repo", "string", "Repository name.", required=True, location="path"),
                Param(
                    "number",
                    "integer",
                    "Issue number.",
                    required=True,
                    location="path",
                    minimum=1,
                    mistakes=(Mistake(r"^#\d+$", "{value} has a '#': give the bare number"),),
                ),
            ),
        ),
    ),
    credentials=(
        CredentialField(
            "token",
            "A personal access token.",
            secret=True,
            required=True,
            env="GITHUB_TOKEN",
            role="token",
        ),
        CredentialField(
            "api_url", "API base URL.", default="https://api.github.com", role="base_url"
        ),
    ),
    overview="# GitHub\n\nUsers and repositories. Lists follow `Link` headers (up to"
    " $max_pages pages).\n",
    error_label="GitHub API",
    rate_limit=RateLimit(
        limit_header="X-RateLimit-Limit",
        remaining_header="X-RateLimit-Remaining",
        reset_header="X-RateLimit-Reset",
        reset="epoch",
        throttle_statuses=(429,),
        exhausted_statuses=(403,),
    ),
    pagination=Pagination(default_per_page=30, max_per_page=100),
    status_notes={401: "the token is missing or revoked (GitHub says Bad credentials)."},
    emulator=lambda data_file: GitHubEmulator(),
)
