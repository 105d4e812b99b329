"""S3: moto's request routing without reloading a module on every request.

moto's ``S3Backend._url_module`` reloads ``moto.s3.urls`` each time it is read, which is twice per
S3 request (for ``urls`` and ``url_bases``), because that module reads ``MOTO_S3_CUSTOM_ENDPOINTS``
when it runs. Profiled offline, the reloads (file reads and a re-execution) were about a quarter of
an in-process S3 call: 0.5 s of 1.9 s for 300 ``GetObject``s. Here the module is reloaded only when
that variable differs from the last load's. Stateless: it needs no running cloud.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType
from typing import Any

from moto.s3.models import S3Backend

from localcloud.moto_patches import Patch, PatchSet, original, require_pinned_moto

require_pinned_moto()

_reloading_url_module = original(S3Backend, "_url_module")
_lock = threading.Lock()
_loaded: dict[str, Any] = {}  # "endpoints": the variable's value at the last load, "module": the module


def _url_module(self: S3Backend) -> ModuleType:
    endpoints = os.environ.get("MOTO_S3_CUSTOM_ENDPOINTS", "")
    with _lock:
        if "module" not in _loaded or _loaded["endpoints"] != endpoints:
            _loaded["module"] = _reloading_url_module.fget(self)
            _loaded["endpoints"] = endpoints
        module: ModuleType = _loaded["module"]
    return module


PATCHES = PatchSet("s3", (Patch(S3Backend, "_url_module", property(_url_module)),))
