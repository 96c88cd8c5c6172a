"""Upstream providers. Each kind has a package with the same three modules: `client.py` (its only
network code: one class implementing the capabilities its upstream has), `request.py` (canonical
requests in the upstream's shape) and `response.py` (the upstream's answers, stream events and errors
as canonical ones); the last two are pure. `registry` maps the catalog's kinds to the clients,
`capabilities` declares what a client can do."""
