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


def controversy(agree: int, disagree: int) -> float:
    """How split an idea is: many votes, close to evenly divided, score highest.

    The total number of votes raised to the power of the balance (smaller side over
    larger side, 0..1), as reddit ranks "controversial": 50 to 50 scores 100, 70 to 30
    scores 19.5, 10 to 10 scores 20, and an idea no one disagrees with scores 0.
    """
    if agree <= 0 or disagree <= 0:
        return 0.0
    balance = min(agree, disagree) / max(agree, disagree)
    return float((agree + disagree) ** balance)
