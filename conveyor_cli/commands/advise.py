"""``conveyor advise``: measure a model on this machine's processors and pick its Neo target and instance.

The model is the one serving (the endpoint's first variant's artefact, read from S3) or a
``model.tar.gz`` given with ``--model-tar``. Its family's offline engine loads it, as the offline
endpoint does, and answers batches of 1, 64 and 1,024 rows on the CPU (and on the GPU when this
machine has one and the engine can use it); ``conveyor_core.release.target_advisor`` then picks the
cheapest instance whose processor met the latency objective, from its dated price table.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from conveyor_cli import render
from conveyor_cli.context import options
from conveyor_cli.errors import CliError
from conveyor_core.release.target_advisor import BATCHES, Measurement, Processor, Recommendation, recommend


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(model: Any, calls: int = 200) -> list[Measurement]:
    """p50 and p99 of ``model.predict`` per batch size, on the processor the model loaded on."""
    processor: Processor = "gpu" if str(getattr(model, "device", "cpu")).startswith("cuda") else "cpu"
    rng = np.random.default_rng(0)
    found = []
    for batch in BATCHES:
        rows = rng.normal(size=(batch, model.num_features)).astype(np.float32)
        for _ in range(10):
            model.predict(rows)
        times = []
        for _ in range(calls if batch < 1024 else max(20, calls // 5)):
            started = time.perf_counter()
            model.predict(rows)
            times.append((time.perf_counter() - started) * 1e6)
        found.append(Measurement(processor, batch, _percentile(times, 50), _percentile(times, 99)))
    return found


def advise_artefact(
    artefact: bytes, family: str, p99_us: float, batch: int
) -> tuple[str, list[Measurement], Recommendation]:
    """Load a model artefact with its family's offline engine, measure it here, and recommend."""
    from localcloud.sagemaker_engine.engines import NoEngineError, for_artefact
    from localcloud.sagemaker_engine.inference import read_tar_members

    try:
        engine = for_artefact(read_tar_members(artefact))
    except NoEngineError as error:
        raise CliError(str(error)) from None
    with tempfile.TemporaryDirectory(prefix="conveyor-advise-") as work:
        model = engine.load(artefact, Path(work))
        measurements = measure(model)
    return str(model.note or model.kind), measurements, recommend(family, measurements, p99_us, batch)


def serving_artefact(sagemaker: Any, s3: Any, endpoint_name: str) -> bytes:
    """The model artefact the endpoint's first variant serves."""
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    bucket, _, key = model["PrimaryContainer"]["ModelDataUrl"].removeprefix("s3://").partition("/")
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _serving_artefact(target: Any) -> bytes:
    sagemaker = target.client("sagemaker")
    try:
        return serving_artefact(sagemaker, target.client("s3"), target.outputs.endpoint_name)
    except sagemaker.exceptions.ClientError:
        raise CliError(
            f"the endpoint {target.outputs.endpoint_name} does not exist yet: upload a dataset first "
            "(`conveyor upload`), or pass --model-tar"
        ) from None


def advise(
    ctx: typer.Context,
    p99_us: Annotated[
        float, typer.Option("--p99-us", min=1, help="Latency objective: p99 of one request, in us.")
    ] = 10_000,
    batch: Annotated[int, typer.Option("--batch", help="Rows per request the objective is for (1, 64 or 1024).")] = 1,
    model_tar: Annotated[
        Path | None, typer.Option("--model-tar", help="A model.tar.gz instead of the serving model.")
    ] = None,
    family: Annotated[str | None, typer.Option("--family", help="The model's family (default: the stack's).")] = None,
) -> None:
    """Measure the model on this machine's processors and recommend a Neo target and instance type."""
    if batch not in BATCHES:
        raise CliError(f"--batch must be one of {', '.join(map(str, BATCHES))}")
    opts = options(ctx)
    target = None if model_tar is not None and family is not None else opts.target()
    artefact = model_tar.read_bytes() if model_tar is not None else _serving_artefact(target)
    family_name = family or (target.outputs.model_family if target is not None else "xgboost")
    loaded, measurements, advice = advise_artefact(artefact, family_name, p99_us, batch)
    if opts.json:
        render.emit_json(
            {
                "measurements": [asdict(m) for m in measurements],
                "recommendation": advice.as_dict(),
                "loaded": loaded,
            }
        )
        return
    out = render.console()
    out.print(
        render.table(
            f"{family_name} model measured here ({loaded})",
            ["processor", "batch", "p50 us", "p99 us", "rows/s"],
            [
                (m.processor, m.batch, f"{m.p50_us:,.0f}", f"{m.p99_us:,.0f}", f"{m.rows_per_second:,.0f}")
                for m in measurements
            ],
        )
    )
    out.print(
        render.table(
            f"instances for p99 <= {p99_us:,.0f} us at batch {batch} (prices of {advice.prices_as_of})",
            ["instance", "Neo target", "$/h", "p99 us", "meets", "$ per million rows"],
            [
                (
                    c.instance_type,
                    c.neo_target,
                    f"{c.hourly_usd:.3f}",
                    "not measured" if c.p99_us is None else f"{c.p99_us:,.0f}",
                    "—" if c.meets is None else ("yes" if c.meets else "no"),
                    "—" if c.usd_per_million_rows is None else f"{c.usd_per_million_rows:.4f}",
                )
                for c in advice.candidates
            ],
        )
    )
    out.print(f"recommendation: {advice.reason}")
