"""Which numbers the training code gives: the run cache's guard against stale runs.

A GAN amplifies the smallest change of rounding: a kernel that sums in another order gives another
FID after a few thousand steps. So a cached run may be reused only if today's code would train it the
same way. Three values guard that:

- ``NUMERICS_VERSION`` is part of every run's cache key (:meth:`TrainConfig.key`);
- ``PROBE`` holds the numbers of a short, fixed run computed in float64
  (:func:`diffaug_lessons.train.numerics_probe`): losses, ADA's p, projections of G, D, the EMA G and T;
- ``TOLERANCE`` is how far (relative) today's numbers may lie from ``PROBE``.

Why float64 and a tolerance, not a hash of a float32 run: a float32 run's bits are a property of the
CPU's vector units as much as of the code (``ATEN_CPU_CAPABILITY=default``, ``avx2`` and ``avx512``
gave three different hashes on one machine), so a hash fails on every new CPU model. In float64 the
same three capabilities and numba's generic-CPU kernel (``NUMBA_CPU_NAME=generic``) moved the probe's
numbers by at most 5e-15 relative, while a learning rate changed by one part in a million moved them by
1.7e-7. ``TOLERANCE`` = 1e-10 sits between the two, with four orders of magnitude to the machines'
spread and three to that smallest change of code.

``tests/test_numerics.py`` recomputes the probe. When a change moves its numbers beyond the tolerance,
the test fails until ``NUMERICS_VERSION`` is bumped and ``PROBE`` updated; every run trained by the
older code then has a different key and is trained afresh, never mistaken for a run of the new code.
What the probe cannot see is listed in :func:`~diffaug_lessons.train.numerics_probe`'s docstring.
"""

NUMERICS_VERSION = 3
TOLERANCE = 1e-10
PROBE = (
    8.298705116945046,
    4.282059492804951,
    0.6904000043869019,
    57.6738533355523,
    1.8053928895967144,
    0.9854488525487297,
    4.006077386407821,
    -4.275430967611978,
    -1.0085605044563983,
    57.474631024283624,
    -21.357787831706183,
    19.34437342659823,
    36.18071925974041,
    -19.740670284625352,
)
