"""The state of one offline cloud, owned by one object: its ``Runtime``.

Everything the offline cloud keeps while it runs lives here, created when the cloud starts and
dropped when it stops: the clock (time scale, simulated time), the fault injector (rules and
statistics), the asynchronous deliveries (their thread pool and counts), the alarm evaluator, the
schedule runner, the SageMaker simulation (hosted endpoints, the job pool and work directories,
simulated job durations), the invocation counters, data capture's sampling draws, the Lambda
registry, the cache of parsed state machine definitions, and the record of request validation
(what was checked and refused).
Two clouds started one after the other share none of it.

moto's backends are process-wide, and moto calls the patched functions (``localcloud.moto_patches``)
from its own threads, so those functions find the running cloud's runtime through one accessor,
:func:`current`, which fails clearly when no cloud is running. That accessor's slot is the one
process-wide reference left, and it holds at most one runtime: activating a second while the first
is active is an error, because both would share moto's backends.

moto's patches are in place while a runtime is active: ``activate()`` installs them and ``close()``
puts moto's own attributes back, so moto used after a cloud stopped is plain moto again.

A test can build a runtime without a template (``with Runtime(time_scale=0.01): ...`` around
``mock_aws()``); ``OfflineCloud`` builds one in ``start()`` and closes it in ``stop()``.
"""

from __future__ import annotations

import logging
import threading

from localcloud.alarm_actions import AlarmActions
from localcloud.alarms import AlarmEvaluator
from localcloud.clock import Clock
from localcloud.data_capture import DataCapture
from localcloud.eventbridge import Deliveries
from localcloud.faults import FaultInjector
from localcloud.iam import AccessChecks
from localcloud.invocations import InvocationCounts
from localcloud.lambdas import LocalLambdaRuntime
from localcloud.request_validation import RequestValidation
from localcloud.sagemaker import LocalSageMaker
from localcloud.scheduler import ScheduleRunner
from localcloud.service_metrics import QueueMetricsPublisher
from localcloud.stepfunctions import ParsedDefinitions

LOG = logging.getLogger("localcloud.runtime")

# moto's ASL interpreter logs every exception at ERROR in each component it passes through, before
# anyone has a chance to handle it. A ``Variable`` probe of an absent field (``IsPresent: false``, a
# Choice on ``$.trigger`` when a run has none) raises NoSuchJsonPathError, which the Choice rule
# handles: that line is noise on every run. A path the definition does not handle (InputPath,
# Parameters, ResultSelector) still fails the state with ``States.Runtime``, which moto logs as a
# FailureEventException and which ends the execution, so a real failure stays visible.
_ASL_COMPONENT_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"


class _HandledJsonPathProbes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Exception=NoSuchJsonPathError" not in record.getMessage()


_HANDLED_JSON_PATH_PROBES = _HandledJsonPathProbes()


class NoCloudRunning(RuntimeError):
    """A patched moto function ran while no offline cloud (no active ``Runtime``) was running."""


class CloudAlreadyRunning(RuntimeError):
    """A second runtime was activated while another one still owned moto's process-wide backends."""


