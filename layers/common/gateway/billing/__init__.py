"""Credits: bound a request's cost, reserve it before the upstream call, charge the answer in its
endpoint's units and settle after it, sweep the orphans."""
