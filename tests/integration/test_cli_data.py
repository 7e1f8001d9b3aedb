"""``conveyor data list/show/diff`` end to end on a SQLite store in a temporary folder."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conveyor.cli import app
from conveyor.core import load_settings
from conveyor.engine import Workspace
from conveyor.engine._datasets import register
from conveyor.store import WriteBatch
from tests._cli import invoke

BEFORE = pd.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6, 7, 8],
        "age": [31.0, 35.0, 40.0, 41.0, 45.0, 50.0, 52.0, None],
        "city": ["Oslo", "Rome", "Oslo", "Rome", "Oslo", "Paris", "Rome", "Oslo"],
    }
)
AFTER = pd.DataFrame(
    {
        "age": [71.0, 75.0, 80.0, 81.0, 85.0, 90.0],  # everyone 40 years older, no nulls
        "city": ["Oslo", "Rome", "Berlin", "Rome", "Oslo", "Berlin"],  # Paris gone, Berlin new
        "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    }
).astype({"age": "float32"})


def lines_by_first_word(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines() if line.strip()}


def workspace() -> Workspace:
    return Workspace.open(load_settings(os.environ, Path.cwd()))


def test_list_shows_every_version(cli: CliRunner) -> None:
    empty = invoke(cli, "data", "list")
    assert empty.exit_code == 0 and "no datasets registered yet" in empty.output

    register("customers", BEFORE, description="first export")
    register("customers", AFTER)
    register("orders", pd.DataFrame({"n": [1, 2]}))
    listed = invoke(cli, "data", "list")
    assert listed.exit_code == 0, listed.output
    header, *rows = [line.split() for line in listed.output.splitlines()]
    assert header == ["name", "version", "rows", "columns", "created", "run", "description"]
    assert [row[:4] for row in rows] == [
        ["customers", "1", "8", "3"],
        ["customers", "2", "6", "3"],
        ["orders", "1", "2", "1"],
    ]
    assert rows[0][-2:] == ["first", "export"]

    only = invoke(cli, "data", "list", "orders")
    assert [line.split()[0] for line in only.output.splitlines()] == ["name", "orders"]
    as_json = json.loads(invoke(cli, "data", "list", "customers", "--json").output)
    assert [(v["ref"], v["rows"]) for v in as_json] == [("customers@1", 8), ("customers@2", 6)]


def test_show_prints_the_schema_and_profile(cli: CliRunner) -> None:
    version = register("customers", BEFORE, description="first export")
    result = invoke(cli, "data", "show", "customers@1")
    assert result.exit_code == 0, result.output
    assert f"dataset customers@1  artifact {version.artifact_id}" in result.output
    assert "description: first export" in result.output
    assert "8 rows, 3 columns" in result.output
    lines = lines_by_first_word(result.output)
    assert lines["column"].split() == [
        "column", "dtype", "nullable", "nulls", "min", "max", "mean", "std", "top", "values",
    ]  # fmt: skip
    assert lines["id"].split()[:8] == ["id", "int64", "no", "0.0%", "1", "8", "4.5", "2.449"]
    assert lines["age"].split()[:6] == ["age", "float64", "yes", "12.5%", "31", "52"]
    assert lines["city"].split()[:4] == ["city", "string", "no", "0.0%"]
    assert "Oslo (4), Rome (3), Paris (1)" in lines["city"]

    for ref in ("customers", "customers@latest", version.artifact_id[:20]):
        again = invoke(cli, "data", "show", ref)
        assert again.exit_code == 0 and "Oslo (4), Rome (3), Paris (1)" in again.output

    as_json = json.loads(invoke(cli, "data", "show", "customers", "--json").output)
    assert as_json["ref"] == "customers@1"
    assert as_json["profile"]["columns"]["age"]["nulls"] == 1


def test_show_profiles_a_step_output_table(cli: CliRunner) -> None:
    with workspace() as ws:
        saved = ws.values.save(BEFORE)
        meta = {k: v for k, v in saved.meta.items() if k != "profile"}  # so it is profiled now
        table = dataclasses.replace(saved, meta=meta)
        ws.metadata.commit(WriteBatch(artifacts=(table,)))
        model = ws.values.save({"auc": 0.9})
        ws.metadata.commit(WriteBatch(artifacts=(model,)))
    result = invoke(cli, "data", "show", table.id)
    assert result.exit_code == 0, result.output
    assert f"artifact {table.id}  (pandas.DataFrame)" in result.output
    assert "Oslo (4), Rome (3), Paris (1)" in lines_by_first_word(result.output)["city"]

    not_a_table = cli.invoke(app, ["data", "show", model.id])
    assert not_a_table.exit_code == 2
    assert "is a dict (json), not a table" in not_a_table.output


def test_diff_reports_schema_and_profile_changes(cli: CliRunner) -> None:
    register("customers", BEFORE)
    register("customers", AFTER)
    result = invoke(cli, "data", "diff", "customers@1", "customers@latest")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "customers@1 → customers@2" in out
    assert "rows: 8 → 6 (-25.0%)" in out
    assert "+ score (float64) added" in out
    assert "- id (int64) removed" in out
    assert "~ age: float64 → float32" in out
    lines = lines_by_first_word(out.split("big changes")[0])
    assert "12.5% → 0.0%" in lines["age"]
    assert "42 → 80.33 (+5.03 sd)" in lines["age"]  # 38.33 up, the old std being 7.616
    assert "shifted" in lines["age"]
    assert "new: Berlin; missing: Paris" in lines["city"]

    summary = out.split("big changes")[1]
    assert "! rows: 8 → 6 (-25.0%)" in summary
    assert "! schema: added score; removed id; changed dtype of age" in summary
    assert re.search(r"! age: nulls 12\.5% → 0\.0%; mean .*; distribution shifted", summary)
    assert "! city: new: Berlin; missing: Paris; distribution shifted" in summary

    as_json = json.loads(invoke(cli, "data", "diff", "customers@1", "customers@2", "--json").output)
    assert (as_json["added"], as_json["removed"]) == (["score"], ["id"])
    assert as_json["columns"]["city"]["new_categories"] == ["Berlin"]


def test_diff_of_a_table_with_itself_has_no_changes(cli: CliRunner) -> None:
    register("customers", BEFORE)
    result = invoke(cli, "data", "diff", "customers@1", "customers")
    assert result.exit_code == 0
    assert "schema: unchanged" in result.output
    assert "rows: 8\n" in result.output
    assert "no big changes" in result.output and "! " not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nope"], "'nope' names no dataset and no artifact"),
        (["show", "customers@7"], "dataset 'customers' has no version 7; its versions are 1"),
        (["show", "customers@first"], "a version is a number or 'latest'"),
        (["diff", "customers@1", "other@1"], "no dataset named 'other' is registered"),
        (["list", "nope"], "no dataset named 'nope' is registered"),
    ],
)
def test_a_bad_ref_is_a_one_line_error(cli: CliRunner, args: list[str], message: str) -> None:
    register("customers", BEFORE)
    result = cli.invoke(app, ["data", *args])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith("error: ") and message in result.output
    assert "Traceback" not in result.output


def test_a_version_registered_by_a_step_names_its_run(cli: CliRunner, tmp_path: Path) -> None:
    pipeline = tmp_path / "publish.py"
    pipeline.write_text(
        textwrap.dedent(
            """
            import pandas as pd
            import conveyor as cv
            from conveyor.engine._datasets import register

            @cv.step
            def publish(n: int) -> int:
                return register("made", pd.DataFrame({"n": range(n)})).version

            @cv.pipeline
            def publishing(n: int = 3):
                publish(n)
            """
        )
    )
    ran = invoke(cli, "run", str(pipeline), "-p", "n=5")
    assert ran.exit_code == 0, ran.output
    run_id = re.search(r"runs show (run-[0-9a-f]+)", ran.output)
    assert run_id
    listed = lines_by_first_word(invoke(cli, "data", "list").output)
    assert listed["made"].split()[:4] == ["made", "1", "5", "1"]
    assert run_id.group(1) in listed["made"]
