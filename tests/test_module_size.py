"""Every module of the package stays small enough to read in one sitting: 400 lines at most
(migrations aside, as Django writes them). A module that grows past it is split along the
domain's seams, as ``services/``, ``models/``, ``forms/``, ``admin/`` and the TeleSign modules
were."""

from __future__ import annotations

from pathlib import Path

import phone_verify

PACKAGE = Path(phone_verify.__file__).parent
MAX_LINES = 400


def module_lengths() -> dict[str, int]:
    """Path (relative to the package) -> number of lines, for every module but migrations."""
    return {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.relative_to(PACKAGE).parts
    }


def test_no_module_is_over_400_lines():
    lengths = module_lengths()
    assert len(lengths) > 50 and "models/consents.py" in lengths  # the walk sees the package
    too_long = {path: lines for path, lines in lengths.items() if lines > MAX_LINES}
    assert too_long == {}, f"split these along the domain's seams: {too_long}"
