"""MCP both ways: other servers as ``app.mcp.*`` (``client``), and this host as a server
(``serve``).

Nothing here imports the MCP SDK at module level: it costs most of a second, and a Lua run
that calls no MCP server must not pay for it. ``servers`` (configuration) is plain Python.
"""
