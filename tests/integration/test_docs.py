"""Documentation that can drift is checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).parents[2]
PACKAGE = REPO / "src" / "qasid"


class TestArchitecturePage:
    def test_every_module_it_names_exists(self):
        page = (REPO / "docs" / "architecture.md").read_text()
        named = set(re.findall(r"`((?:[a-z_]+/)+(?:[a-z_]+\.py)?)`", page))
        assert named, "the page names modules"
        missing = sorted(path for path in named if not (PACKAGE / path).exists())
        assert missing == []


class TestReadme:
    def test_the_quick_start_has_exactly_the_two_commands(self):
        readme = (REPO / "README.md").read_text()
        block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
        commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
        assert commands == ["make run", "make test"]

    def test_ci_runs_the_same_test_command(self):
        ci = (REPO / ".ci" / "run").read_text()
        assert "make --no-print-directory test" in ci
        assert "QASID_TEST_DATABASE_URL=" in ci
