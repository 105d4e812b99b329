"""Every attribute of moto (and of the two libraries beside it) that the offline cloud replaces.

One module per moto service; each replaces its attributes in one place, with ``Patch`` objects:

============================  =================================================================
``core.py``                   moto's botocore stubber (fault injection on every API call) and
                              botocore's retry backoff (scaled by the running cloud's clock)
``awslambda.py``              ``LambdaFunction._invoke_lambda`` (runs the deployed handlers),
                              SQS event source delivery, ``os.environ`` (per-function variables)
``stepfunctions.py``          the ASL interpreter: SageMaker integration, error names, context
                              threads, scaled waits and polling, parse cache, execution events
``events.py``                 ``Rule.send_to_targets`` (Lambda and Step Functions targets)
``sagemaker.py``              training, compilation, hosting, UpdateEndpoint, weights, registry
``sagemakerruntime.py``       ``InvokeEndpoint`` (real predictions and metrics)
``cloudwatch.py``             ``DescribeAlarms`` with ``StateValue`` and ``AlarmNames`` together
``s3.py``                     ``S3Backend._url_module`` (no module reload on every S3 request),
                              ``S3Response.put_object`` (atomic conditional writes)
``dynamodb.py``               one lock around item operations (atomic conditional writes)
============================  =================================================================

The behaviour behind the patches lives in the runtime's modules (``localcloud/sagemaker.py``,
``eventbridge.py``, ...); a patch module holds the adapters only: moto's signature, the original
it wraps, and the lookup of the running cloud's ``Runtime`` (``localcloud.runtime.current``).

moto is pinned exactly (requirements/dev.txt), because these are its internals: importing any of
these modules under another moto version fails at once, naming both versions, and every replaced
attribute is looked up when its module is imported, so a moto that renamed one fails with its name
rather than with an AttributeError in the middle of a run.

The patches are in place while a cloud runs: ``Runtime.activate()`` installs them and
``Runtime.close()`` puts moto's own attributes back, so code that uses moto after a cloud stopped
(unit tests in the same process, say) meets plain moto, as it would in a fresh process. Installing
is idempotent: a patch whose replacement is already in place is left alone.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import moto

# The moto release these patches were written against (and requirements/dev.txt pins).
PINNED_MOTO_VERSION = "5.2.5"

SERVICES = (
    "core",
    "awslambda",
    "stepfunctions",
    "events",
    "sagemaker",
    "sagemakerruntime",
    "cloudwatch",
    "dynamodb",
    "s3",
)


class MotoVersionError(ImportError):
    """The installed moto is not the one localcloud's patches of moto internals were written for."""


class MotoPatchTargetError(ImportError):
    """An attribute localcloud replaces is missing from the installed moto."""


def require_pinned_moto(installed: str | None = None) -> None:
    """Fail unless the installed moto is the pinned one (``installed`` overrides, for tests)."""
    found = moto.__version__ if installed is None else installed
    if found != PINNED_MOTO_VERSION:
        raise MotoVersionError(
            f"localcloud patches moto internals and supports moto {PINNED_MOTO_VERSION} only, but moto "
            f"{found} is installed. Install moto=={PINNED_MOTO_VERSION} (requirements/dev.txt), or port "
            "localcloud/moto_patches/ to the new version and change the pin."
        )


require_pinned_moto()


def _owner_name(owner: Any) -> str:
    if isinstance(owner, types.ModuleType):
        return owner.__name__
    return f"{owner.__module__}.{owner.__qualname__}"


def original(owner: Any, name: str) -> Any:
    """The attribute ``owner.name`` that a patch replaces, looked up now: a missing one fails clearly."""
    if not hasattr(owner, name):
        raise MotoPatchTargetError(
            f"localcloud patches moto internals: {_owner_name(owner)}.{name} does not exist in the installed "
            f"moto {moto.__version__} (the patches were written for moto {PINNED_MOTO_VERSION})"
        )
    return getattr(owner, name)


_MISSING: Any = object()


@dataclass(frozen=True)
class Patch:
    """``owner.name = replacement``, checked at import; ``adds`` marks an attribute moto lacks."""

    owner: Any
    name: str
    replacement: Any
    adds: bool = False
    wrapped: Any = field(init=False, default=None, compare=False)
    # What ``owner`` itself held under ``name`` (a staticmethod stays one); _MISSING: inherited or absent.
    saved: Any = field(init=False, default=_MISSING, compare=False)

    def __post_init__(self) -> None:
        if not self.adds:
            object.__setattr__(self, "wrapped", original(self.owner, self.name))
        object.__setattr__(self, "saved", vars(self.owner).get(self.name, _MISSING))

    @property
    def target(self) -> str:
        return f"{_owner_name(self.owner)}.{self.name}"

    def installed(self) -> bool:
        return vars(self.owner).get(self.name) is self.replacement

    def install(self) -> None:
        if not self.installed():
            setattr(self.owner, self.name, self.replacement)

    def uninstall(self) -> None:
        """Put back what moto had (nothing, for an attribute the patch added)."""
        if not self.installed():
            return
        if self.saved is _MISSING:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self.saved)


@dataclass(frozen=True)
class DictEntry:
    """``owner[key] = value`` for a mapping moto consults (checked to be a mapping at import)."""

    owner: Any
    key: str
    value: Any
    label: str

    def __post_init__(self) -> None:
        if not isinstance(self.owner, dict):
            raise MotoPatchTargetError(
                f"localcloud patches moto internals: {self.label} is no longer a dict in the installed moto "
                f"{moto.__version__} (the patches were written for moto {PINNED_MOTO_VERSION})"
            )

    @property
    def target(self) -> str:
        return f"{self.label}[{self.key!r}]"

    saved: Any = field(init=False, default=_MISSING, compare=False)

    def installed(self) -> bool:
        return bool(self.owner.get(self.key) == self.value)

    def install(self) -> None:
        if not self.installed():
            object.__setattr__(self, "saved", self.owner.get(self.key, _MISSING))
            self.owner[self.key] = self.value

    def uninstall(self) -> None:
        if not self.installed():
            return
        if self.saved is _MISSING:
            del self.owner[self.key]
        else:
            self.owner[self.key] = self.saved


@dataclass(frozen=True)
class PatchSet:
    """The patches of one service, installed together."""

    service: str
    patches: tuple[Patch | DictEntry, ...]

    def install(self) -> None:
        for patch in self.patches:
            patch.install()

    def uninstall(self) -> None:
        for patch in self.patches:
            patch.uninstall()

    def installed(self) -> bool:
        return all(patch.installed() for patch in self.patches)

    def targets(self) -> list[str]:
        return [patch.target for patch in self.patches]


def patch_sets(services: Iterable[str] = SERVICES) -> list[PatchSet]:
    """Every service's ``PATCHES``, importing the modules (which checks the targets)."""
    return [importlib.import_module(f"{__name__}.{service}").PATCHES for service in services]


def install_all() -> None:
    """Install every service's patches (idempotent)."""
    for patches in patch_sets():
        patches.install()


def uninstall_all() -> None:
    """Put moto's own attributes back (idempotent)."""
    for patches in patch_sets():
        patches.uninstall()


def all_installed() -> bool:
    return all(patches.installed() for patches in patch_sets())


def none_installed() -> bool:
    return not any(patch.installed() for patches in patch_sets() for patch in patches.patches)
