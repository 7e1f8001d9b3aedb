"""The command line end to end on a SQLite store in a temporary folder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conveyor.cli import app
from tests._cli import invoke

PIPELINES = Path(__file__).parent.parent / "pipelines"


def run_id_of(result: Result) -> str:
    match = re.search(r"run (run-[0-9a-f]+)", result.output)
    assert match, result.output
    return match.group(1)


def test_run_list_show_and_lineage(cli: CliRunner) -> None:
    first = invoke(cli, "run", f"{PIPELINES / 'basic.py'}:basic", "-p", "n=4")
    assert first.exit_code == 0, first.output
    assert "report: succeeded" in first.output
    run_id = run_id_of(first)

    listed = invoke(cli, "runs", "list")
    assert run_id in listed.output and "succeeded" in listed.output and "n=4" in listed.output

    second = invoke(cli, "run", str(PIPELINES / "basic.py"), "-p", "n=4", "-p", "scale=2")
    assert second.exit_code == 0
    shown = invoke(cli, "runs", "show", run_id_of(second))
    assert shown.exit_code == 0
    lines = {line.split()[0]: line for line in shown.output.splitlines() if line.strip()}
    assert "cached" in lines["numbers"] and "cache hit" in lines["numbers"]
    assert "succeeded" in lines["report"] and "parameter scale changed" in lines["report"]

    logs = invoke(cli, "runs", "show", run_id, "--logs", "numbers")
    assert "making 4 numbers" in logs.output

    lineage = invoke(cli, "lineage", run_id)
    assert lineage.exit_code == 0
    for step in ("report", "square", "negate", "numbers"):
        assert f"step {step}" in lineage.output


def test_lineage_of_an_artifact_goes_upstream(cli: CliRunner) -> None:
    from conveyor.core import load_settings
    from conveyor.engine import Workspace

    result = invoke(cli, "run", str(PIPELINES / "basic.py"))
    with Workspace.open(load_settings({"CONVEYOR_HOME": "home"}, Path.cwd())) as ws:
        steps = {s.step: s for s in ws.metadata.step_runs(run_id_of(result))}
    artifact = steps["square"].outputs[0].artifact_id
    lineage = invoke(cli, "lineage", artifact)
    assert lineage.exit_code == 0
    assert "step square" in lineage.output and "step numbers" in lineage.output
    assert "step report" not in lineage.output  # downstream is not lineage


def test_editing_a_step_reruns_it_and_what_follows(cli: CliRunner, tmp_path: Path) -> None:
    copy = tmp_path / "edited.py"
    shutil.copy(PIPELINES / "basic.py", copy)
    assert invoke(cli, "run", str(copy)).exit_code == 0
    copy.write_text(copy.read_text().replace("[x * x for x in xs]", "[x * x * 1 for x in xs]"))
    same_output = invoke(cli, "run", str(copy))
    # the edited step re-runs, but its output bytes are unchanged: downstream stays cached
    assert "square: succeeded" in same_output.output and "report: cached" in same_output.output
    copy.write_text(copy.read_text().replace("[x * x * 1 for x in xs]", "[x * x + 1 for x in xs]"))
    second = invoke(cli, "run", str(copy))
    assert "numbers: cached" in second.output and "negate: cached" in second.output
    assert "square: succeeded" in second.output and "report: succeeded" in second.output
    copy.write_text(copy.read_text().replace("OFFSET = 1", "OFFSET = 2"))  # a helper's constant
    third = invoke(cli, "run", str(copy))
    assert "numbers: succeeded" in third.output
    shown = invoke(cli, "runs", "show", run_id_of(third))
    assert "code changed" in shown.output


def test_a_failed_run_exits_non_zero_naming_the_step(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", f"{PIPELINES / 'failing.py'}:broken"])
    assert result.exit_code == 1
    assert "failed at step 'explode': ValueError: cannot handle 1" in result.output
    assert "Traceback" not in result.output
    shown = invoke(cli, "runs", "show", run_id_of(result), "--traceback")
    assert "skipped" in shown.output and "raise ValueError" in shown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "m=3"], "no parameter 'm'; its parameters are: n, scale"),
        (["-p", "n=three"], "-p n=three is not a valid int"),
        (["-p", "n"], "-p takes KEY=VALUE"),
    ],
)
def test_bad_parameters_are_usage_errors(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, ["run", str(PIPELINES / "basic.py"), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_a_pipeline_not_in_the_file_lists_those_that_are(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", f"{PIPELINES / 'failing.py'}:nope"])
    assert result.exit_code == 2
    assert "no pipeline named 'nope'; pipelines in it: broken, fine" in result.output
    several = cli.invoke(app, ["run", str(PIPELINES / "failing.py")])
    assert several.exit_code == 2 and "defines several pipelines" in several.output
    missing = cli.invoke(app, ["run", "nowhere.py"])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_an_unknown_run_id_is_a_clear_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["runs", "show", "run-doesnotexist"])
    assert result.exit_code == 2 and "no run" in result.output
    lineage = cli.invoke(app, ["lineage", "sha256:" + "0" * 64])
    assert lineage.exit_code == 2


def test_targets_and_no_cache(cli: CliRunner) -> None:
    first = invoke(cli, "run", str(PIPELINES / "basic.py"), "-t", "square")
    assert "square: succeeded" in first.output and "report" not in first.output
    forced = invoke(cli, "run", str(PIPELINES / "basic.py"), "-t", "square", "--no-cache")
    assert "numbers: succeeded" in forced.output


def test_the_process_executor_gives_the_same_results(cli: CliRunner) -> None:
    result = invoke(
        cli,
        "run",
        str(PIPELINES / "basic.py"),
        "--executor",
        "processes",
        "--workers",
        "2",
        "-p",
        "n=5",
    )
    assert result.exit_code == 0, result.output
    again = invoke(cli, "run", str(PIPELINES / "basic.py"), "-p", "n=5")
    assert "report: cached" in again.output  # same keys whichever executor ran the steps


def test_lineage_keeps_a_step_that_passes_its_input_through(cli: CliRunner) -> None:
    result = invoke(cli, "run", str(PIPELINES / "passthrough.py"))
    lines = [
        line.strip("│├└─ ")
        for line in invoke(cli, "lineage", run_id_of(result)).output.splitlines()
    ]
    steps = [line.split()[1] for line in lines if line.startswith("step ")]
    assert steps == ["summarize", "validate", "ingest"]  # validate's output is ingest's bytes


def test_runs_show_lists_the_attempts_of_steps_run_elsewhere(cli: CliRunner) -> None:
    ran = invoke(cli, "run", str(PIPELINES / "basic.py"), "--executor", "processes", "-p", "n=3")
    assert ran.exit_code == 0, ran.output
    shown = invoke(cli, "runs", "show", run_id_of(ran))
    assert "attempts" in shown.output
    rows = [line.split() for line in shown.output.splitlines() if line.startswith("numbers ")]
    # the step's row in the steps table, then its one attempt: number, worker (host:pid), outcome
    attempt = next(row for row in rows if row[1] == "1")
    assert re.fullmatch(r".+:\d+", attempt[2]) and attempt[3] == "succeeded"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--address", "tcp://127.0.0.1:8786"], "an address needs the dask or ray executor"),
        (["--executor", "threads", "--address", "x"], "an address is for the dask and ray"),
    ],
)
def test_an_address_without_a_cluster_executor_is_refused(
    cli: CliRunner, options: list[str], message: str
) -> None:
    result = invoke(cli, "run", str(PIPELINES / "basic.py"), *options)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
