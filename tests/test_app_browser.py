"""Browser tests of the planners' web app: ``python cli.py app`` as a subprocess on a free local port,
driven in real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, Selenium 4).

The steps share one browser session, in order, as a planner would use the app: load a shipped scenario,
change a community, download the YAML (and ``cli.py run`` accepts it), run and see the figure, compare
two scenarios, compute a power curve, and upload a malformed YAML and see its one-line error. Each page
is saved as a screenshot (into ``PEER_SUPPORT_APP_SCREENSHOTS`` when set, e.g. docs/screenshots, else a
temporary folder). Skipped, with the reason, only where no browser is installed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")
pytest.importorskip("streamlit", reason="streamlit is not installed: pip install -e '.[test]'")
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip(
        f"no browser: {CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver; .ci/run does)",
        allow_module_level=True,
    )

from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# One xdist worker runs the whole browser session (one app, one browser), not one per worker.
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("browser")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "cli.py", "app", "--port", str(port), "--max-reps", "100"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    first = proc.stdout.readline()
    try:
        assert url in first, first  # the command prints the address
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    out = os.environ.get("PEER_SUPPORT_APP_SCREENSHOTS")
    path = Path(out) if out else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(server, downloads):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,3300"):
        opts.add_argument(a)
    opts.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    from selenium.webdriver.chrome.service import Service

    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.get(server)
    try:
        yield d
    finally:
        d.quit()


# --- helpers ----------------------------------------------------------------------------------------
def wait(d, cond, timeout=60, what="condition"):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]).until(
            cond
        )
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


def body_text(d) -> str:
    return d.execute_script("return document.body.innerText")


def wait_text(d, text, timeout=60):
    return wait(d, lambda x: text in body_text(x), timeout, f"text {text!r}")


def idle(d, timeout=60):
    """Until the script has finished its rerun (Streamlit's status widget gone)."""
    time.sleep(0.3)
    wait(d, lambda x: not x.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'), timeout, "the app idle")


def field(d, label):
    return wait(d, lambda x: x.find_element(By.CSS_SELECTOR, f'input[aria-label="{label}"]'), what=f"field {label!r}")


def set_value(d, label, value):
    el = field(d, label)
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(str(value), Keys.ENTER)
    wait(d, lambda x: field(x, label).get_attribute("value") == str(value), what=f"{label} = {value}")
    idle(d)


def button(d, text):
    xp = f'//button[normalize-space(.)="{text}"]'
    el = wait(d, lambda x: x.find_element(By.XPATH, xp), what=f"button {text!r}")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    el.click()


def page(d, title):
    link = wait(d, lambda x: x.find_element(By.XPATH, f'//a[normalize-space(.)="{title}"]'), what=f"page {title}")
    link.click()
    wait(d, lambda x: x.find_element(By.XPATH, f'//h1[normalize-space(.)="{title}"]'), what=f"heading {title}")
    idle(d)


def images(d, decoded=False):
    """Figures on the page (with ``decoded``: only those the browser has loaded and drawn; the page
    is scrolled to the last figure first, since Streamlit loads images as they come into view)."""
    test = "i.complete && i.naturalWidth > 100" if decoded else "i.getAttribute('src')"
    return d.execute_script(
        "const imgs = Array.from(document.querySelectorAll('[data-testid^=\"stImage\"] img'));"
        + ("if (imgs.length) imgs[imgs.length - 1].scrollIntoView({block: 'center'});" if decoded else "")
        + f"return imgs.filter(i => {test}).length"
    )


def figures(d, at_least: int, timeout: float, what: str) -> None:
    """Until the app has put ``at_least`` figures on the page (``timeout``: the computation), then until
    the browser has drawn every one (:func:`all_drawn`)."""
    wait(d, lambda x: images(x) >= at_least, timeout, what)
    all_drawn(d)


def all_drawn(d) -> None:
    """Until every figure on the page is drawn. Now and then headless Chromium leaves an image request
    pending (more often on a busy machine; the app has sent the figure): ask again for the pending ones,
    a few times, before giving up."""
    states = "Array.from(document.querySelectorAll('img')).map(i => [i.complete, i.naturalWidth, i.src.slice(-12)])"
    for attempt in range(4):
        try:
            wait(d, lambda x: images(x, decoded=True) >= images(x), 10 if attempt == 0 else 20, "every figure drawn")
            return
        except AssertionError as exc:
            if attempt == 3:
                raise AssertionError(f"{exc}: {d.execute_script('return ' + states)}") from None
            d.execute_script(
                "document.querySelectorAll('img').forEach(i => { if (!i.complete || !i.naturalWidth) "
                f"i.src = i.src.split('?')[0] + '?again={attempt}'; }})"
            )


def shot(d, path: Path):
    """A screenshot of the page, every figure drawn, cropped to the page's height. The window is tall
    from the start: resizing it makes Streamlit lay the figures out afresh, and headless Chromium then
    leaves some of them unloaded."""
    from PIL import Image

    all_drawn(d)
    d.execute_script("document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    time.sleep(0.5)
    h = d.execute_script(
        "return document.querySelector('[data-testid=\"stMainBlockContainer\"]').getBoundingClientRect().bottom"
    )
    d.save_screenshot(str(path))
    with Image.open(path) as im:  # cropped to the content, 256 colours (small enough for the repository)
        page = im.convert("RGB").crop((0, 0, im.width, min(im.height, int(h) + 20)))
        page.quantize(256).save(path, optimize=True)


# --- the planner's session -------------------------------------------------------------------------
class TestPlannerSession:
    def test_load_shipped_scenario_and_change_a_community(self, browser):
        d = browser
        wait_text(d, "Scenario later_wave")
        set_value(d, "Consumers", 15)  # an edit the load must undo
        wait_text(d, "23 consumers")
        button(d, "Load shipped scenario")
        wait_text(d, "22 consumers")  # later_wave: 14 + 8 consumers
        idle(d)
        assert field(d, "Consumers").get_attribute("value") == "14"  # Xiangheyuan, the first community
        set_value(d, "Consumers", 20)
        wait_text(d, "28 consumers")

    def test_download_yaml_that_cli_run_accepts(self, browser, downloads, tmp_path, shots):
        d = browser
        shot(d, shots / "scenario.png")
        button(d, "Download scenario YAML")
        path = downloads / "later_wave.yaml"
        wait(d, lambda x: path.exists() and path.stat().st_size > 0, 30, "the downloaded YAML")
        data = yaml.safe_load(path.read_text())
        assert data["communities"][0]["consumers"] == 20
        r = subprocess.run(
            [
                sys.executable,
                "cli.py",
                "run",
                str(path),
                "--reps",
                "2",
                "--workers",
                "1",
                "--no-analysis",
                "-q",
                "--out",
                str(tmp_path / "out"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        consumers = (tmp_path / "out" / "consumers.csv").read_text().splitlines()
        assert sum(1 for line in consumers[1:] if ",Xiangheyuan," in line) == 2 * 20  # 2 replications x 20

    def test_run_shows_the_figures(self, browser, shots):
        d = browser
        page(d, "Run")
        wait_text(d, "Scenario later_wave: 2 communities")
        set_value(d, "Replications (at most 100: PEER_SUPPORT_APP_MAX_REPS)", 20)
        button(d, "Run")
        figures(d, 1, 60, "the first figure")
        wait_text(d, "Results: later_wave, 20 replications", 120)
        wait(d, lambda x: images(x) >= 8, 30, "the eight figures")
        wait_text(d, "Planning outputs", 30)
        idle(d)
        text = body_text(d)
        for title in ("Sessions per month", "Retention", "Completion and attendance", "Answers at follow-up", "Costs:"):
            assert title in text
        shot(d, shots / "run.png")

    def test_compare_two_scenarios(self, browser, shots):
        d = browser
        page(d, "Compare")
        set_value(d, "Replications of each (2 to 100)", 10)
        button(d, "Compare")
        wait_text(d, "compared with", 120)
        figures(d, 1, 30, "the forest plot")
        # baseline: the edited scenario (20 + 8 consumers); the shipped one recruits 14 + 8
        assert "Consumers recruited: 6 fewer in every paired replication" in body_text(d)
        shot(d, shots / "compare.png")

    def test_power_curve(self, browser, shots):
        d = browser
        page(d, "Trial power")
        set_value(d, "Replications (at most 100)", 20)
        set_value(d, "Simulated trials per count", 200)
        button(d, "Compute power")
        figures(d, 1, 240, "the power curve")
        assert "Communities per arm needed" in body_text(d)
        shot(d, shots / "power.png")

    def test_malformed_upload_shows_one_line_error(self, browser, tmp_path):
        d = browser
        page(d, "Scenario")
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: x\ncommunities: [\n  {name: A, wave\n")
        d.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(bad))
        err = wait(
            d,
            lambda x: x.find_element(By.XPATH, '//*[@data-testid="stAlertContentError"]//p[contains(., "bad.yaml")]'),
            what="the upload error",
        )
        assert "\n" not in err.text.strip()
        assert err.text.strip().startswith("bad.yaml: line ") and "malformed YAML" in err.text
        wait_text(d, "28 consumers", 30)  # the scenario being edited is kept


def test_chromium_present_for_ci():
    """.ci/run installs the browser; where it is found, the driver matches it (same major version)."""
    b = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    c = subprocess.run([CHROMEDRIVER, "--version"], capture_output=True, text=True).stdout
    major = [next(t for t in s.split() if t[:1].isdigit()).split(".")[0] for s in (b, c)]
    assert major[0] == major[1], (b, c)
