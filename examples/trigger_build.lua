-- Trigger a build with environment variables and print its URL.
--   kosmo integrations:lua examples/trigger_build.lua --emulate --force
-- (--force: creating a build is a write, which asks for approval by default)
local build = app.integrations.buildkite.create_build{
  organization = "acme-inc",
  pipeline = "deploy",
  branch = "main",
  message = "Deploy to staging from kosmo",
  env = {DEPLOY_ENV = "staging", REQUESTED_BY = "kosmo-lua"},
}
print("Build #" .. build.number .. " is " .. build.state .. ": " .. build.web_url)
return {number = build.number, state = build.state, url = build.web_url}
