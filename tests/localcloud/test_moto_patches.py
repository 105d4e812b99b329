"""localcloud's patches of moto internals: one module per service, one place per attribute, a version guard.

moto is pinned exactly because these are its internals. Under another version every patch module
refuses to import, naming both versions; a patched attribute that a moto release renamed fails at
import with its name, not with an AttributeError in the middle of a run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from localcloud import moto_patches
from localcloud.moto_patches import (
    PINNED_MOTO_VERSION,
    SERVICES,
    MotoPatchTargetError,
    MotoVersionError,
    Patch,
    original,
    require_pinned_moto,
)
from localcloud.runtime import Runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
_ABSENT = object()


def test_the_pin_is_the_one_in_the_requirements() -> None:
    requirements = (REPO_ROOT / "requirements" / "dev.txt").read_text()
    [pinned] = re.findall(r"^moto\[[^\]]*\]==(\S+)$", requirements, flags=re.MULTILINE)

    assert pinned == PINNED_MOTO_VERSION


def test_another_moto_version_is_refused_naming_both_versions() -> None:
    with pytest.raises(MotoVersionError) as refused:
        require_pinned_moto("5.3.0")

    message = str(refused.value)
    assert "5.3.0" in message
    assert PINNED_MOTO_VERSION in message
    assert "localcloud patches moto internals" in message


def test_every_patch_module_fails_at_import_under_another_moto() -> None:
    script = "\n".join(
        [
            "import importlib, moto",
            "moto.__version__ = '9.9.9'",
            f"for service in {list(SERVICES)!r}:",
            "    try:",
            "        importlib.import_module('localcloud.moto_patches.' + service)",
            "    except ImportError as error:",
            "        print(service, type(error).__name__, error)",
            "    else:",
            "        print(service, 'imported')",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )

    refusals = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert set(refusals) == set(SERVICES)
    for service, refusal in refusals.items():
        assert refusal.startswith("MotoVersionError "), (service, refusal)
        assert f"supports moto {PINNED_MOTO_VERSION} only, but moto 9.9.9 is installed" in refusal


def test_a_missing_attribute_fails_with_its_name_and_both_versions() -> None:
    class Backend:
        def create_thing(self) -> None: ...

    with pytest.raises(MotoPatchTargetError, match=r"\.Backend\.delete_thing does not exist in the installed moto"):
        original(Backend, "delete_thing")
    with pytest.raises(MotoPatchTargetError, match=PINNED_MOTO_VERSION):
        Patch(Backend, "update_thing", lambda self: None)
    Patch(Backend, "update_thing", lambda self: None, adds=True)  # what moto lacks may be added


def test_each_replaced_attribute_is_replaced_in_exactly_one_place() -> None:
    targets = [target for patches in moto_patches.patch_sets() for target in patches.targets()]

    repeated = [target for target, count in Counter(targets).items() if count > 1]
    assert repeated == []
    assert len(targets) >= 40


def test_installing_twice_changes_nothing_and_uninstalling_puts_moto_back() -> None:
    pristine = _current_values()
    try:
        moto_patches.install_all()
        installed = _current_values()
        moto_patches.install_all()

        assert moto_patches.all_installed()
        assert _current_values() == installed
        assert all(installed[target] is not value for target, value in pristine.items())
    finally:
        moto_patches.uninstall_all()
    assert moto_patches.none_installed()
    assert _current_values() == pristine


def test_the_patches_are_in_place_while_a_runtime_is_active() -> None:
    assert moto_patches.none_installed()
    with Runtime():
        assert moto_patches.all_installed()
    assert moto_patches.none_installed()


def _current_values() -> dict[str, object]:
    """What each patched attribute holds now (``_ABSENT`` where moto has none)."""
    values: dict[str, object] = {}
    for patches in moto_patches.patch_sets():
        for patch in patches.patches:
            if isinstance(patch, Patch):
                values[patch.target] = vars(patch.owner).get(patch.name, _ABSENT)
    return values
