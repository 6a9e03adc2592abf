"""``python -m midibuffer``: the command line (see :mod:`midibuffer.cli`)."""

import sys

from midibuffer.cli import main

sys.exit(main())
