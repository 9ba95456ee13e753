"""``python -m keras_kernel_constraints`` runs the quick-start demo."""

import sys

from keras_kernel_constraints.demo import main

if __name__ == "__main__":  # importing the module (documentation tools do) runs nothing
    sys.exit(main())
