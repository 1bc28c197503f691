"""docs/architecture.md stays true: every package and top-level module of the core, every task of the
main DAG, every stage function and every sealed document kind is named there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from custody.documents import document_types

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
CORE = ROOT / "include" / "custody"


def test_every_core_package_and_module_is_named():
    names = sorted(p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    names += sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
    names += sorted(p.stem for p in CORE.glob("*.c"))  # the compiled modules (setup.py)
    missing = [n for n in names if f"custody.{n}" not in DOC]
    assert missing == [], f"docs/architecture.md does not name: {missing}"


def test_every_task_of_the_main_dag_is_named():
    tree = ast.parse((ROOT / "dags" / "custody_pipeline.py").read_text(encoding="utf-8"))
    tasks = [f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
             and any(isinstance(d, (ast.Name, ast.Call, ast.Attribute)) and "task" in ast.unparse(d)
                     for d in f.decorator_list)]
    assert {"plan_extract", "extract_part", "commit_extract", "report"} <= set(tasks)
    missing = [t for t in tasks if f"`{t}`" not in DOC]
    assert missing == [], f"docs/architecture.md does not name the tasks {missing}"


def test_every_stage_function_and_document_kind_is_named():
    import custody.stages as stages

    functions = [n for n in stages.__all__ if n.startswith("stage_")]
    assert [f for f in functions if f"`{f}`" not in DOC] == []
    formats = sorted(document_types())
    assert [f for f in formats if f"`{f}`" not in DOC] == []
    models = [m.__name__ for m in document_types().values()]
    assert [m for m in models if not re.search(rf"`{m}`", DOC)] == []
