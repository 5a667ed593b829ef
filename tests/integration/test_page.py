"""The policy page, rendered by a real headless Chromium: it loads cleanly and shows the policy."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--window-size=1100,700"]


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    if not CHROMIUM:
        if os.environ.get("LAKE_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (LAKE_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=120)


def test_page_shows_the_lake_with_greedy_arrows_and_versions(trained_service, tmp_path):
    result = chromium(trained_service.url + "/", tmp_path / "profile", "--dump-dom")
    dom = result.stdout
    assert 'id="policy-frozenlake-4x4"' in dom and "serving version 1" in dom
    assert dom.count("data-state=") == 16
    assert dom.count('class="H"') == 4 and dom.count('class="G"') == 1
    table = trained_service.get("/policy").json()
    arrows = {"LEFT": "←", "DOWN": "↓", "RIGHT": "→", "UP": "↑"}
    start = table["cells"][0]
    assert f"{arrows[start['greedy_action_name']]}</td>" in dom.split('data-state="0"')[1].split("</td>")[0] + "</td>"
    assert "V=" in dom and "LEFT 0." in dom  # probabilities on hover (title attribute)
    assert "<polyline" in dom  # the training curve
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console


def test_page_screenshot_is_taken(trained_service, tmp_path):
    screenshot = Path(os.environ.get("LAKE_SCREENSHOT_DIR", tmp_path)) / "policy-page.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    chromium(trained_service.url + "/", tmp_path / "profile", f"--screenshot={screenshot}")
    assert screenshot.exists() and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000  # a drawn page, not a blank one
    print(f"screenshot: {screenshot}")


def test_page_describes_a_policy_without_a_grid(tmp_path, start_service):
    from tests.helpers import publish_box_models, random_box_models

    root = tmp_path / "artifacts"
    publish_box_models(root, "cartpole", *random_box_models())
    service = start_service(root)
    service.wait_ready()
    result = chromium(service.url + "/", tmp_path / "profile", "--dump-dom")
    dom = result.stdout
    assert 'id="policy-cartpole"' in dom and "serving version 1" in dom
    assert "Box of shape [4] (float32)" in dom and "CartPole-v1" in dom
    assert "data-state=" not in dom  # no grid to draw
    assert "mean return" in dom  # the evaluation, by the metric the manifest names
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
