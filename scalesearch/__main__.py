"""``python -m scalesearch`` is the ``scalesearch`` command."""

import sys

from scalesearch.cli import main

sys.exit(main())
