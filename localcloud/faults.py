"""Fault injection for the offline cloud: make API calls throttle or fail, make models err or slow down.

Rules are looked up on every call, so a test can turn a fault on after an endpoint is serving.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from moto.core.exceptions import JsonRESTError

FaultKind = Literal["throttle", "error"]


class ThrottlingException(JsonRESTError):  # type: ignore[misc]
    def __init__(self, operation: str) -> None:
        super().__init__("ThrottlingException", f"Rate exceeded (injected fault on {operation})")


class InternalFailure(JsonRESTError):  # type: ignore[misc]
    code = 500

    def __init__(self, operation: str) -> None:
        super().__init__("InternalFailure", f"Internal failure (injected fault on {operation})")


class ModelError(RuntimeError):
    """An invocation failed inside the model container (InvokeEndpoint answers 5XX)."""


@dataclass
class ApiFault:
    kind: FaultKind
    rate: float


@dataclass
class ModelFault:
    error_rate: float = 0.0
    extra_latency_seconds: float = 0.0


class FaultInjector:
    def __init__(self, seed: int = 7) -> None:
        self._api: dict[tuple[str, str], ApiFault] = {}
        self._models: dict[str, ModelFault] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected = 0

    def fail_api(self, service: str, operation: str, kind: FaultKind = "throttle", rate: float = 1.0) -> None:
        with self._lock:
            self._api[(service, operation)] = ApiFault(kind, rate)

    def degrade_model(self, model_name: str, error_rate: float = 0.0, extra_latency_seconds: float = 0.0) -> None:
        with self._lock:
            self._models[model_name] = ModelFault(error_rate, extra_latency_seconds)

    def clear(self) -> None:
        with self._lock:
            self._api.clear()
            self._models.clear()

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return self._rng.random() < rate

    def check(self, service: str, operation: str) -> None:
        fault = self._api.get((service, operation))
        if fault is None or not self._roll(fault.rate):
            return
        self.injected += 1
        raise ThrottlingException(operation) if fault.kind == "throttle" else InternalFailure(operation)

    def wrap_model(self, model_name: str, model: Any) -> Any:
        return _FaultyModel(self, model_name, model)

    def model_fault(self, model_name: str) -> ModelFault | None:
        return self._models.get(model_name)


class _FaultyModel:
    """Delegates to the real model, adding the injected errors and latency of its model name."""

    def __init__(self, injector: FaultInjector, model_name: str, model: Any) -> None:
        self._injector = injector
        self._model_name = model_name
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def predict(self, rows: Any) -> Any:
        fault = self._injector.model_fault(self._model_name)
        if fault is not None:
            if fault.extra_latency_seconds:
                time.sleep(fault.extra_latency_seconds)
            if fault.error_rate and self._injector._roll(fault.error_rate):
                self._injector.injected += 1
                raise ModelError(f"injected model error in {self._model_name}")
        return self._model.predict(rows)


FAULTS = FaultInjector()
