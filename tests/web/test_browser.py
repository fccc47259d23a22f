"""`kinevid serve` in a real browser: the server runs in a subprocess on 127.0.0.1 with the tiny random
pipelines, headless Chromium (Debian's `chromium` + `chromium-driver`, driven by selenium) fills the forms,
and the test checks the playable videos, the downloads and the error text of a bad upload.

Marked `web` (outside the default suite; CI runs `pytest -m web` after `scripts/install_browser.sh`). Set
`KINEVID_WEB_SCREENSHOT=PATH` to also save the finished text -> video page there (the README's picture).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.web
pytest.importorskip("gradio")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from kinevid.motion import Motion  # noqa: E402
from kinevid.render.video import read_video, write_video  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("needs Debian's chromium and chromium-driver (scripts/install_browser.sh)", allow_module_level=True)

START_TIMEOUT = 120.0  # s, importing gradio and torch on a busy machine
RUN_TIMEOUT = 180.0  # s, one request of the tiny pipelines


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    """The URL of a `kinevid serve` subprocess (stopped after the module)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, "-m", "kinevid.cli.main", "serve", "--port", str(port), "--model-dir", str(model_dir)]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"kinevid serve did not start:\n{log.read_text()}")
        time.sleep(0.5)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000"):
        options.add_argument(argument)
    options.add_argument("--autoplay-policy=no-user-gesture-required")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(server, browser):
    browser.get(server)
    WebDriverWait(browser, 60).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "button[role='tab']"))
    return browser


def _open_tab(driver, label: str, run_button: str) -> None:
    """Click the tab `label` and wait for its form (Gradio renders a tab's contents when it is first shown)."""
    for button in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']"):
        if button.text.strip() == label:
            button.click()
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, run_button))
            return
    raise AssertionError(f"no tab {label!r}: {[b.text for b in driver.find_elements(By.CSS_SELECTOR, 'button')]}")


def _fill(driver, elem_id: str, text: str) -> None:
    field = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} textarea, #{elem_id} input")
    field.clear()
    field.send_keys(text)


def _playable_video(driver, elem_id: str) -> dict:
    """Wait until the `<video>` in `#elem_id` has loaded metadata; return its src, duration and size."""
    script = f"""
        const video = document.querySelector('#{elem_id} video');
        if (!video || !video.currentSrc || video.readyState < 1) return null;
        return {{src: video.currentSrc, duration: video.duration, width: video.videoWidth,
                 height: video.videoHeight, error: video.error ? video.error.code : null}};
    """
    return WebDriverWait(driver, RUN_TIMEOUT).until(lambda d: d.execute_script(script))


def _download_links(driver, elem_id: str) -> dict[str, str]:
    """File name -> URL of the download links in `#elem_id`."""
    WebDriverWait(driver, RUN_TIMEOUT).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#{elem_id} a[href]"))
    hrefs = [link.get_attribute("href") for link in driver.find_elements(By.CSS_SELECTOR, f"#{elem_id} a[href]")]
    return {href.rsplit("/", 1)[-1]: href for href in hrefs}


def _fetch(url: str, path: Path) -> Path:
    with urllib.request.urlopen(url, timeout=30) as response:
        path.write_bytes(response.read())
    return path


def _check_downloads(links: dict[str, str], tmp_path: Path, expected: set[str]) -> Motion:
    names = set(links)
    assert expected <= names, names
    fetched = {name: _fetch(url, tmp_path / name) for name, url in links.items()}
    motion = Motion.load(fetched["motion.npz"])
    assert Motion.load(fetched["motion.bvh"]).num_frames == motion.num_frames
    for name in names & {"video.mp4", "mannequin.mp4", "grid.mp4"}:
        assert len(read_video(fetched[name])) == motion.num_frames, name
    return motion


def _wait_idle(driver, elem_id: str) -> None:
    """Wait until the run's result text appears in `#elem_id` (the summary box)."""
    WebDriverWait(driver, RUN_TIMEOUT).until(lambda d: "foot_skating_ratio" in d.find_element(By.ID, elem_id).text)


