"""End-to-end tests of the web page in real headless Chromium (Debian ``chromium`` + Playwright).

The server is a real ``emorec serve`` process on a free localhost port. Chromium's
fake media devices play a synthetic webcam video (a real face photo) and a
synthetic microphone recording. Screenshots go to each test's tmp_path.

Without Chromium these tests FAIL (CI installs it via .ci/run); set
EMOREC_SKIP_BROWSER=1 to skip them explicitly.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .helpers import EXAMPLE_PHOTO, photo_with_face, serve_subprocess, speech_like, wav_bytes, write_y4m
from .models import server_model_args

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000


def chromium_path() -> str:
    if os.environ.get("EMOREC_SKIP_BROWSER") == "1":
        pytest.skip("EMOREC_SKIP_BROWSER=1: browser tests skipped on request")
    candidates = [os.environ.get("EMOREC_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"]
    for path in candidates:
        if path and Path(path).is_file():
            return path
    pytest.fail("Chromium not found (looked for $EMOREC_CHROMIUM, chromium on PATH, /usr/bin/chromium): "
                "install it with `apt-get install -y chromium` (.ci/run does), or set "
                "EMOREC_SKIP_BROWSER=1 to skip the browser tests explicitly")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("browser_media")
    return {
        "video": write_y4m(folder / "webcam.y4m", photo_with_face(640, 480)),
        "mic": _write(folder / "mic.wav", wav_bytes(speech_like(6.0, sr=48000), sr=48000)),
        "clip": _write(folder / "speech.wav", wav_bytes(speech_like(4.0))),
        "fake_jpg": _write(folder / "holiday.jpg", b"This is a text file, renamed to look like a photo.\n" * 10),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    args = server_model_args(tmp_path_factory.mktemp("browser_models"))
    with serve_subprocess(args) as (url, _proc):
        yield url


@pytest.fixture(scope="module")
def browser(media):
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install playwright (the test extra)")
    fake_media = ["--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={media['video']}",
                  f"--use-file-for-fake-audio-capture={media['mic']}"]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS + fake_media)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    context.grant_permissions(["camera", "microphone"], origin=server)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.goto(server + "/")
    pg.problems = problems
    yield pg
    context.close()


def wait_until(page, expression: str, timeout_s: float = TIMEOUT_MS / 1000) -> None:
    """Poll a JS expression from Python: the page's CSP forbids the eval behind wait_for_function."""
    import time

    deadline = time.monotonic() + timeout_s
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            state = page.evaluate("() => [document.getElementById('face-message').textContent, "
                                  "document.getElementById('voice-message').textContent]")
            raise AssertionError(f"timed out waiting for {expression}; page messages: {state}")
        page.wait_for_timeout(100)


def expected_page_errors(problems: list[str]) -> list[str]:
    # Rejected uploads log a failed-resource line; anything else (CSP, exceptions) is a bug.
    return [p for p in problems if "status of 4" not in p and "status of 503" not in p]


def test_page_loads_and_server_is_ready(page, tmp_path):
    page.wait_for_selector("#server-status[data-state=ready]")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert expected_page_errors(page.problems) == []


def test_photo_with_a_face_shows_labelled_box_and_bars(page, server, tmp_path):
    page.set_input_files("#face-file", str(EXAMPLE_PHOTO))
    page.wait_for_selector("#face-results[data-state=done]", state="attached")
    page.screenshot(path=str(tmp_path / "face.png"), full_page=True)

    import httpx

    api = httpx.post(server + "/v1/face", files={"file": ("astronaut.jpg", EXAMPLE_PHOTO.read_bytes())}).json()
    n = len(api["faces"])
    assert n >= 1, "the detector found no face in examples/astronaut.jpg"
    face = api["faces"][0]
    assert page.get_attribute("#face-canvas", "data-faces") == str(n)
    cards = page.locator(".face-card")
    assert cards.count() == n
    assert cards.first.get_attribute("data-label") == face["label"]
    assert face["label"] in cards.first.inner_text()
    assert cards.first.locator(".bar").count() == len(face["scores"])
    top_bar = cards.first.locator(".bar").first
    assert top_bar.get_attribute("data-label") == face["label"]

    # The box is really drawn: the canvas pixel on the box's bottom edge has the label's colour.
    x, y, w, h = face["box"]
    drawn = page.evaluate(
        """([x, y]) => {
            const canvas = document.getElementById('face-canvas');
            const scale = canvas.width / %d;
            const d = canvas.getContext('2d').getImageData(Math.round(x * scale), Math.round(y * scale), 1, 1).data;
            const swatch = getComputedStyle(document.querySelector('.face-card .swatch')).backgroundColor;
            return {pixel: [d[0], d[1], d[2]], swatch};
        }""" % _image_width(EXAMPLE_PHOTO),
        [x + w // 2, y + h],
    )
    expected = [int(v) for v in drawn["swatch"].strip("rgba()").split(",")[:3]]
    assert all(abs(a - b) <= 2 for a, b in zip(drawn["pixel"], expected)), drawn
    assert expected_page_errors(page.problems) == []


def _image_width(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as img:
        return img.size[0]


def test_text_file_renamed_jpg_shows_rejection(page, media, tmp_path):
    page.set_input_files("#face-file", str(media["fake_jpg"]))
    message = page.locator("#face-message[data-kind=error]")
    message.wait_for()
    page.screenshot(path=str(tmp_path / "rejected.png"), full_page=True)
    text = message.inner_text()
    assert "rejected" in text.lower() and "holiday.jpg" in text and "not an image" in text
    assert page.get_attribute("#face-results", "data-state") == "error"
    assert page.locator(".face-card").count() == 0


def test_photo_without_a_face_says_so(page, tmp_path):
    import cv2
    import numpy as np

    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), gradient)
    page.set_input_files("#face-file", str(path))
    page.wait_for_selector("#face-results[data-state=noface]", state="attached")
    assert "No face found" in page.inner_text("#face-message")
    page.screenshot(path=str(tmp_path / "noface.png"), full_page=True)


