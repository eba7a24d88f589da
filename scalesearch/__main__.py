"""``python -m scalesearch`` is the ``scalesearch`` command."""

import sys

from scalesearch.cli.main import main

sys.exit(main())
