"""Side-by-side benchmarks: each figure is a ratio measured in one process run.

Install the anchors with ``pip install -e ".[tf-cpu,bench]"``.
"""

import os

# Defaults for `python -m benchmarks.<name>`: the package is imported before
# the script, so these apply before Keras is imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
