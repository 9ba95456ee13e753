"""Side-by-side benchmarks: each figure is a ratio measured in one process run.

Install the anchors with ``pip install -e ".[tf-cpu,bench]"``.
"""
