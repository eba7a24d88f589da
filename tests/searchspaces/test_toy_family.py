"""The toy family is the README's "How to add a family" example, verbatim: the file the registry
test installs through an entry point (``tests/test_registry.py``) is the file users read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TOY = Path(__file__).with_name("toy_family.py")
README = Path(__file__).parents[2] / "README.md"
HEADING = "## How to add a family"


def test_readme_shows_the_toy_family_file() -> None:
    text = README.read_text()
    if HEADING not in text:
        pytest.skip(f"README.md has no {HEADING!r} section yet")
    section = re.split(r"^## ", text.split(HEADING, 1)[1], flags=re.M)[0]
    block = re.search(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert block, f"README's {HEADING!r} section has no ```python block"
    assert block.group(1) == TOY.read_text(), f"README's {HEADING!r} block differs from {TOY.name}"
