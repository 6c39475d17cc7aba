"""python -m lossk: the command line (lossk._cli)."""
import sys

from ._cli import main

sys.exit(main())
