"""``python -m kmc`` is the ``kmc`` command line."""
import sys

from kmc.cli import main

if __name__ == "__main__":
    sys.exit(main())