class Runtime:
    """Everything one offline cloud owns. Build it, ``activate()`` it, ``close()`` it."""

    def __init__(
        self,
        time_scale: float = 1.0,
        lambdas: LocalLambdaRuntime | None = None,
        extra_environment: dict[str, str] | None = None,
    ) -> None:
        from localcloud.moto_patches import stepfunctions as stepfunctions_patches

        self.clock = Clock(time_scale)
        self.faults = FaultInjector()
        self.lambdas = lambdas if lambdas is not None else LocalLambdaRuntime(extra_environment, self.faults)
        self.deliveries = Deliveries(self.clock, self.faults, self.lambdas)
        self.alarms = AlarmEvaluator(self.clock, AlarmActions(self.deliveries))
        # SQS publishes every queue's depth each minute: the dead-letter alarms read it.
        self.queue_metrics = QueueMetricsPublisher(self.clock)
        self.scheduler = ScheduleRunner(self.clock, self.deliveries)
        self.sagemaker = LocalSageMaker(self.clock, self.faults)
        self.invocations = InvocationCounts()
        self.data_capture = DataCapture(self.clock)
        # IAM checks of the product's API calls: how many, and what was refused (localcloud/iam).
        self.iam = AccessChecks()
        self.validation = RequestValidation()
        self.definitions = ParsedDefinitions(stepfunctions_patches.parse_uncached)
        self._active = False
        self._closed = False
        self._activity = threading.Condition()
        self._executions_seen = 0

    @property
    def active(self) -> bool:
        return self._active

    def activate(self) -> Runtime:
        """Make this the runtime moto's patches use, and put the patches in place (until ``close()``)."""
        from localcloud import moto_patches

        if self._closed:
            raise RuntimeError("this runtime was closed; build a new one")
        _SLOT.claim(self)
        self._active = True
        moto_patches.install_all()
        logging.getLogger(_ASL_COMPONENT_LOGGER).addFilter(_HANDLED_JSON_PATH_PROBES)
        return self

    def note_execution(self) -> None:
        """An execution started or ended (moto's worker tells us): wake whoever waits for one."""
        with self._activity:
            self._executions_seen += 1
            self._activity.notify_all()

    def wait_for_execution_news(self, seen: int, timeout: float) -> int:
        """Wait until an execution starts or ends after ``seen`` (or ``timeout``); returns the new mark."""
        with self._activity:
            self._activity.wait_for(lambda: self._executions_seen != seen, timeout)
            return self._executions_seen

    @property
    def execution_mark(self) -> int:
        with self._activity:
            return self._executions_seen

    def wait_idle(self, timeout: float = 120.0) -> bool:
        """Wait until no delivery and no SageMaker job or rollout is in flight."""
        delivered = self.deliveries.wait_idle(timeout=timeout)
        return self.sagemaker.wait_idle(timeout=timeout) and delivered

    def close(self, timeout: float = 120.0) -> None:
        """Stop the background loops, let work in flight finish (up to ``timeout``), drop everything."""
        if self._closed:
            return
        self._closed = True
        self.scheduler.stop()
        self.alarms.stop()
        self.queue_metrics.stop()
        if not self.wait_idle(timeout):
            LOG.warning("work still in flight after %.0f s when the offline cloud stopped", timeout)
        LOG.info("request validation: %s", self.validation.summary())
        self.faults.clear()
        self.deliveries.close()
        self.sagemaker.close()
        close_lambdas = getattr(self.lambdas, "close", None)
        if close_lambdas is not None:
            close_lambdas()
        if self._active:
            from localcloud import moto_patches

            _SLOT.release(self)
            self._active = False
            moto_patches.uninstall_all()
            logging.getLogger(_ASL_COMPONENT_LOGGER).removeFilter(_HANDLED_JSON_PATH_PROBES)

    def __enter__(self) -> Runtime:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Slot:
    """Where the patched moto functions find the running cloud (one per process, like moto's backends)."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def claim(self, runtime: Runtime) -> None:
        with self._lock:
            if self._runtime is not None and self._runtime is not runtime:
                raise CloudAlreadyRunning(
                    "another offline cloud is running in this process; stop it first (moto's backends are "
                    "process-wide, so two clouds at once would share them)"
                )
            self._runtime = runtime

    def release(self, runtime: Runtime) -> None:
        with self._lock:
            if self._runtime is runtime:
                self._runtime = None

    def get(self) -> Runtime | None:
        return self._runtime


_SLOT = _Slot()


def active() -> Runtime | None:
    """The running cloud's runtime, or None (for patches that fall back to moto's own behaviour)."""
    return _SLOT.get()


def current(purpose: str = "this call") -> Runtime:
    """The running cloud's runtime; ``NoCloudRunning`` names ``purpose`` when there is none."""
    runtime = _SLOT.get()
    if runtime is None:
        raise NoCloudRunning(
            f"no offline cloud is running, and {purpose} needs one: localcloud replaced this part of moto. "
            "Start an OfflineCloud (localcloud.cloud) or activate a localcloud.runtime.Runtime first."
        )
    return runtime
