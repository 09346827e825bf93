"""`python -m waai.replay_lab` (`make replay-lab ARGS=...`)."""

import sys

from waai.replay_lab.cli import main

sys.exit(main())
