"""``python -m benchmarks``: the same as ``kubetune bench`` in a source checkout."""

import sys

from . import main

sys.exit(main())
