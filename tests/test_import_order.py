"""Every module of the core imports on its own, first: a cycle that only the usual import order hides
breaks a tool, a test or an operator's script that starts somewhere else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "shared"

PROBE = r"""
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "mailgate" or m.startswith("mailgate.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {exc.__class__.__name__}: {exc}")
print("\n".join(failed))
"""


def _core_modules() -> list[str]:
    names = []
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(CORE).with_suffix("").parts
        if "migrations" in parts:
            continue  # Alembic loads those itself, inside its own context
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("mailgate", "shared", *parts)))
    return names


def test_every_core_module_imports_first():
    done = subprocess.run([sys.executable, "-P", "-c", PROBE, *_core_modules()], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
