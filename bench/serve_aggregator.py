"""The usage aggregator in a process of its own (AggregatorFunction's code, on DynamoDB Local's stream),
beside the gateway served as the template deploys it.

Run: python -m bench.serve_aggregator   (environment set by the bench)
"""

from __future__ import annotations

import os
import signal
import threading

from devtools.aggregator import StreamAggregator

if __name__ == "__main__":
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    aggregator = StreamAggregator(os.environ["GATEWAY_TABLE"], os.environ["AWS_ENDPOINT_URL_DYNAMODB"]).start()
    stopped.wait()
    aggregator.stop()
