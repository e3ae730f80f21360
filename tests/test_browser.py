"""The report and the live page in a real browser: Debian's chromium, headless, driven by playwright.

No browser is downloaded: playwright only drives the system's chromium (``executable_path``), which
``make test`` installs from Debian's packages where it can (tests/ensure_chromium.sh).
"""

import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import TrainConfig
from gankit.objectives import OBJECTIVES
from gankit.report.html import write_report
from gankit.report.live import LiveField, LiveServer, field_2d
from gankit.rundir import LIVE
from gankit.runs.assemble import resume, train

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "no chromium on this machine: `apt-get install chromium` (make test does it as root on CI)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")

TINY = dict(
    data="ring", objective="ns", steps=20, batch_size=32, width=16, depth=1, log_every=5,
    eval_every=10, eval_samples=100, sample_every=10, checkpoint_every=20, device="cpu",
)  # fmt: skip
QUIET = ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", *QUIET]
        )
        yield browser
        browser.close()


class Visit:
    """A page plus everything it complained about and every request it made."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.problems, self.requests = [], []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(m.text))
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(url)

    def data(self, selector: str, key: str) -> str:
        return self.page.eval_on_selector(selector, f"element => element.dataset.{key}")

    def shot(self, selector: str) -> np.ndarray:
        png = self.page.locator(selector).screenshot()
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def colours(image: np.ndarray) -> int:
    return len(np.unique(image.reshape(-1, 3), axis=0))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "finished"
    train(TrainConfig(**TINY), out)
    return out


def test_report_opens_offline_without_errors_and_shows_its_plots(browser, finished_run):
    path = write_report(finished_run, eval_samples=100)
    visit = Visit(browser, path.as_uri())
    assert visit.problems == []
    assert visit.requests == [path.as_uri()]  # everything else is inside the file
    headings = visit.page.locator("h2").all_inner_texts()
    assert "Training curves" in headings and "Evaluation of the final generator" in headings
    assert visit.page.locator("#config td").count() > 20 and visit.page.locator("#evaluation").count() == 1
    widths = visit.page.eval_on_selector_all("img", "images => images.map(i => i.naturalWidth)")
    assert len(widths) == 4 and min(widths) > 0  # curves, quality, two sample pictures: all decoded
    assert colours(visit.shot("#curves")) > 50  # a drawn plot, not a blank box


def test_live_page_draws_points_heat_map_and_arrows_and_moves_with_training(browser, tmp_path):
    out = tmp_path / "live"
    train(TrainConfig(**TINY), out, callbacks=[LiveField(out)])
    with LiveServer(out) as server:
        visit = Visit(browser, server.url)
        visit.page.wait_for_function("document.body.dataset.fieldStep === '20'")
        assert visit.data("#field", "kind") == "2d"
        assert visit.data("#field", "points") == "256" and int(visit.data("#field", "arrows")) > 0
        assert int(visit.data("#chart-loss", "points")) == 8  # 4 rows, D and G
        before = visit.shot("#field")
        assert colours(before) > 100  # heat map shades, points and arrows
        fake_before = visit.page.evaluate("gankitLive.field.fake")
        resume(out, steps=40, callbacks=[LiveField(out)])  # training goes on; the page polls
        visit.page.wait_for_function("document.body.dataset.fieldStep === '40'")
        visit.page.wait_for_function("document.body.dataset.step === '40'")
        after = visit.shot("#field")
        assert np.abs(after.astype(int) - before).sum(axis=2).astype(bool).mean() > 0.01  # it moved
        assert visit.page.evaluate("gankitLive.field.fake") != fake_before
        assert int(visit.data("#chart-loss", "points")) == 16
        assert visit.problems == [] and visit.data("body", "errors") == "0"
        assert all(url.startswith(server.url) for url in visit.requests)


def test_live_page_draws_critics_1d_densities_and_falls_back_to_samples(browser, tmp_path, finished_run):
    line = tmp_path / "line"
    config = TrainConfig(**{**TINY, "data": "gaussian-1d", "objective": "wgan-gp", "steps": 10})
    train(config, line, callbacks=[LiveField(line)])
    with LiveServer(line) as server:
        visit = Visit(browser, server.url)
        visit.page.wait_for_function("document.body.dataset.fieldStep === '10'")
        assert visit.data("#field", "kind") == "1d" and colours(visit.shot("#field")) > 10
        assert "critic value" in visit.page.inner_text("#legend")
        # A 2-D critic: its values have no fixed range, the colours span its minimum to its maximum.
        critic = torch.nn.Linear(2, 1)
        torch.nn.init.constant_(critic.weight, 0.7)  # slope |w| = 1: every arrow clearly drawn
        real = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
        field = field_2d(torch.nn.Identity(), lambda x: critic(x).squeeze(-1), OBJECTIVES["wgan"], real, real)
        (line / LIVE).write_text(json.dumps(field | {"step": 11}))
        visit.page.wait_for_function("document.body.dataset.fieldStep === '11'")
        assert "critic value" in visit.page.inner_text("#legend") and visit.data("#field", "arrows") == "64"
        assert colours(visit.shot("#field")) > 100 and visit.problems == []
    with LiveServer(finished_run) as server:  # trained without --live: no live.json
        visit = Visit(browser, server.url)
        visit.page.wait_for_function("document.getElementById('sample').naturalWidth > 0")
        assert "train with --live" in visit.page.inner_text("#legend")
        assert visit.page.is_hidden("#field")
        (finished_run / LIVE).write_text(json.dumps({"kind": "images", "step": 20}))  # an image run
        visit.page.wait_for_function("document.body.dataset.fieldStep === '20'")
        assert visit.page.inner_text("#picture-title") == "Newest samples"
        assert visit.page.is_visible("#sample") and visit.problems == []
    (finished_run / LIVE).unlink()
