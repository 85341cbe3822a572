"""Shared start-up for the scripts: the project's Python (re-exec into .venv), then the app like the flask CLI.

Every script runs with a bare `python3` from any directory, also under cron's minimal environment
(`env -i PATH=/usr/bin:/bin`): `ensure_project_python()` re-executes it with the checkout's `.venv`
Python, or says exactly what to do when there is none. Only the standard library is imported here.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
REEXEC_MARK = "AIBK_SCRIPT_REEXEC"  # set on the re-executed process, so a broken venv cannot loop
NEEDED = ("flask", "dotenv", "sqlalchemy")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def in_project_venv() -> bool:
    """True when this interpreter is the checkout's .venv (a real directory or a symlink to one)."""
    try:
        return VENV.is_dir() and Path(sys.prefix).resolve() == VENV.resolve()
    except OSError:
        return False


def dependencies_missing() -> list[str]:
    """The packages the scripts need that this interpreter cannot import."""
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def ensure_project_python() -> None:
    """Continue in the project's Python: re-exec into .venv/bin/python, or exit 1 saying what to do."""
    if in_project_venv():
        return
    venv_python = VENV / "bin" / "python"
    script = str(Path(sys.argv[0]).resolve())
    if venv_python.exists() and not os.environ.get(REEXEC_MARK):
        os.environ[REEXEC_MARK] = "1"
        os.execv(str(venv_python), [str(venv_python), script, *sys.argv[1:]])
    missing = dependencies_missing()
    if not missing:  # e.g. a container whose system Python has the requirements installed
        return
    name = Path(script).name
    if venv_python.exists():
        problem = f"{venv_python} cannot import {', '.join(missing)}"
    else:
        problem = f"there is no virtualenv at {VENV} and {sys.executable} cannot import {', '.join(missing)}"
    print(f"{name}: {problem}.\n"
          f"  Fix: cd {ROOT} && make venv   (creates .venv and installs requirements.txt)\n"
          f"  or:  {VENV / 'bin' / 'python'} scripts/{name} ...  once it exists", file=sys.stderr)
    sys.exit(1)


def make_app():  # type: ignore[no-untyped-def]
    """Load .env (the checkout's, wherever we run from), then build the app."""
    from dotenv import load_dotenv

    from webapp import create_app

    load_dotenv(ROOT / ".env")
    return create_app()
