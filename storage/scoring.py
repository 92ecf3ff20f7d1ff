"""The ranking score kept on each idea: the Wilson lower bound of its agree share.

It ranks an idea with 40 agrees out of 50 above one with 2 out of 2: the bound is the
share we can be 95% sure of, given how few votes there are.
"""

from __future__ import annotations

from math import sqrt

Z_95 = 1.959963984540054


def wilson_lower_bound(agree: int, disagree: int, z: float = Z_95) -> float:
    total = agree + disagree
    if total == 0:
        return 0.0
    share = agree / total
    z2 = z * z
    centre = share + z2 / (2 * total)
    margin = z * sqrt((share * (1 - share) + z2 / (4 * total)) / total)
    return (centre - margin) / (1 + z2 / total)