def test_audio_clip_shows_emotion_bars_and_timeline(page, media, tmp_path):
    page.set_input_files("#voice-file", str(media["clip"]))
    page.wait_for_selector("#voice-results[data-state=done]", state="attached")
    page.screenshot(path=str(tmp_path / "voice.png"), full_page=True)
    overall = page.locator(".voice-overall")
    assert overall.count() == 1
    label = overall.get_attribute("data-label")
    assert label and label in overall.inner_text()
    assert page.locator(".voice-overall .bar").count() >= 2
    assert page.locator(".timeline .segment").count() >= 1
    assert expected_page_errors(page.problems) == []


def test_webcam_snapshot_and_live_mode(page, tmp_path):
    page.click("#camera-start")
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    page.click("#camera-snapshot")
    page.wait_for_selector("#face-results[data-state=done]", state="attached")
    assert int(page.get_attribute("#face-canvas", "data-faces")) >= 1
    page.click("#camera-live")
    wait_until(page, "Number(document.getElementById('camera-overlay').dataset.faces) >= 1")
    assert page.get_attribute("#camera-live", "aria-pressed") == "true"
    page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
    page.click("#camera-live")
    page.click("#camera-stop")
    assert page.is_hidden("#camera-view")
    assert expected_page_errors(page.problems) == []


def test_microphone_recording_is_analysed(page, tmp_path):
    page.click("#mic-record")
    wait_until(page, "parseFloat(document.getElementById('mic-timer').textContent) >= 3")
    with page.expect_response(lambda r: r.url.endswith("/v1/voice")) as response_info:
        page.click("#mic-stop")
    response = response_info.value
    assert response.status == 200, response.text()
    page.wait_for_selector("#voice-results[data-state=done], #voice-results[data-state=noresult]", state="attached")
    page.screenshot(path=str(tmp_path / "recording.png"), full_page=True)
    body = response.json()
    assert body["path"] == "recording.wav"
    assert expected_page_errors(page.problems) == []


def test_denied_camera_and_microphone_are_explained(browser, server, tmp_path):
    context = browser.new_context()  # no permissions granted: Chromium denies the prompt
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server + "/")
    page.click("#camera-start")
    page.wait_for_selector("#face-message[data-kind=error]")
    assert "denied" in page.inner_text("#face-message").lower()
    page.click("#mic-record")
    page.wait_for_selector("#voice-message[data-kind=error]")
    assert "denied" in page.inner_text("#voice-message").lower()
    page.screenshot(path=str(tmp_path / "denied.png"), full_page=True)
    context.close()


def test_busy_server_is_explained(page, tmp_path):
    body = json.dumps({"error": "busy", "detail": "the server is busy; retry in a moment"})
    page.route("**/v1/face", lambda route: route.fulfill(
        status=503, body=body, content_type="application/json", headers={"Retry-After": "3"}))
    page.set_input_files("#face-file", str(EXAMPLE_PHOTO))
    page.wait_for_selector("#face-message[data-kind=error]")
    assert "busy" in page.inner_text("#face-message") and "3 s" in page.inner_text("#face-message")
    page.screenshot(path=str(tmp_path / "busy.png"), full_page=True)


def test_api_docs_render_offline(browser, server, tmp_path):
    # The browser here reaches no CDN: the page renders only from the server's own files.
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(server + "/docs")
    pg.wait_for_selector("#operations-predict-predict_face_v1_face_post")
    pg.screenshot(path=str(tmp_path / "docs.png"))
    context.close()
