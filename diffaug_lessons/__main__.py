"""``python -m diffaug_lessons``: see :mod:`diffaug_lessons.cli`."""

import sys

from .cli import main

sys.exit(main())
