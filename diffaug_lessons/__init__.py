"""diffaug_lessons: the package behind the DiffAugment lessons.

Modules, one idea each: ``augment`` (DiffAugment), ``data``, ``models``, ``train``,
``metrics``, ``runs`` (saved runs and the cache), ``plots``, ``widgets``.
"""

__version__ = "0.2.0"
