"""Every relative link in the README and docs/ points at a file of this repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_stay_in_the_repository(doc: Path) -> None:
    bad = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # http(s)://, mailto:, in-page anchors
        path = (doc.parent / target.split("#")[0]).resolve()
        if not path.is_relative_to(ROOT):
            bad.append(f"{target} (outside the repository)")
        elif not path.exists():
            bad.append(f"{target} (missing)")
    assert not bad, bad


def test_architecture_names_no_path_outside_the_repository() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/" not in text


def test_readme_installs_from_a_checkout() -> None:
    # infersight is not on PyPI yet: `pip install infersight[...]` would fail for a new user.
    # Every install command the README gives works from a checkout (`pip install .`, `.[extra]`).
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"pip install ([^\n`#]+)", text)
    assert commands
    for cmd in commands:
        target = cmd.strip().split()[-1].strip("'\"")
        if "published" in text[max(0, text.find(cmd) - 120):text.find(cmd)]:
            continue  # "Once it is published, ... pip install 'infersight[collector]'"
        assert target == "." or target.startswith(".["), f"README installs {target!r}: not from a checkout"
    assert "make install" in text
