"""conveyor's side of ``serving.py``: register the model, swap it under load, check answers.

Runs in this repository's venv, with ``CONVEYOR_HOME`` selecting the store:

  python bench/_serving_conveyor.py register              # v1 (100 trees) -> production
  python bench/_serving_conveyor.py swap --trees 50       # fit, print "ready", wait for a line
                                                          # on stdin, register + promote
  python bench/_serving_conveyor.py check URL ROWS_JSON   # /predict answers = local model's

The model is the peers' (``shared/bench/serving/train.py``): a
``RandomForestClassifier(n_estimators=100, random_state=0)`` fitted on the numpy arrays of
``load_breast_cancer``, so the server takes positional rows of 30 floats.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

NAME = "bc"
ALIAS = "production"


def fit(trees: int) -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_breast_cancer(return_X_y=True)
    return RandomForestClassifier(n_estimators=trees, random_state=0).fit(X, y), X


def register_and_promote(model: Any, X: Any) -> dict[str, Any]:
    import conveyor as cv

    t0 = time.perf_counter()
    version = cv.models.register(NAME, model, reference=X).version
    t1 = time.perf_counter()
    cv.models.promote(NAME, version, ALIAS, reason="serving benchmark")
    t2 = time.perf_counter()
    return {
        "name": NAME,
        "alias": ALIAS,
        "version": version,
        "register_s": round(t1 - t0, 3),
        "promote_s": round(t2 - t1, 3),
        "promoted_at": time.time(),  # wall clock, to compare with the server's switch
    }


def cmd_register(a: argparse.Namespace) -> int:
    model, X = fit(a.trees)
    print(json.dumps({"trees": a.trees, **register_and_promote(model, X)}), flush=True)
    return 0


def cmd_swap(a: argparse.Namespace) -> int:
    # Import and fit before the signal, so the swap lands when the caller asks for it.
    model, X = fit(a.trees)
    import conveyor  # noqa: F401

    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps({"trees": a.trees, **register_and_promote(model, X)}), flush=True)
    return 0


def post(url: str, body: object) -> tuple[int, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:300]


def cmd_check(a: argparse.Namespace) -> int:
    """Every request format conveyor's benchmark relies on answers the local model's labels."""
    import conveyor as cv

    base = a.url.rstrip("/")
    data = json.loads(Path(a.rows_json).read_text())
    rows: list[list[float]] = data["rows"]
    local = [int(v) for v in cv.models.load(f"{NAME}@{ALIAS}").predict(rows)]  # type: ignore[attr-defined]
    columns = [str(i) for i in range(len(rows[0]))]
    ok = True
    if local != data["expected"]:
        # same data, parameters and seed as the peers' train.py: the labels must agree
        ok = False
        print(f"conveyor: local model {local} != peers' model {data['expected']}")

    def labels(path: str, body: object, key: str = "predictions") -> list[int] | str:
        status, answer = post(base + path, body)
        if status != 200 or not isinstance(answer, dict) or key not in answer:
            return f"HTTP {status}: {answer}"
        return [int(v) for v in answer[key]]

    formats: dict[str, list[int] | str] = {
        "/predict data": labels("/predict", {"data": rows}),
        "/predict columns+data": labels("/predict", {"columns": columns, "data": rows}),
        "/invocations inputs": labels("/invocations", {"inputs": rows}),
    }
    one_by_one: list[int] = []
    for row in rows:
        got = labels("/predict", {"data": [row]})
        if isinstance(got, str):
            formats["/predict one row a request"] = got
            break
        one_by_one += got
    else:
        formats["/predict one row a request"] = one_by_one
    for name, got in formats.items():
        if got != local:
            ok = False
            print(f"conveyor {name}: MISMATCH got={got} expected={local}")
    _, answer = post(base + "/predict", {"data": rows[:1]})
    served = answer.get("version") if isinstance(answer, dict) else None
    print(
        f"conveyor: {'OK' if ok else 'FAILED'} ({len(rows)} rows, {len(formats)} formats, "
        f"serving {NAME} v{served})"
    )
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    reg = sub.add_parser("register")
    reg.add_argument("--trees", type=int, default=100)
    swap = sub.add_parser("swap")
    swap.add_argument("--trees", type=int, default=50)
    check = sub.add_parser("check")
    check.add_argument("url")
    check.add_argument("rows_json")
    a = ap.parse_args()
    return {"register": cmd_register, "swap": cmd_swap, "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
