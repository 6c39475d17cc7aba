"""The benchmark harness: `lossk bench` and the checkout's `python benchmarks/bench.py`
run bench.main (see benchmarks/README.md). Importing it needs neither torch, JAX nor
matplotlib: each peer imports its library when it runs."""
