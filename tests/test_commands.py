"""One command namespace: every management command of the app is ``phone_verify_<verb>``, and
every command the README and the docs name exists (a renamed command cannot linger in them)."""

from __future__ import annotations

import re
from pathlib import Path

from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# Names in the docs that look like ours and are not commands: the benchmark's database prefix
# and the django-otp plugin's app label.
NOT_COMMANDS = {"phone_verify_bench", "phone_verify_otp"}


def our_commands() -> set[str]:
    return {name for name, app in get_commands().items() if app == "phone_verify"}


def named_in_the_docs() -> dict[str, set[str]]:
    """Command -> the pages naming it: after ``manage.py``, ``django-admin`` or in a
    ``call_command("...")``, and every ``phone_verify_*`` word however it is written."""
    named: dict[str, set[str]] = {}
    for page in PAGES:
        text = page.read_text()
        names = set(re.findall(r"(?:manage\.py|django-admin)\s+([a-z][a-z0-9_]*)", text))
        names |= set(re.findall(r"call_command\(\s*[\"']([a-z0-9_]+)", text))
        names |= set(re.findall(r"\bphone_verify_[a-z0-9_]+", text)) - NOT_COMMANDS
        for name in names:
            named.setdefault(name, set()).add(str(page.relative_to(ROOT)))
    return named


def test_every_command_of_the_app_is_in_the_namespace():
    assert our_commands(), "no command found: is the app installed?"
    assert sorted(c for c in our_commands() if not c.startswith("phone_verify_")) == []


def test_every_command_the_docs_name_exists():
    named = named_in_the_docs()
    assert {"phone_verify_purge", "migrate"} <= set(named)  # the scan finds both forms
    missing = {name: sorted(pages) for name, pages in named.items() if name not in get_commands()}
    assert missing == {}


def test_every_command_of_the_app_is_documented():
    assert sorted(our_commands() - set(named_in_the_docs())) == []
