"""``python -m midibuffer``: the command line (see :mod:`midibuffer.app.cli`)."""

import sys

from midibuffer.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
