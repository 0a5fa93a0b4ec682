"""The documentation: the configuration reference covers every setting, and the README stays the
pitch, the quick start and links. (.ci/run builds docs/ with Sphinx, warnings as errors.)"""

from __future__ import annotations

import re
from pathlib import Path

from phone_verify.conf import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The quick start every page and message points to: changing it breaks people's habits.
QUICK_START = [
    "python3 dev.py demo     # the example project on http://127.0.0.1:8000"
    " (SQLite, console provider)",
    "python3 dev.py test     # the test suite",
]


def documented_settings() -> set[str]:
    """The keys named in the first column of the configuration reference's tables."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    first_cells = re.findall(r"^\|([^|\n]*)\|", text, flags=re.MULTILINE)
    return {key for cell in first_cells for key in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}


def test_every_setting_is_in_the_configuration_reference():
    missing = sorted(set(DEFAULTS) - documented_settings())
    assert missing == [], f"add these PHONE_VERIFY keys to docs/configuration.md: {missing}"


def test_the_configuration_reference_names_no_setting_that_does_not_exist():
    assert sorted(documented_settings() - set(DEFAULTS)) == []


def test_the_readme_is_short_and_keeps_the_quick_start():
    assert README.stat().st_size < 8 * 1024
    lines = README.read_text().splitlines()
    assert all(line in lines for line in QUICK_START)


def test_the_readmes_links_lead_somewhere():
    targets = re.findall(r"\]\(((?!https?:)[^)#]+)", README.read_text())
    assert targets, "the README links to the documentation"
    assert [target for target in targets if not (ROOT / target).exists()] == []
