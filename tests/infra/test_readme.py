"""The README is what users read first: it must not fall behind the code it describes."""

from __future__ import annotations

from pathlib import Path

from services.cli import build_parser
from services.config import ENVIRONMENT

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_documents_every_setting():
    assert [var for var in ENVIRONMENT if f"`{var}`" not in README] == []


def test_the_readme_names_every_subcommand():
    subcommands = build_parser()._subparsers._group_actions[0].choices
    assert [name for name in subcommands if f"fleetstate {name}" not in README] == []
