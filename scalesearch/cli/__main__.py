"""``python -m scalesearch.cli`` (what Ray jobs run on the cluster)."""

import sys

from scalesearch.cli.main import main

sys.exit(main())
