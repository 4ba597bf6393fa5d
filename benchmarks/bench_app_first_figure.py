"""Benchmark of the web app (run by hand, not in CI); prints ONE JSON line.

    python benchmarks/bench_app_first_figure.py [--reps 20] [--scenario later_wave]

Starts ``python cli.py app`` on a free port, opens it in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, Selenium 4), goes to the Run page of the shipped scenario and clicks Run:
``first_figure_s`` is the time from the click to the first drawn figure (target: <= 10 s for 20
replications of later_wave on 2 cores, worker pool started by the click), ``results_s`` the time to
the full results.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
IMAGES = (
    "return Array.from(document.querySelectorAll('[data-testid^=\"stImage\"] img'))"
    ".filter(i => i.complete && i.naturalWidth > 100).length"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--scenario", default="later_wave")
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = subprocess.Popen(
        [sys.executable, "cli.py", "app", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    d = None
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        wait = WebDriverWait(d, 120, poll_frequency=0.05)
        d.get(url)
        wait.until(lambda x: "Load shipped scenario" in x.execute_script("return document.body.innerText"))
        box = wait.until(lambda x: x.find_element(By.CSS_SELECTOR, 'input[aria-label="Shipped scenario"]'))
        box.send_keys(a.scenario, Keys.ENTER)
        d.find_element(By.XPATH, '//button[normalize-space(.)="Load shipped scenario"]').click()
        time.sleep(1.5)
        d.find_element(By.XPATH, '//a[normalize-space(.)="Run"]').click()
        reps = wait.until(lambda x: x.find_element(By.CSS_SELECTOR, 'input[aria-label^="Replications"]'))
        reps.send_keys(Keys.CONTROL, "a")
        reps.send_keys(str(a.reps), Keys.ENTER)
        time.sleep(1.5)
        t0 = time.perf_counter()
        d.find_element(By.XPATH, '//button[normalize-space(.)="Run"]').click()
        wait.until(lambda x: x.execute_script(IMAGES) >= 1)
        first = time.perf_counter() - t0
        wait.until(lambda x: "Results:" in x.execute_script("return document.body.innerText"))
        done = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "scenario": a.scenario,
                    "replications": a.reps,
                    "cores": os.cpu_count(),
                    "first_figure_s": round(first, 2),
                    "results_s": round(done, 2),
                }
            )
        )
    finally:
        if d is not None:
            d.quit()
        os.killpg(srv.pid, signal.SIGTERM)
        srv.wait(timeout=20)


if __name__ == "__main__":
    main()
