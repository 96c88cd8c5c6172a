"""The gateway as `make dev` serves it (devtools.devserver.build_app: every function's routes in one
uvicorn process), without the access log, as the chat function's run.sh starts uvicorn in Lambda.

Run: python -m bench.serve_gateway PORT   (environment set by the bench)
"""

from __future__ import annotations

import sys

import uvicorn

from devtools.devserver import build_app

if __name__ == "__main__":
    uvicorn.run(build_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
