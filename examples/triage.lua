-- Triage: the most recent failed build on main, each failed job's last 30 log lines and its
-- first line matching /error|FAIL/, in one call per build (logs read concurrently).
--   kosmo integrations:lua examples/triage.lua --emulate
local bk = app.integrations.buildkite
local org = "acme-inc"

local build = bk.list_builds{organization = org, branch = "main", state = "failed", per_page = 1}[1]
if not build then
  print("No failed build on main.")
  return nil
end

local failures = bk.get_build_failures{
  organization = org, pipeline = build.pipeline.slug, number = build.number,
  log_lines = 30, error_pattern = "/error|FAIL/",
}
print(("%s #%d failed: %s"):format(build.pipeline.slug, build.number, build.web_url))
for _, job in ipairs(failures.failed_jobs) do
  local first = job.first_error
  print(("- %s (exit %s)%s"):format(job.name, tostring(job.exit_status),
    job.soft_failed and " [soft fail]" or ""))
  print("  first error: " .. (first and ("line " .. first.line .. ": " .. first.text) or "none"))
end
for _, note in ipairs(failures.annotations) do
  print(("- annotation [%s] %s"):format(note.style, note.text))
end
return failures
