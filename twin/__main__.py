"""`python -m twin` runs the `twin` console script."""

import sys

from twin.cli import main

sys.exit(main())
