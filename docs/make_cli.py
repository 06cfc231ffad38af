"""Rewrite the ``--help`` blocks of docs/cli.md from the commands themselves.

    python docs/make_cli.py          # rewrite docs/cli.md
    python docs/make_cli.py --check  # exit 1 if docs/cli.md is out of date (the test suite runs it)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI_MD = REPO / "docs" / "cli.md"
COMMANDS = ("run", "report", "compare", "predict", "dashboard", "ui", "browse")


def help_text(command: str) -> str:
    """``python -m search.<command> --help``, as a 100-column terminal shows it."""
    env = {**os.environ, "COLUMNS": "100", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", f"search.{command}", "--help"], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return done.stdout.rstrip() + "\n"


def rendered(text: str) -> str:
    """``text`` (docs/cli.md) with every command's help block replaced by its current output."""
    for command in COMMANDS:
        pattern = re.compile(rf"(## python -m search\.{command}\n.*?```text\n)(.*?)(```)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"docs/cli.md has no help block for search.{command}")
        text = pattern.sub(lambda m, c=command: m.group(1) + help_text(c) + m.group(3), text, count=1)
    return text


def main() -> int:
    current = CLI_MD.read_text()
    fresh = rendered(current)
    if "--check" in sys.argv[1:]:
        if fresh != current:
            print("docs/cli.md is out of date: run python docs/make_cli.py", file=sys.stderr)
            return 1
        return 0
    CLI_MD.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