def test_text_to_motion(page, tmp_path):
    _open_tab(page, "text -> motion (fast)", "t2m-run")
    _fill(page, "t2m-prompt", "a person walks forward")
    _fill(page, "t2m-seconds", "1")
    page.find_element(By.ID, "t2m-run").click()
    _wait_idle(page, "t2m-summary")
    for view in ("t2m-mannequin", "t2m-skeleton"):
        video = _playable_video(page, view)
        assert video["error"] is None and video["duration"] > 0 and video["width"] > 0, video
    motion = _check_downloads(_download_links(page, "t2m-files"), tmp_path, {"motion.npz", "motion.bvh"})
    assert motion.num_frames == round(motion.fps)
    assert page.find_element(By.CSS_SELECTOR, "#t2m-plot img").get_attribute("naturalWidth") != "0"
    page.save_screenshot(str(tmp_path / "text_to_motion.png"))


def test_text_to_video(page, tmp_path):
    _open_tab(page, "text -> video + motion", "t2v-run")
    _fill(page, "t2v-prompt", "a man in a green shirt walks forward")
    page.find_element(By.ID, "t2v-run").click()
    _wait_idle(page, "t2v-summary")
    for view in ("t2v-video", "t2v-skeleton", "t2v-mannequin"):
        video = _playable_video(page, view)
        assert video["error"] is None and video["duration"] > 0 and (video["width"], video["height"]) == (32, 32)
    downloads = _download_links(page, "t2v-files")
    motion = _check_downloads(downloads, tmp_path, {"video.mp4", "motion.npz", "motion.bvh"})
    assert motion.num_frames == 5
    assert "pose following (MediaPipe" in page.find_element(By.ID, "t2v-summary").text
    page.save_screenshot(str(tmp_path / "text_to_video.png"))
    if os.environ.get("KINEVID_WEB_SCREENSHOT"):
        page.save_screenshot(os.environ["KINEVID_WEB_SCREENSHOT"])


def _error_text(driver) -> str:
    """The text of Gradio's error toasts."""
    toasts = driver.find_elements(By.CSS_SELECTOR, ".toast-body")
    return " ".join(toast.text for toast in toasts)


def test_a_bad_upload_shows_the_error_not_a_traceback(page, tmp_path):
    bad = tmp_path / "holiday.npz"
    bad.write_bytes(b"these bytes are not a motion")
    _open_tab(page, "motion -> video", "m2v-run")
    page.find_element(By.CSS_SELECTOR, "#m2v-motion input[type='file']").send_keys(str(bad))
    WebDriverWait(page, 60).until(lambda d: "holiday" in d.find_element(By.ID, "m2v-motion").text)
    page.find_element(By.ID, "m2v-run").click()
    WebDriverWait(page, RUN_TIMEOUT).until(lambda d: "holiday.npz: not a motion file" in _error_text(d))
    message = _error_text(page)
    assert "Traceback" not in message and "/tmp" not in message, message  # one line, named as uploaded
    page.save_screenshot(str(tmp_path / "bad_upload.png"))


@pytest.mark.filterwarnings("ignore:.*looks too high for the motion")  # a random EchoMotion
def test_video_to_motion(page, tmp_path):
    clip = write_video(
        np.random.default_rng(0).integers(0, 255, (9, 32, 32, 3), dtype=np.uint8), tmp_path / "clip.mp4", 16
    )
    _open_tab(page, "video -> motion", "v2m-run")
    page.find_element(By.CSS_SELECTOR, "#v2m-video-file input[type='file']").send_keys(str(clip))
    WebDriverWait(page, 60).until(lambda d: "clip" in d.find_element(By.ID, "v2m-video-file").text)
    page.find_element(By.ID, "v2m-run").click()
    _wait_idle(page, "v2m-summary")
    for view in ("v2m-video", "v2m-mannequin"):
        video = _playable_video(page, view)
        assert video["error"] is None and video["duration"] > 0, video
    motion = _check_downloads(_download_links(page, "v2m-files"), tmp_path, {"video.mp4", "motion.npz", "motion.bvh"})
    assert motion.num_frames == 9
    assert "captured motion of clip.mp4" in page.find_element(By.ID, "v2m-summary").text
