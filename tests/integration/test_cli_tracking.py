"""``conveyor runs show`` with tracked data and ``conveyor runs compare``, end to end on SQLite
in a temporary folder."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import conveyor as cv
from conveyor.testing import settings_for
from tests._cli import invoke

PIPELINES = Path(__file__).parent.parent / "pipelines"

TRACKED = textwrap.dedent(
    """
    import conveyor as cv

    @cv.step
    def fit(lr: float) -> float:
        cv.log_params({"depth": 3})
        for epoch in range(3):
            cv.log_metric("loss", lr + 1 / (epoch + 1), step=epoch)
        cv.log_metrics({"accuracy": 0.9 - lr})
        cv.set_tags({"team": "churn"})
        cv.log_artifact({"layers": [8, 4]}, name="config.json")
        return lr

    @cv.pipeline
    def tracked(lr: float = 0.1) -> None:
        fit(lr)
    """
)


@cv.step
def train(lr: float, depth: int, extra: bool) -> float:
    cv.log_params({"depth": depth})
    if extra:
        cv.log_param("warmup", 5)
    cv.log_metrics({"accuracy": 0.9 - lr, "loss": lr, "rows": 100.0})
    return lr


@cv.pipeline
def experiment(lr: float = 0.1, depth: int = 3, extra: bool = False) -> None:
    train(lr, depth, extra)


def run(tmp_path: Path, **params: object) -> str:
    done = experiment.run(settings=settings_for(tmp_path / "home"), **params)
    assert done.status == "succeeded"
    return done.id


def git(folder: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True).stdout


def row(output: str, key: str) -> str:
    """The line of a compare table whose key is ``key`` (after the optional ≠ marker)."""
    found = [line for line in output.splitlines() if re.match(rf"^[≠ ]\s+{key}\b", line)]
    assert len(found) == 1, output
    return found[0]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_show_prints_what_the_run_tracked_and_where_it_ran(cli: CliRunner, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "tracked.py").write_text(TRACKED)
    git(project, "init", "-q")
    git(project, "add", "tracked.py")
    git(project, "commit", "-q", "-m", "first")
    commit = git(project, "rev-parse", "HEAD").strip()
    (project / "tracked.py").write_text(TRACKED + "\n# edited\n")  # uncommitted: dirty

    result = invoke(cli, "run", str(project / "tracked.py"), "-p", "lr=0.25")
    assert result.exit_code == 0, result.output
    run_id = re.findall(r"run-[0-9a-f]{20}", result.output)[-1]

    shown = invoke(cli, "runs", "show", run_id[:-3])  # a unique prefix will do
    assert shown.exit_code == 0, shown.output
    lines = {line.split(":")[0]: line for line in shown.output.splitlines() if ":" in line}
    assert "depth=3" in lines["params"] and "lr=0.25" in lines["params"]
    assert "accuracy=0.65" in lines["metrics"] and "loss=0.583333" in lines["metrics"]  # latest
    assert "team=churn" in lines["tags"]
    assert f"git {commit[:12]} (dirty)" in shown.output
    assert re.search(r"python 3\.\d+", shown.output)
    assert "numpy" in lines["packages"] and "pandas" in lines["packages"]
    artifact = next(line for line in shown.output.splitlines() if line.startswith("config.json"))
    assert re.search(r"config\.json\s+\d+ B\s+fit\s+sha256:", artifact)
    assert re.search(r"^fit\s+succeeded", shown.output, re.MULTILINE)  # the steps table stays


def test_show_leaves_out_what_a_run_did_not_track(cli: CliRunner) -> None:
    result = invoke(cli, "run", str(PIPELINES / "basic.py"))
    run_id = re.findall(r"run-[0-9a-f]{20}", result.output)[-1]
    shown = invoke(cli, "runs", "show", run_id)
    assert shown.exit_code == 0
    assert "params: n=3  scale=1" in shown.output  # the pipeline's parameters are tracked too
    for section in ("metrics:", "tags:", "logged artifacts"):
        assert section not in shown.output


def test_compare_marks_differences_missing_values_and_the_best(
    cli: CliRunner, tmp_path: Path
) -> None:
    first = run(tmp_path, lr=0.1)
    second = run(tmp_path, lr=0.3, extra=True)
    third = run(tmp_path, lr=0.2)

    result = invoke(cli, "runs", "compare", first, second, third)
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert len(header) == 3 and [first, second, third] == [
        i for short in header for i in (first, second, third) if i.startswith(short)
    ]
    assert result.output.count("experiment") == 3 and result.output.count("succeeded") == 3
    assert row(result.output, "depth").split()[1:] == ["3", "3", "3"]  # the same: no marker
    assert row(result.output, "lr").split() == ["≠", "lr", "0.1", "0.3", "0.2"]
    assert row(result.output, "warmup").split() == ["≠", "warmup", "—", "5", "—"]
    assert row(result.output, "accuracy").split() == [
        "≠",
        "accuracy",
        "↑",
        "0.8",
        "★",
        "0.6",
        "0.7",
    ]
    assert row(result.output, "loss").split() == ["≠", "loss", "↓", "0.1", "★", "0.3", "0.2"]
    assert row(result.output, "rows").split() == ["rows", "100", "100", "100"]  # no direction

    only = invoke(cli, "runs", "compare", first, second, third, "--only-diff")
    assert "lr" in only.output and "warmup" in only.output
    assert not re.search(r"^\s+(depth|rows)\b", only.output, re.MULTILINE)


def test_compare_as_json(cli: CliRunner, tmp_path: Path) -> None:
    first, second = run(tmp_path, lr=0.1), run(tmp_path, lr=0.3, extra=True)
    result = invoke(cli, "runs", "compare", first[:-2], second, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [r["id"] for r in document["runs"]] == [first, second]
    assert document["runs"][0]["pipeline"] == "experiment"
    assert document["params"]["lr"] == [0.1, 0.3]
    assert document["params"]["warmup"] == [None, 5]
    assert document["metrics"]["accuracy"] == pytest.approx([0.8, 0.6])
    assert document["differs"] == {
        "params": ["extra", "lr", "warmup"],
        "metrics": ["accuracy", "loss"],
    }
    assert document["best"] == {"accuracy": [first], "loss": [first]}

    only = json.loads(invoke(cli, "runs", "compare", first, second, "--json", "--only-diff").output)
    assert sorted(only["params"]) == ["extra", "lr", "warmup"] and "rows" not in only["metrics"]


def test_compare_needs_two_known_runs(cli: CliRunner, tmp_path: Path) -> None:
    first = run(tmp_path)
    one = invoke(cli, "runs", "compare", first)
    assert one.exit_code == 2 and "at least two runs" in one.output

    unknown = invoke(cli, "runs", "compare", first, "run-ffffffffffff")
    assert unknown.exit_code == 2
    assert "error:" in unknown.stderr and "run-ffffffffffff" in unknown.stderr
    assert "Traceback" not in unknown.output

    twice = invoke(cli, "runs", "compare", first, first[:-4])
    assert twice.exit_code == 2 and "the same run was given twice" in twice.stderr
