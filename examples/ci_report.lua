-- A JSON report for a CI step: builds of the last page per pipeline, counted by state.
--   kosmo integrations:lua examples/ci_report.lua --emulate --json | jq '.result[0]'
local bk = app.integrations.buildkite
local org = "acme-inc"

local report = {organization = org, pipelines = {}, totals = {}}
for _, pipeline in ipairs(bk.list_pipelines{organization = org, all_pages = true}) do
  local counts = {}
  local builds, meta = bk.list_builds{organization = org, pipeline = pipeline.slug,
                                      per_page = 100, with_meta = true}
  for _, build in ipairs(builds) do
    counts[build.state] = (counts[build.state] or 0) + 1
    report.totals[build.state] = (report.totals[build.state] or 0) + 1
  end
  report.pipelines[pipeline.slug] = {
    builds = #builds,
    states = next(counts) and counts or json.object(),
    more_pages = meta.next_page ~= nil,
  }
end
print(json.encode(report.totals, {pretty = false}))
return report
