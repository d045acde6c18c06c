"""`python -m gymkube` runs the command line."""

import sys

from gymkube.cli import main

sys.exit(main())
