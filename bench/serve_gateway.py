"""The gateway as `make dev` serves it (devtools.devserver.build_app: every function's routes in one
uvicorn process, its access log on), on the bench's DynamoDB Local. `make dev` also runs the usage
aggregator in a thread; here the bench's aggregator process (bench/serve_aggregator.py) adds the
usage of both gateways, so that its CPU time is counted once, in its own column.

Run: python -m bench.serve_gateway PORT   (environment set by the bench)
"""

from __future__ import annotations

import os
import sys

import uvicorn

from devtools.devserver import build_app

if __name__ == "__main__":
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # as devserver.main sets it
    uvicorn.run(build_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
