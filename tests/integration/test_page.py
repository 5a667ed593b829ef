"""The policy page, rendered by a real headless Chromium: it loads cleanly and shows the policy."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image  # Pillow: installed with the test extra's kserve

from tests.processes import run
from tests.timing import seconds

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--window-size=1100,700"]


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    if not CHROMIUM:
        if os.environ.get("POLICY_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (POLICY_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    result = run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                 capture_output=True, text=True, timeout=seconds(120))
    assert result.returncode == 0, result.stderr[-3000:]
    return result


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


def pixels_of(image: Image.Image, colour: str) -> int:
    """Returns how many pixels of `image` are `colour` ('#rrggbb')."""
    wanted = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return sum(count for count, rgb in image.convert("RGB").getcolors(maxcolors=1 << 24) if rgb == wanted)


def test_page_screenshot_is_taken(trained_service, tmp_path):
    screenshot = Path(os.environ.get("POLICY_SCREENSHOT_DIR", tmp_path)) / "policy-page.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)  # an older run's must not pass for this one's
    chromium(trained_service.url + "/", tmp_path / "profile", f"--screenshot={screenshot}")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(screenshot)
    # The policy page drawn, not an error page (JSON as text on white): its background is
    # the page's own, and the lake shows its four holes and the goal in their colours
    # (service/templates/index.html), each cell about 46 x 46 pixels.
    colours = sorted(image.convert("RGB").getcolors(maxcolors=1 << 24), reverse=True)
    assert colours[0][1] == (0xF7, 0xF9, 0xFB), colours[:3]
    assert pixels_of(image, "#2b2f36") > 4 * 30 * 30, "no holes drawn"
    assert pixels_of(image, "#f2c744") > 30 * 30, "no goal drawn"
    print(f"screenshot: {screenshot}")


def test_page_describes_a_policy_without_a_grid(two_env_service, tmp_path):
    # CartPole's observations are a Box; Taxi's 500 states have no layout: no grid for either.
    result = chromium(two_env_service.url + "/", tmp_path / "profile", "--dump-dom")
    dom = result.stdout
    assert 'id="policy-cartpole"' in dom and "serving version 1" in dom
    assert "Box of shape [4] (float32)" in dom and "CartPole-v1" in dom
    assert "data-state=" not in dom  # no grid to draw
    assert "mean return" in dom  # the evaluation, by the metric the manifest names
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
