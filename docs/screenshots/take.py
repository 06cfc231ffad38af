"""Take the README's screenshots from the stores of a real search, in headless Chromium.

    python docs/screenshots/take.py --folder /path/where/make-run-ran

``--folder`` holds ``storage/`` and ``mlruns/`` as ``make run`` leaves them. The script starts
``python -m search.dashboard`` and ``python -m search.ui`` on them, as a user would, and writes:

* ``history.png``: optuna-dashboard's study page (optimisation history, trials);
* ``trial.png``: the best trial's page (parameters, user attributes, artifacts);
* ``mlflow.png``: the MLflow UI comparing the learning curves of several trials' runs.

Chromium is Debian's (``make system``), driven by Playwright.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 1400, "height": 900}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(module: str, folder: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    log = folder / f"{module}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *args],
                                   cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", log.read_text(errors="replace"))
        if match:
            return process, match.group(1)
        if process.poll() is not None:
            raise SystemExit(f"{module} exited: {log.read_text()}")
        time.sleep(0.5)
    raise SystemExit(f"{module} did not start: {log.read_text()}")


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True, help="where make run ran (storage/, mlruns/)")
    parser.add_argument("--study", default="cnn-fashion_mnist")
    parser.add_argument("--trials", type=int, default=4, help="trials compared in the MLflow UI")
    args = parser.parse_args()
    folder = args.folder.resolve()
    import optuna
    from playwright.sync_api import sync_playwright

    study = optuna.load_study(study_name=args.study, storage=f"sqlite:///{folder}/storage/optuna.db")
    best = study.best_trial
    board, board_url = _start("search.dashboard", folder)
    mlflow, mlflow_url = _start("search.ui", folder)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(120_000)
            page.goto(f"{board_url}dashboard/studies/{study._study_id}")
            page.get_by_text("History").first.wait_for()
            page.wait_for_timeout(3000)
            page.screenshot(path=str(HERE / "history.png"))
            page.goto(f"{board_url}dashboard/studies/{study._study_id}/trials?numbers={best.number}")
            page.get_by_role("heading", name=re.compile(f"Trial {best.number}")).wait_for()
            page.get_by_role("heading", name="Artifacts").scroll_into_view_if_needed()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(HERE / "trial.png"), full_page=True)
            by_name = f"{mlflow_url}ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name={args.study}"
            with urllib.request.urlopen(by_name, timeout=60) as response:
                experiment = json.loads(response.read())
            experiment_id = experiment["experiment"]["experiment_id"]
            runs = _post(f"{mlflow_url}ajax-api/2.0/mlflow/runs/search", {
                "experiment_ids": [experiment_id], "filter": "attributes.status = 'FINISHED' and tags.`optuna.trial_state` = 'COMPLETE'",
                "order_by": ["metrics.val_accuracy DESC"], "max_results": args.trials})["runs"]  # fmt: skip
            ids = [run["info"]["run_id"] for run in runs]
            page.goto(f"{mlflow_url}#/compare-runs?runs={json.dumps(ids)}&experiments={json.dumps([experiment_id])}")
            page.get_by_text("val_accuracy").first.wait_for()
            page.wait_for_timeout(4000)
            page.screenshot(path=str(HERE / "mlflow.png"), full_page=True)
            browser.close()
    finally:
        for process in (board, mlflow):
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    print("wrote", ", ".join(str(HERE / n) for n in ("history.png", "trial.png", "mlflow.png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
