"""``python -m keras_kernel_constraints`` runs the quick-start demo."""

import sys

from keras_kernel_constraints.demo import main

sys.exit(main())
