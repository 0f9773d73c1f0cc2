"""Which numbers the training code gives: the run cache's guard against stale runs.

A GAN amplifies the smallest change of rounding: a kernel that sums in another order gives another
FID after a few thousand steps. So a cached run may be reused only if today's code would train it to
the very same numbers. Two values guard that:

- ``NUMERICS_VERSION`` is part of every run's cache key (:meth:`TrainConfig.key`);
- ``FINGERPRINT`` is the hash of a short, fixed CPU run, bit for bit
  (:func:`diffaug_lessons.train.numerics_fingerprint`).

``tests/test_numerics.py`` recomputes the fingerprint. When a change moves any number of that run, the
test fails until ``NUMERICS_VERSION`` is bumped and ``FINGERPRINT`` updated, and every run trained by
the older code then has a different key: it is trained afresh, never mistaken for a run of the new code.
"""

NUMERICS_VERSION = 3
FINGERPRINT = "cdb30365c201"

