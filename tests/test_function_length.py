"""No function on the mail path is over 60 lines (docs/architecture.md, "Rules of the house").

The mail path is every module a message can run through on its way in: the
core package `shared/` (its migrations excepted: they run once, by hand),
the milter (`milter/`) and the other ways in (`ingress/`). The console
(`webui/`) is not on it. A function's length is from its `def` line to its
last line, nested functions included, decorators not.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIL_PATH = ("shared", "milter", "ingress")
NOT_MAIL_PATH = (REPO / "shared" / "migrations",)
LIMIT = 60


def long_functions(source: str, limit: int = LIMIT) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function in `source` longer than `limit` lines."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append((node.name, node.lineno, length))
    return found


def mail_path_files() -> list[Path]:
    files = []
    for top in MAIL_PATH:
        for path in sorted((REPO / top).rglob("*.py")):
            if not any(path.is_relative_to(skip) for skip in NOT_MAIL_PATH):
                files.append(path)
    return files


def test_no_function_on_the_mail_path_is_over_60_lines():
    files = mail_path_files()
    assert any(f.match("shared/pipeline/driver.py") for f in files) and any(f.match("milter/writer.py") for f in files)
    over = [f"{path.relative_to(REPO)}:{line} {name}() is {length} lines"
            for path in files for name, line, length in long_functions(path.read_text(encoding="utf-8"))]
    assert not over, "split these (no function on the mail path over 60 lines):\n" + "\n".join(over)


def test_the_check_counts_from_def_to_last_line_nested_functions_included():
    body = "".join(f"    x{i} = {i}\n" for i in range(58))
    assert long_functions(f"def fits():\n{body}    return 1\n") == []  # 60 lines
    assert long_functions(f"def over():\n{body}    y = 0\n    return 1\n") == [("over", 1, 61)]
    nested = f"def outer():\n    def inner():\n{body.replace('    ', '        ')}        return 1\n    return inner\n"
    assert [name for name, _, _ in long_functions(nested)] == ["outer"]
