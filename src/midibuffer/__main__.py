"""``python -m midibuffer``: the command line (see :mod:`midibuffer.cli`)."""

import sys

from midibuffer.cli import main

if __name__ == "__main__":
    sys.exit(main())
