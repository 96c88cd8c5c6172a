#!/bin/sh
# Entry of the functions that stream (chat, images, audio): the Lambda Web Adapter (/opt/bootstrap)
# starts this and proxies each invocation to uvicorn on $PORT, streaming the response.
# Tests run it the same way.
cd "$(dirname "$0")" || exit 1
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/opt/python"
exec python3 -m uvicorn app:app --host 127.0.0.1 --port "${PORT:-8080}" --no-access-log --timeout-keep-alive 60
