-- A first script: no integration needed. Run it with
--   kosmo integrations:lua examples/hello.lua --json
local report = {
  greeting = "hello from the kosmo-lua sandbox",
  lua = _VERSION,
  words = regex.match_all("build 42 of deploy failed at step 7", "/\\d+/")[0],
}
print(report)
return json.encode(report, {pretty = false})
