"""`python -m asr_service.cli` is `asr`."""

import sys

from asr_service.cli import main

sys.exit(main())
