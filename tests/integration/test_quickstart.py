"""``conveyor quickstart`` end to end: the runs, the cache, the new file, the dataset diff,
serving and a hot swap."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quickstart_runs_the_wine_pipeline_and_shows_what_changed(tmp_path: Path) -> None:
    folder = tmp_path / "qs"
    done = subprocess.run(
        [sys.executable, "-c", "from conveyor.cli import main; main()", "quickstart", "--dir",
         str(folder)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "the cleaned table is registered as dataset version wine@1" in out
    # a changed parameter re-runs only training and evaluation
    second = out.split("2. Changing one parameter")[1].split("3. A fourth file")[0]
    assert "clean: cached" in second and "train: succeeded" in second
    # a new file: only its partition is cleaned
    assert "1 of 4 partitions ran, 3 cached" in out
    assert re.search(r"clean\[3\]\s+succeeded\s+new partition", out)
    assert "wine@1 → wine@2" in out
    # tracking and the registry: the model of each run is registered, gated and promoted
    assert "the model is registered as wine@1" in out
    assert "wine: production — → 1" in out
    assert re.search(r"≠\s+n_estimators\s+50\s+200", out)  # runs compared, the change marked
    assert "oob_accuracy" in out and "confusion_matrix.png" in out
    assert "wine@2 predicts cultivars" in out or "wine@1 predicts cultivars" in out
    assert "rows: 134 → 178" in out
    # serving: concurrent requests batched, then a hot swap with no failed request
    served = out.split("7. Serving production over HTTP")[1]
    assert re.search(r"→ 200 \{'predictions': \[\d\]", served)
    assert "400 requests from 16 concurrent clients: 0 failed" in served
    assert re.search(r"\d+ requests answered by versions \[\d, 3\]: 0 failed", served)
    # the closed loop: drift fires the monitor, the webhook arrives, retraining on the new
    # vintage passes the gate, and the server swaps to it with no failed request
    loop = out.split("8. A monitor watches production")[1]
    assert "wine-drift: firing  wine@3" in loop
    assert re.search(r"features drifted .*: alcohol, color_intensity", loop)
    assert "action webhook: succeeded" in loop
    assert "action retrain: succeeded" in loop and "registered_versions=[4]" in loop
    assert "action promote: succeeded" in loop
    assert "the webhook received: monitor=wine-drift version=3" in loop
    assert re.search(
        r"production moved 3 → 4; \d+ requests answered by versions \[3, 4\]: 0 failed", loop
    )
    # the team server: the same store through the API, roles enforced, the rollback audited
    team = out.split("9. Sharing the store with a team")[1].split("10. The same pipeline")[0]
    assert re.search(r"vera's SDK, .* sees 4 runs of wine and wine@4 in production", team)
    assert "vera promotes wine@1 to production → refused: " in team
    assert "vera is a viewer" in team
    assert "ada rolls production back → wine@3 (was wine@4)" in team
    assert "audit log: ada alias.rollback wine@production" in team
    # a local Dask cluster: training and what follows run on its workers, the rest is cached
    cluster = out.split("10. The same pipeline on a Dask cluster")[1]
    assert re.search(r"ran on the cluster: .*train.*; from the local runs' cache: \d+", cluster)
    assert re.search(r"train\s+1\s+tcp://127\.0\.0\.1:\d+\s+succeeded", cluster)
    assert sorted(p.name for p in (folder / "data").iterdir()) == [
        "wine-1.csv", "wine-2.csv", "wine-3.csv", "wine-4.csv", "wine-new-vintage.csv",
    ]  # fmt: skip
