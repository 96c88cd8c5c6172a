"""`make bench`: the gateway against a fake upstream and LiteLLM's proxy, on loopback only.

`python -m bench.run` runs everything once and writes docs/BENCHMARKS.md from what it measured.
"""
