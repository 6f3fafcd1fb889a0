-- Failed builds on main, with their failing jobs and the tail of each job's log.
--   kosmo integrations:lua examples/failed_builds_on_main.lua --emulate
local bk = app.integrations.buildkite
local org, pipeline = "acme-inc", "api"

local builds = bk.list_builds{
  organization = org, pipeline = pipeline, branch = "main", state = "failed", per_page = 5,
}
local report = {}
for _, build in ipairs(builds) do
  local failing = {}
  for _, job in ipairs(build.jobs or {}) do
    if job.type == "script" and job.state == "failed" then
      local log = bk.get_job_log{
        organization = org, pipeline = pipeline, number = build.number, job_id = job.id,
        format = "text", strip_ansi = true,
      }
      local lines = {}
      for line in log:gmatch("[^\n]+") do lines[#lines + 1] = line end
      local tail = table.concat(lines, "\n", math.max(1, #lines - 4), #lines)
      failing[#failing + 1] = {name = job.name, exit_status = job.exit_status, log_tail = tail}
    end
  end
  report[#report + 1] = {number = build.number, message = build.message, url = build.web_url,
                         failing_jobs = failing}
  print(string.format("#%d %s (%d failing jobs)", build.number, build.message, #failing))
end
return report
