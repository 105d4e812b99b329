"""Which Neo target and instance type serve a model within a latency objective, for the least money.

The advisor takes what was measured (p50 and p99 latency per batch size, per processor: the CPU,
and a GPU where one was available) and the dated price table beside this module, and picks the
cheapest instance whose processor met the objective at the batch size the caller serves. A
processor that was not measured is never recommended: it is listed as not measured, with its
price, so a reader knows what a GPU run would have to show. A local CPU stands for every CPU
instance type and a local GPU for every GPU type: the advice ranks processors, and the price
table's instance sizes within one processor (the smallest meeting the objective is the cheapest).
Families restrict the targets: Neo compiles XGBoost for CPU instances only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Processor = Literal["cpu", "gpu"]
# The batch sizes measured: one request, a small batch, a large one.
BATCHES = (1, 64, 1024)
_QUANTILES = ("p50", "p99")
_PRICES = Path(__file__).with_name("instance_prices.json")
_FAMILY_PROCESSORS: dict[str, tuple[Processor, ...]] = {"xgboost": ("cpu",), "pytorch": ("cpu", "gpu")}


@dataclass(frozen=True, slots=True)
class Measurement:
    processor: Processor
    batch: int
    p50_us: float
    p99_us: float

    @property
    def rows_per_second(self) -> float:
        return self.batch / self.p50_us * 1e6


@dataclass(frozen=True, slots=True)
class Candidate:
    instance_type: str
    neo_target: str
    processor: Processor
    hourly_usd: float
    p99_us: float | None  # None: that processor was not measured
    meets: bool | None
    usd_per_million_rows: float | None


@dataclass(frozen=True)
class Recommendation:
    instance_type: str | None
    neo_target: str | None
    reason: str
    prices_as_of: str
    candidates: list[Candidate] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance_type": self.instance_type,
            "neo_target": self.neo_target,
            "reason": self.reason,
            "prices_as_of": self.prices_as_of,
            "candidates": [asdict(c) for c in self.candidates],
        }  # fmt: skip


def latency_metric_name(processor: Processor, batch: int, quantile: str) -> str:
    """The training job metric a script-mode family prints a latency under (``latency:cpu:b1:p99_us``)."""
    return f"latency:{processor}:b{batch}:{quantile}_us"


def latency_metric_names() -> list[str]:
    return [
        latency_metric_name(processor, batch, quantile)
        for processor in ("cpu", "gpu")
        for batch in BATCHES
        for quantile in _QUANTILES
    ]


def measurements_from_metrics(final_metrics: list[dict[str, Any]]) -> list[Measurement]:
    """The latencies a training job reported (DescribeTrainingJob's FinalMetricDataList), p50 with p99."""
    values = {str(m.get("MetricName")): float(m.get("Value", "nan")) for m in final_metrics}
    found = []
    for processor in ("cpu", "gpu"):
        for batch in BATCHES:
            p50 = values.get(latency_metric_name(processor, batch, "p50"))
            p99 = values.get(latency_metric_name(processor, batch, "p99"))
            # A NaN or a missing half is no measurement: the advisor then says "not measured".
            if p50 is not None and p99 is not None and p50 > 0 and p99 > 0:
                found.append(Measurement(processor, batch, p50, p99))
    return found


def price_table() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(_PRICES.read_text())
    return table


def recommend(family: str, measurements: list[Measurement], p99_objective_us: float, batch: int) -> Recommendation:
    """The cheapest instance whose processor served ``batch`` rows within ``p99_objective_us`` at p99."""
    table = price_table()
    allowed = _FAMILY_PROCESSORS.get(family, ("cpu",))
    measured = {m.processor: m for m in measurements if m.batch == batch}
    candidates = []
    for name, entry in sorted(table["instances"].items(), key=lambda item: item[1]["hourly"]):
        processor: Processor = entry["processor"]
        if processor not in allowed:
            continue
        found = measured.get(processor)
        meets = None if found is None else found.p99_us <= p99_objective_us
        per_million = None if found is None else entry["hourly"] / (found.rows_per_second * 3600) * 1e6
        candidates.append(
            Candidate(
                name,
                entry["neo_target"],
                processor,
                entry["hourly"],
                found.p99_us if found else None,
                meets,
                per_million,
            )
        )
    winners = [c for c in candidates if c.meets]
    as_of = str(table["as_of"])
    if not winners:
        tried = ", ".join(f"{p} p99 {m.p99_us:,.0f} us" for p, m in sorted(measured.items())) or "nothing measured"
        return Recommendation(
            None, None, f"no measured processor meets p99 <= {p99_objective_us:,.0f} us at batch {batch} ({tried})",
            as_of, candidates,
        )  # fmt: skip
    best = min(winners, key=lambda c: c.hourly_usd)
    unmeasured = sorted({c.processor for c in candidates if c.meets is None})
    reason = (
        f"{best.instance_type} (Neo target {best.neo_target}) is the cheapest instance whose processor served "
        f"batch {batch} in p99 {best.p99_us:,.0f} us <= {p99_objective_us:,.0f} us, at ${best.hourly_usd}/h "
        f"(prices of {as_of}, {table['region']})"
    )
    if unmeasured:
        reason += f"; not measured here: {', '.join(unmeasured)}"
    return Recommendation(best.instance_type, best.neo_target, reason, as_of, candidates)
