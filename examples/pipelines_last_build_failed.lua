-- Pipelines whose last build on their default branch failed. One request per pipeline, all
-- in flight together (app.map), the results in pipeline order.
--   kosmo integrations:lua examples/pipelines_last_build_failed.lua --emulate
local bk = app.integrations.buildkite
local org = "acme-inc"

local active = {}
for _, pipeline in ipairs(bk.list_pipelines{organization = org, all_pages = true}) do
  if not pipeline.archived_at then
    active[#active + 1] = pipeline
  end
end

local last_builds = app.map(active, function(pipeline)
  return bk.list_builds{
    organization = org, pipeline = pipeline.slug,
    branch = pipeline.default_branch or "main", state = "finished", per_page = 1,
  }[1] or false
end, {concurrency = 8})

local broken = {}
for i, pipeline in ipairs(active) do
  local last = last_builds[i]
  if last and last.state == "failed" then
    broken[#broken + 1] = {pipeline = pipeline.slug, build = last.number, url = last.web_url}
    print(pipeline.slug .. " is red: " .. last.web_url)
  end
end
if #broken == 0 then print("Every pipeline is green.") end
return broken
