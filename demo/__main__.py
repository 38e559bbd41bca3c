"""``python -m infersight.demo ...`` is ``infersight demo ...``."""

from __future__ import annotations

from infersight.demo.cli import demo_app

if __name__ == "__main__":
    demo_app(prog_name="infersight demo")
