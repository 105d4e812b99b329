"""One variant's outcomes so far, as running sums: what both the A/B test and the bandit read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Arm:
    """A variant's outcome count, sum and sum of squares (enough for its mean and variance)."""

    name: str
    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    @classmethod
    def of(cls, name: str, values: list[float]) -> Arm:
        return cls(name, len(values), math.fsum(values), math.fsum(v * v for v in values))

    def add(self, values: list[float]) -> Arm:
        more = Arm.of(self.name, values)
        return Arm(self.name, self.n + more.n, self.total + more.total, self.squares + more.squares)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """The unbiased sample variance; NaN below two outcomes."""
        if self.n < 2:
            return math.nan
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))

    @property
    def bounded(self) -> bool:
        """Whether the sums are those of outcomes in [0, 1] (conversions, accuracies): a Beta posterior fits.

        A necessary condition only (a negative outcome can hide among others); the Beta's parameters
        stay valid whatever passes it.
        """
        return self.n == 0 or (0.0 <= self.total <= self.n and self.squares <= self.total + 1e-9)

    def as_dict(self) -> dict[str, Any]:
        return {"variant": self.name, "n": self.n, "mean": None if not self.n else self.mean}
