"""The light commands start without loading torch, Ray or the engine's heavy parts.

Checked in a fresh interpreter (this test process has long imported torch).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "ray", "matplotlib")


def _modules_loaded_by(argv: list[str]) -> set[str]:
    code = (
        "import sys, contextlib, io\n"
        "from abae.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["query", "--help"], ["labels", "--help"], ["list", "--help"]],
)
def test_help_and_light_commands_load_no_torch_ray_or_matplotlib(argv: list[str]) -> None:
    loaded = _modules_loaded_by(argv)
    assert "abae" in loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
