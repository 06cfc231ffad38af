"""Take the README's screenshots from the stores of a real search, in headless Chromium.

    python docs/screenshots/take.py --folder /path/where/make-run-ran

``--folder`` holds ``storage/`` and ``mlruns/`` as ``make run`` leaves them. The script starts
``python -m search.dashboard`` and ``python -m search.ui`` on them, as a user would, and writes:

* ``history.png``: optuna-dashboard's study page (optimisation history, trials);
* ``trial.png``: the best trial's page (parameters, user attributes, artifacts);
* ``mlflow.png``: the MLflow UI's chart view: every trial's per-epoch curves side by side.

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
import urllib.parse
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True, help="where make run ran (storage/, mlruns/)")
    parser.add_argument("--study", default="cnn-fashion_mnist")
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
            page.locator(".js-plotly-plot").first.wait_for()  # the optimisation history
            page.wait_for_timeout(3000)
            page.screenshot(path=str(HERE / "history.png"))
            page.goto(f"{board_url}dashboard/studies/{study._study_id}/trials?numbers={best.number}")
            page.get_by_role("heading", name=re.compile(f"Trial {best.number}")).wait_for()
            page.set_viewport_size({"width": 1400, "height": 1700})  # down to the artifacts, unscrolled
            page.get_by_role("heading", name="Artifacts").wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(HERE / "trial.png"))
            page.set_viewport_size(VIEWPORT)
            by_name = f"{mlflow_url}ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name={args.study}"
            with urllib.request.urlopen(by_name, timeout=60) as response:
                experiment = json.loads(response.read())
            experiment_id = experiment["experiment"]["experiment_id"]
            # the experiment's runs as charts: every trial's per-epoch curves, side by side
            trials = urllib.parse.quote("attributes.run_name LIKE 'trial-%'")
            page.goto(f"{mlflow_url}#/experiments/{experiment_id}/runs?compareRunsMode=CHART&searchFilter={trials}")
            page.get_by_text("search 20").first.wait_for()
            page.wait_for_timeout(3000)
            # expand the invocation's run to show its trials' runs (the "+" before its name)
            box = page.get_by_text("search 20").first.bounding_box()
            page.mouse.click(box["x"] - 32, box["y"] + box["height"] / 2)
            page.wait_for_timeout(2000)
            search_box = page.get_by_placeholder("Search metric charts")
            search_box.fill("val_accuracy")  # the validation curves
            title = page.get_by_text("MLflow Assistant")
            if title.count():  # MLflow 3's assistant panel: its close button ends the title bar
                bar = title.first.bounding_box()
                page.mouse.click(VIEWPORT["width"] - 36, bar["y"] + bar["height"] / 2)
            page.wait_for_timeout(8000)
            page.screenshot(path=str(HERE / "mlflow.png"))
            browser.close()
    finally:
        for process in (board, mlflow):
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    print("wrote", ", ".join(str(HERE / n) for n in ("history.png", "trial.png", "mlflow.png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
