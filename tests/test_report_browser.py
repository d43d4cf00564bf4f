"""report.html in a real browser (slow): Debian's headless chromium driven by selenium through
chromium-driver (no browser download; skipped where either is missing, .ci/run installs
them). The page opens from file:// with no console error, lists one row per image across its
pages, sorting by MAE puts the worst image first, and a click shows the full-size images;
compare's page opens sorted by the per-image difference b - a."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_command

pytestmark = pytest.mark.slow

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.common.by import By  # noqa: E402

N = 130  # three pages of 50


def chromium() -> webdriver.Chrome:
    driver = shutil.which("chromedriver")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not driver or not binary:
        pytest.skip("no chromium/chromedriver (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.add_argument("--window-size=1400,1000")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(driver), options=opts)


def maps_of(root: Path) -> tuple[Path, dict[str, Path]]:
    """``N`` masks of different sizes and two methods' maps: a noisy one and a shifted one."""
    rng = np.random.default_rng(1)
    gt, good, bad = root / "gt", root / "good", root / "bad"
    for d in (gt, good, bad):
        d.mkdir(parents=True)
    for i in range(N):
        h, w = 40 + i % 7, 60 + i % 11
        m = np.zeros((h, w), np.uint8)
        m[5 : h - 5 - i % 9, 8 + i % 13 : w - 6] = 255
        Image.fromarray(m).save(gt / f"im{i:03d}.png")
        noisy = np.clip(m * 0.85 + rng.normal(0, 10 + i % 50, m.shape), 0, 255)
        Image.fromarray(noisy.astype(np.uint8)).save(good / f"im{i:03d}.png")
        Image.fromarray(np.roll(m, 3 + i % 20, axis=1)).save(bad / f"im{i:03d}.png")
    return gt, {"good": good, "bad": bad}


def test_report_in_chromium(tmp_path: Path) -> None:
    gt, methods = maps_of(tmp_path)
    out = tmp_path / "out"
    listing = ", ".join(f"{k}: {v}" for k, v in methods.items())
    run_command(
        "score",
        f"+datasets={{toy: {gt}}}",
        f"+methods={{{listing}}}",
        f"output_dir={out}",
        "progress=false",
        "bootstrap=50",
    )
    rows = [r for r in csv.DictReader(open(out / "per_image.csv")) if r["method"] == "good"]
    worst = max(rows, key=lambda r: float(r["mae"]))["image"]
    # from a copy of the folder, as a user who mails or moves it
    copy = tmp_path / "copied"
    shutil.copytree(out, copy)
    shutil.rmtree(out)
    browser = chromium()
    try:
        browser.get((copy / "report.html").as_uri())
        assert browser.find_elements(By.CSS_SELECTOR, "#images tr.row")

        def shown() -> list[str]:
            return [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#images td.name")]

        names = shown()
        while browser.find_element(By.ID, "next-page").is_enabled():
            browser.find_element(By.ID, "next-page").click()
            names += shown()
        assert len(names) == N and len(set(names)) == N
        header = browser.find_element(By.CSS_SELECTOR, "th[data-sort='m:0:mae']")
        browser.execute_script("arguments[0].scrollIntoView()", header)
        header.click()  # sorting goes back to the first page, worst first
        assert shown()[0] == worst
        browser.find_element(By.CSS_SELECTOR, "#images tr.row").click()
        viewer = browser.find_element(By.ID, "viewer")
        assert viewer.is_displayed() and worst in viewer.text
        time.sleep(0.3)
        images = browser.find_elements(By.CSS_SELECTOR, "#viewer img.full")
        assert len(images) == 5  # mask, and map + errors for each method
        with Image.open(gt / f"{worst}.png") as im:
            size = im.size
        for img in images:  # loaded, at the mask's own size (full size, not a thumbnail)
            natural = browser.execute_script(
                "return [arguments[0].complete, arguments[0].naturalWidth, "
                "arguments[0].naturalHeight]",
                img,
            )
            assert natural == [True, *size], img.get_attribute("src")
        thumbs = browser.find_elements(By.CSS_SELECTOR, "#images img")
        assert thumbs and all(
            browser.execute_script("return arguments[0].naturalWidth", t) > 0 for t in thumbs[:10]
        )
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        browser.quit()


def test_compare_report_in_chromium(tmp_path: Path) -> None:
    """compare's page: sorted by the per-image b - a of MAE (largest first) on opening."""
    gt, methods = maps_of(tmp_path)
    for side, maps in (("a", methods["good"]), ("b", methods["bad"])):
        run_command(
            "score", f"gt_dir={gt}", f"pred_dir={maps}", f"output_dir={tmp_path / side}",
            "progress=false", "ci=null", "plots=false",
        )  # fmt: skip
    out = tmp_path / "cmp"
    run_command(
        "compare", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}", f"output_dir={out}",
        "bootstrap=50", "permutations=200",
    )  # fmt: skip
    mae = {
        side: {
            r["image"]: float(r["mae"])
            for r in csv.DictReader(open(tmp_path / side / "per_image.csv"))
        }
        for side in ("a", "b")
    }
    largest = max(mae["a"], key=lambda im: mae["b"][im] - mae["a"][im])
    browser = chromium()
    try:
        browser.get((out / "report.html").as_uri())
        first = browser.find_element(By.CSS_SELECTOR, "#images td.name").text
        assert first == largest
        browser.find_element(By.CSS_SELECTOR, "#images tr.row").click()
        assert len(browser.find_elements(By.CSS_SELECTOR, "#viewer img.full")) == 5
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        browser.quit()
