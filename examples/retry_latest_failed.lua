-- Retry the failed jobs of the latest failed build on main.
--   kosmo integrations:lua examples/retry_latest_failed.lua --emulate --force
local bk = app.integrations.buildkite
local org, pipeline = "acme-inc", "api"

local latest = bk.list_builds{
  organization = org, pipeline = pipeline, branch = "main", state = "failed", per_page = 1,
}[1]
if not latest then
  print("No failed build on main: nothing to retry.")
  return {retried = 0}
end
local ok, result = pcall(bk.retry_failed_jobs, org, pipeline, latest.number)
if not ok then
  error("Could not retry build #" .. latest.number .. ": " .. result)
end
print(string.format("Retried %d job(s) of build #%d", result.retried_jobs_count or 0,
  latest.number))
return {build = latest.number, retried = result.retried_jobs_count}
