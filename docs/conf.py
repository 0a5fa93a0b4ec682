"""Sphinx configuration of the documentation site (``docs/``).

Built with warnings as errors (``.ci/run``)::

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

Pages are Markdown (MyST), like the README they came from; the theme is Sphinx's own
alabaster, so the build needs no network.
"""

project = "phone_verify"
author = "phone_verify contributors"
copyright = "2026, phone_verify contributors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# Headings up to ### get anchors, so pages link to each other's sections.
myst_heading_anchors = 3
# Directory trees and shell transcripts are shown as they are.
highlight_language = "none"
html_theme = "alabaster"
html_title = "phone_verify"
html_theme_options = {"description": "Consent-backed phone verification for Django"}
