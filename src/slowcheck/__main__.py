from __future__ import annotations

import sys

from slowcheck.cli import main

sys.exit(main())
