"""The layout traps: our milter/ must never shadow pymilter's C module `milter`."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_milter_is_pymilters_c_module():
    milter = importlib.import_module("milter")
    assert milter.__file__.endswith((".so", ".pyd")), milter.__file__
    assert "site-packages" in milter.__file__
    assert hasattr(milter, "register")  # the libmilter binding, not our package


def test_our_packages_live_under_the_mailgate_namespace():
    import mailgate.milter
    import mailgate.shared
    import mailgate.webui

    assert Path(mailgate.shared.__file__).parent == REPO / "shared"
    assert Path(mailgate.milter.__file__).parent == REPO / "milter"
    assert Path(mailgate.webui.__file__).parent == REPO / "webui"


def test_shared_never_imports_flask_or_milter():
    code = (
        "import sys, pkgutil, importlib, mailgate.shared as s\n"
        "for m in pkgutil.walk_packages(s.__path__, 'mailgate.shared.'):\n"
        "    if '.migrations' in m.name: continue\n"
        "    importlib.import_module(m.name)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('flask', 'Milter', 'milter', 'mailgate.webui')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("cwd", ["/", str(REPO)])
def test_console_script_imports_pymilter_from_anywhere(cwd):
    """`mailgate` is run from the repository root too: the root must not shadow pymilter."""
    exe = Path(sys.executable).with_name("mailgate")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd=cwd)
    assert out.returncode == 0, out.stderr
    probe = subprocess.run(
        [sys.executable, "-P", "-c", "import milter; print(milter.__file__)"],
        capture_output=True, text=True, cwd=cwd, check=True,
    )
    assert "site-packages" in probe.stdout


def test_the_private_postfix_harness_is_not_part_of_the_package():
    """A test harness lives in tests/support/; the installed package carries none."""
    import importlib.util

    assert importlib.util.find_spec("mailgate.milter.privatepostfix") is None


def test_templates_folder_is_found_next_to_webui():
    import mailgate.webui

    assert (Path(mailgate.webui.__file__).resolve().parent.parent / "templates").is_dir()


def test_wheel_ships_templates_static_files_and_migrations(tmp_path):
    """A real (non-editable) install needs its data files: build the wheel and look inside."""
    import zipfile

    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                          "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("mailgate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in ("mailgate/templates/base.html", "mailgate/templates/inbound/detail.html",
                 "mailgate/shared/migrations/env.py", "mailgate/shared/migrations/script.py.mako",
                 "mailgate/shared/migrations/versions/0001_initial_schema.py", "mailgate/webui/cli/core.py",
                 "mailgate/milter/adapter.py", "mailgate/shared/parsing/trim.py"):
        assert must in names, must
    assert any(n.startswith("mailgate/webui/static/") for n in names)
    assert not any(n.startswith(("milter/", "shared/", "webui/")) for n in names)  # nothing top-level
    # Every package of the source tree is in the wheel: a folder missing from pyproject's list works in
    # an editable install (the tests) and is absent from a real one.
    for folder in ("shared", "milter", "webui", "ingress"):
        for init in (REPO / folder).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                shipped = "mailgate/" + init.relative_to(REPO).as_posix()
                assert shipped in names, shipped
