"""A seeded simulated client for experiments: it calls the endpoint and reports what each answer earned.

Each request carries an ``InferenceId``; the variant that answered it (``InvokedProductionVariant``)
decides its outcome, a Bernoulli draw with that variant's true conversion rate. The outcomes are
written as Model Monitor ground-truth records, one object per batch, under
``s3://<DataBucket>/ground-truth/yyyy/mm/dd/hh/`` at the offline cloud's simulated hour: where
``EvaluateExperimentFunction`` joins them to the captured requests, as it would on AWS.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from typing import Any


class SimulatedClient:
    def __init__(self, cloud: Any, conversion_rates: dict[str, float], rows: list[str], seed: int = 0) -> None:
        self.cloud = cloud
        self.rates = conversion_rates
        self.rows = rows
        self.seed = seed
        self.rng = random.Random(seed)
        self.sent = 0
        self.served: Counter[str] = Counter()
        self.converted: Counter[str] = Counter()

    def send(self, requests: int) -> Counter[str]:
        """``requests`` single-row requests; returns how many each variant answered."""
        runtime = self.cloud.client("sagemaker-runtime")
        endpoint = self.cloud.output("EndpointName")
        served: Counter[str] = Counter()
        records = []
        for _ in range(requests):
            inference_id = f"sim-{self.seed}-{self.sent}"
            self.sent += 1
            response = runtime.invoke_endpoint(
                EndpointName=endpoint,
                ContentType="text/csv",
                Body=self.rng.choice(self.rows),
                InferenceId=inference_id,
            )
            response["Body"].read()
            variant = str(response["InvokedProductionVariant"])
            converted = self.rng.random() < self.rates[variant]
            served[variant] += 1
            self.converted[variant] += converted
            records.append(
                {
                    "groundTruthData": {"data": "1" if converted else "0", "encoding": "CSV"},
                    "eventMetadata": {"eventId": inference_id},
                    "eventVersion": "0",
                }
            )
        self.served.update(served)
        if records:
            self._write(records)
        return served

    def _write(self, records: list[dict[str, Any]]) -> None:
        hour = dt.datetime.fromtimestamp(self.cloud.clock.now(), dt.UTC).strftime("%Y/%m/%d/%H")
        key = f"ground-truth/{hour}/sim-{self.seed}-{self.sent}.jsonl"
        body = "\n".join(json.dumps(record) for record in records) + "\n"
        self.cloud.client("s3").put_object(Bucket=self.cloud.output("DataBucketName"), Key=key, Body=body.encode())
