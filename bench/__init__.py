"""ordermon's benchmarks: `python -m bench [--quick] [--json]`."""
