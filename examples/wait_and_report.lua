-- Trigger a build, wait for it, and report what failed. Creating a build is a write:
--   kosmo integrations:lua examples/wait_and_report.lua --emulate --force
local bk = app.integrations.buildkite
local org, pipeline = "acme-inc", "api"

local build = bk.create_build{organization = org, pipeline = pipeline, branch = "main",
  commit = "HEAD", message = "Checked by wait_and_report.lua"}
print(("Started %s #%d: %s"):format(pipeline, build.number, build.web_url))

-- Progress goes to stderr; the script's output stays clean for CI logs and --json.
local done = bk.wait_for_build{organization = org, pipeline = pipeline,
  number = build.number, timeout = 600, interval = 2}
print(("%s #%d %s"):format(pipeline, done.number, done.state))
if done.state == "passed" then
  return {number = done.number, state = done.state}
end

local failures = bk.get_build_failures{organization = org, pipeline = pipeline,
  number = done.number, log_lines = 10}
for _, job in ipairs(failures.failed_jobs) do
  print("- " .. job.name .. ": " .. (job.first_error and job.first_error.text or "no error line"))
  print(job.log_tail)
end
return {number = done.number, state = done.state, failed_jobs = #failures.failed_jobs}
