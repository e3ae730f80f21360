"""``gankit report``: one self-contained HTML file that tells the story of a run."""

import base64
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from gankit.config import TrainConfig, to_dict
from gankit.report import html as report
from gankit.rundir import RunDir, read_metrics
from gankit.runs.assemble import train

TINY = dict(
    data="ring", objective="ns", steps=30, batch_size=32, width=16, depth=1, log_every=5,
    eval_every=10, eval_samples=200, sample_every=10, checkpoint_every=30, device="cpu",
)  # fmt: skip


class Page(HTMLParser):
    """Collects what the tests look at: every src/href, element ids, and the images by id."""

    def __init__(self, text: str):
        super().__init__()
        self.links, self.ids, self.images, self.scripts = [], set(), {}, 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[key] for key in ("src", "href") if key in attrs]
        self.ids.add(attrs.get("id"))
        self.scripts += tag == "script"
        if tag == "img":
            self.images[attrs.get("id") or attrs.get("alt")] = attrs["src"]


def picture(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def red_pixels(image: np.ndarray) -> int:
    """Pixels of the findings' red (#c62828), also where antialiasing blends it with white."""
    r, g, b = image.astype(int).transpose(2, 0, 1)
    return int(((r - g > 50) & (np.abs(g - b) < 25)).sum())  # orange (#e66101) has g >> b


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    train(TrainConfig(**TINY), out)
    return out


def test_report_is_one_self_contained_file_with_every_part(run):
    path = report.write_report(run, eval_samples=200)
    text = path.read_text()
    page = Page(text)
    assert path == run / "report.html"
    assert all(link.startswith("data:") for link in page.links)  # no file, no CDN, no network
    assert "http://" not in text and "https://" not in text and page.scripts == 0
    assert {"curves", "quality", "samples", "evaluation", "config", "verdict"} <= page.ids
    assert picture(page.images["curves"]).std() > 0  # a plot, not a blank square
    assert picture(page.images["quality"]).std() > 0
    assert [name for name in page.images if name.startswith("step_")] == [
        "step_00000010",
        "step_00000020",
        "step_00000030",
    ]
    config = json.loads((run / "config.json").read_text())
    assert all(f"<code>{key}</code>" in text for key in config)
    assert "modes" in text and "w1" in text  # the evaluation table of the final generator


def replayed_as(monkeypatch, *episodes):
    """The doctor's findings come from replaying the monitors over the rows: stand in for it."""
    monkeypatch.setattr("gankit.diagnose.doctor.replay", lambda *args, **kwargs: list(episodes))


def test_findings_are_listed_and_marked_on_the_curves(run, monkeypatch):
    rows = read_metrics(run)
    finding = {
        "name": "mode-collapse",
        "step": 15,
        "detected_at": 20,
        "message": "all samples in one mode",
        "evidence": {},
        "remedies": ["try wgan-gp"],
    }
    replayed_as(monkeypatch, {**finding, "ended": None, "closed_at": None})
    text = report.write_report(run, eval_samples=200).read_text()
    assert 'id="findings"' in text and "mode-collapse" in text and "try wgan-gp" in text
    assert "all samples in one mode" in text
    plain = picture(report.curves_figure(rows, []))
    marked = picture(report.curves_figure(rows, [finding]))
    assert red_pixels(plain) == 0 and red_pixels(marked) > 100


def test_an_ended_finding_shows_both_steps_and_the_verdict_now(run, monkeypatch):
    opened = {"name": "no-progress", "step": 10, "detected_at": 15, "message": "stalled", "evidence": {}}
    replayed_as(monkeypatch, {**opened, "ended": 20, "closed_at": 25, "remedies": []})  # one episode
    text = report.write_report(run, eval_samples=200).read_text()
    assert "healthy now; no-progress from 10 to 20" in text and "until step" in text
    assert 'class="healthy"' in text


def test_a_run_not_yet_evaluated_is_not_reported_healthy(tmp_path):
    out = tmp_path / "early"
    train(TrainConfig(**{**TINY, "eval_every": 100}), out)  # 30 steps: one evaluation, at the end
    text = report.write_report(out, eval_samples=200).read_text()
    assert "too early to judge the samples: 1 evaluation logged" in text
    assert "nothing wrong" not in text and 'class="healthy"' not in text


def test_non_finite_losses_are_marked_and_nulls_become_gaps(run):
    rows = read_metrics(run)
    rows[2] = rows[2] | {"d_loss": None, "g_loss": None}
    steps, values = report.column(rows, "d_loss")
    assert np.isnan(values[2]) and np.isfinite(np.delete(values, 2)).all() and len(steps) == len(rows)
    assert red_pixels(picture(report.curves_figure(rows, []))) > 10  # the "non-finite" markers


def test_critic_runs_show_scores_and_image_runs_show_their_own_metrics():
    critic_rows = [{"step": 1, "d_real": 0.5, "d_fake": -0.5}]
    assert report.discriminator_columns(critic_rows) == ("d_real", "d_fake", "critic score")
    classifier_rows = [{"step": 1, "d_real": 0.5, "d_fake": -0.5, "p_real": 0.6, "p_fake": 0.4}]
    assert report.discriminator_columns(classifier_rows)[:2] == ("p_real", "p_fake")
    image_rows = [{"step": 10, "eval_fid": 80.0}, {"step": 20, "eval_fid": 60.0}]
    assert report.quality_keys(image_rows) == ["eval_fid"]
    assert picture(report.quality_figure(image_rows, [])).std() > 0
    assert report.quality_figure([{"step": 1, "d_loss": 1.0}], []) is None


def test_report_says_what_is_missing_instead_of_failing(tmp_path):
    RunDir.create(tmp_path / "empty", to_dict(TrainConfig(**TINY))).close()
    text = report.write_report(tmp_path / "empty").read_text()
    assert "metrics.jsonl has no rows yet" in text
    assert "could not look at this run" in text  # the doctor needs rows
    assert "could not be evaluated" in text and "checkpoint" in text
    assert "No sample pictures" in text


def test_report_command_and_its_errors(cli, run, tmp_path):
    code, out, err = cli("report", run, "--eval-samples", 100)
    assert code == 0 and "report.html" in out, err
    assert "100 samples of the final generator" in (run / "report.html").read_text()
    code, _, err = cli("report", tmp_path / "nowhere")
    assert code == 2 and "run directory not found" in err and "Traceback" not in err
    code, _, err = cli("report", run, "--eval-samples", 0)
    assert code == 2 and "--eval-samples must be > 0" in err
