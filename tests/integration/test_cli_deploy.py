"""``conveyor deploy``: prints or writes the shipped Prometheus and Grafana files, which are the
ones under ``deploy/`` in the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._cli import invoke
from tests._prometheus import ALERTS, CONFIG, DASHBOARD, DEPLOY

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("what", "shipped"),
    [("prometheus-rules", ALERTS), ("prometheus-config", CONFIG), ("grafana-dashboard", DASHBOARD)],
)
def test_a_file_is_printed(cli: CliRunner, what: str, shipped: Path) -> None:
    result = invoke(cli, "deploy", what)
    assert result.exit_code == 0, result.output
    assert result.stdout == shipped.read_text()


def test_the_dashboard_printed_is_json(cli: CliRunner) -> None:
    dashboard = json.loads(invoke(cli, "deploy", "grafana-dashboard").stdout)
    assert dashboard["title"] == "conveyor"


def test_the_config_is_written_with_the_rules_it_names(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "prometheus"
    result = invoke(cli, "deploy", "prometheus-config", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["alerts.yml", "prometheus.yml"]
    assert (out / "prometheus.yml").read_text() == CONFIG.read_text()
    assert (out / "alerts.yml").read_text() == ALERTS.read_text()
    assert f"wrote {out / 'alerts.yml'}" in result.stderr


def test_all_files_are_written_and_an_edited_one_is_kept(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "monitoring"
    assert invoke(cli, "deploy", "all", "--out", str(out)).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "alerts.yml",
        "conveyor.json",
        "prometheus.yml",
    ]
    assert invoke(cli, "deploy", "all", "--out", str(out)).exit_code == 0  # unchanged: fine
    (out / "alerts.yml").write_text("# tuned\n")
    refused = invoke(cli, "deploy", "prometheus-rules", "--out", str(out))
    assert refused.exit_code == 2
    assert "alerts.yml exists and differs; add --force" in refused.output
    assert (out / "alerts.yml").read_text() == "# tuned\n"
    forced = invoke(cli, "deploy", "prometheus-rules", "--out", str(out), "--force")
    assert forced.exit_code == 0
    assert (out / "alerts.yml").read_text() == ALERTS.read_text()


def test_all_needs_a_folder(cli: CliRunner) -> None:
    result = invoke(cli, "deploy", "all")
    assert result.exit_code == 2
    assert "give --out DIR" in result.output


def test_the_repository_deploy_folder_is_the_shipped_one() -> None:
    # one copy of the files: deploy/ links to the package data, so they cannot diverge
    assert (REPO / "deploy").is_symlink()
    assert (REPO / "deploy").resolve() == DEPLOY
