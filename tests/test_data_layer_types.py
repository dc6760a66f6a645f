"""The mail path speaks one language (docs/architecture.md, "The data layer").

The data layer's functions take a `Conn` and typed rows (`ReceivedRow`,
`TaskRow`, `UserRef`, ...): none takes "a Conn, a Session or a
Connection", and none takes an `Any` where a row belongs. The console's own
helpers (key management, schema set-up) take a Session only. The pipeline
knows one received-message type, `ReceivedRow`; the ORM's
`ReceivedMessage` is the console's.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import typing
from pathlib import Path

from mailgate.shared import pipeline, prepared
from mailgate.shared.pipeline import entry
from mailgate.shared.received import ReceivedRow

REPO = Path(__file__).resolve().parents[1]
DATA_LAYER = ("tracker", "notify", "keys", "rows", "received", "commenting", "addresses", "servicedesk")


def data_layer_modules() -> list:
    modules = []
    for name in DATA_LAYER:
        module = importlib.import_module(f"mailgate.shared.{name}")
        modules.append(module)
        if hasattr(module, "__path__"):
            modules += [importlib.import_module(f"{module.__name__}.{m.name}") for m in pkgutil.iter_modules(module.__path__)]
    return modules


def loose_parameters(func) -> list[str]:
    """The parameters of `func` that take "anything" or more than one kind of connection (annotations as written)."""
    loose = []
    for param, annotation in func.__annotations__.items():
        if param == "return":
            continue
        words = set(str(annotation).replace("|", " ").replace(",", " ").replace("[", " ").replace("]", " ").split())
        if "Any" in words and not str(annotation).startswith(("dict[str, Any]", "Mapping[str, Any]")):
            loose.append(f"{param}: {annotation}")
        elif "Conn" in words and words & {"Session", "Connection"}:
            loose.append(f"{param}: {annotation}")
    return loose


def test_no_data_layer_function_takes_any_row_or_several_kinds_of_connection():
    found = []
    modules = data_layer_modules()
    assert len(modules) > len(DATA_LAYER)  # the packages' modules were found too
    for module in modules:
        for name, func in vars(module).items():
            if inspect.isfunction(func) and func.__module__ == module.__name__:
                found += [f"{module.__name__}.{name}({p})" for p in loose_parameters(func)]
    assert not found, "\n".join(found)


def test_the_check_sees_a_loose_parameter():
    def takes_anything(conn: Conn | Session, task: Any, values: dict[str, Any]) -> None: ...  # noqa: F821

    def typed(conn: Conn, task: TaskRow) -> None: ...  # noqa: F821

    assert loose_parameters(takes_anything) == ["conn: Conn | Session", "task: Any"]
    assert loose_parameters(typed) == []


def test_the_union_of_connections_and_the_orm_bridge_are_gone():
    assert not hasattr(prepared, "Source") and not hasattr(prepared, "as_conn")
    for path in (REPO / "shared").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
                {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not names & {"as_conn", "Source"}, path


def test_the_pipeline_knows_one_received_message_type():
    assert typing.get_type_hints(pipeline.Work)["row"] == ReceivedRow | None
    assert typing.get_type_hints(entry.process)["row"] is ReceivedRow
    for top in ("shared/pipeline", "milter", "ingress"):
        for path in (REPO / top).rglob("*.py"):
            assert "ReceivedMessage" not in path.read_text(encoding="utf-8"), path
