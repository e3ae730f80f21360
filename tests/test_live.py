"""The live view: the field snapshot's formulas, the LiveField callback, the server and the CLI."""

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from gankit.config import TrainConfig, to_dict
from gankit.errors import GankitError
from gankit.objectives import OBJECTIVES
from gankit.report.live import (
    LiveField,
    LiveServer,
    field_1d,
    field_2d,
    generator_push,
    page,
    scores_at,
    state,
    view_box,
)
from gankit.rundir import LIVE, RunDir, read_metrics
from gankit.runs.assemble import train

TINY = dict(
    data="ring", objective="ns", steps=20, batch_size=32, width=16, depth=1, log_every=10,
    eval_every=0, sample_every=10, checkpoint_every=20, device="cpu",
)  # fmt: skip


def linear_critic(weight, bias: float) -> nn.Linear:
    """s(x) = w . x + b: its slope is w everywhere, so the push has a closed form."""
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([weight]))
        critic.bias.fill_(bias)
    return critic


def squeezed(module: nn.Module):
    return lambda x: module(x).squeeze(-1)


@pytest.mark.parametrize(
    "objective, scale",
    [
        ("minimax", lambda s: torch.sigmoid(s)),  # push = sigmoid(s) ds/dx
        ("ns", lambda s: 1 - torch.sigmoid(s)),  # push = (1 - sigmoid(s)) ds/dx
        ("wgan", lambda s: torch.ones_like(s)),  # push = ds/dx
        ("hinge", lambda s: torch.ones_like(s)),
        ("lsgan", lambda s: 1 - s),  # L = (s - 1)^2 / 2  ->  push = (1 - s) ds/dx
    ],
)
def test_push_is_minus_the_per_sample_gradient_of_the_generator_loss(objective, scale):
    weight, bias = [0.5, -2.0], 0.3
    critic = squeezed(linear_critic(weight, bias))
    fake = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-3.0, 0.5]])
    push = generator_push(critic, OBJECTIVES[objective].generator_loss, fake)
    scores = fake @ torch.tensor(weight) + bias
    expected = scale(scores)[:, None] * torch.tensor(weight)
    torch.testing.assert_close(push, expected)


def test_saturated_discriminator_pushes_nothing_but_a_critic_keeps_pushing():
    """The seed's point: D confidently rejecting fakes (score -20) starves minimax's generator."""
    rejecting = squeezed(linear_critic([1.0, 1.0], -20.0))
    fake = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 0.1
    minimax = generator_push(rejecting, OBJECTIVES["minimax"].generator_loss, fake).norm(dim=1)
    ns = generator_push(rejecting, OBJECTIVES["ns"].generator_loss, fake).norm(dim=1)
    wgan = generator_push(rejecting, OBJECTIVES["wgan"].generator_loss, fake).norm(dim=1)
    assert minimax.max() < 1e-7
    torch.testing.assert_close(ns, torch.full((64,), 2**0.5), rtol=1e-5, atol=0)
    torch.testing.assert_close(wgan, torch.full((64,), 2**0.5))


def test_push_of_a_point_does_not_depend_on_the_other_points():
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    loss = OBJECTIVES["ns"].generator_loss
    fake = torch.randn(10, 2, generator=torch.Generator().manual_seed(1))
    together = generator_push(squeezed(critic), loss, fake)
    alone = torch.cat([generator_push(squeezed(critic), loss, point[None]) for point in fake])
    torch.testing.assert_close(together, alone)
    assert all(p.grad is None for p in critic.parameters())  # the networks' gradients are untouched


def test_a_packed_discriminator_scores_each_point_as_a_pack_of_copies():
    from gankit.nets.mlp import MLPDiscriminator

    torch.manual_seed(0)
    packed = MLPDiscriminator(2, width=8, depth=1, pack=3)
    points = torch.randn(5, 2)
    copies = points.repeat_interleave(3, dim=0).reshape(5, 6)
    torch.testing.assert_close(scores_at(packed, points), packed.net(copies).squeeze(-1))


def test_view_box_is_square_holds_the_data_and_ignores_runaway_samples():
    real = np.array([[-1.0, -0.5], [1.0, 0.5]])
    x0, x1, y0, y1 = view_box(real, real)
    assert x1 - x0 == pytest.approx(y1 - y0) == pytest.approx(2 * 1.25)
    wide = view_box(real, np.array([[2.0, 0.0]]))
    assert wide[1] >= 2.0  # a near generated point is taken in
    far = view_box(real, np.array([[1e6, 0.0], [np.nan, 0.0]]))
    assert far[1] - far[0] == pytest.approx(3.0 * 2 * 1.25)  # capped at `reach` times the data's box


def test_field_2d_heat_map_is_d_on_the_grid():
    critic = linear_critic([1.0, 0.0], 0.0)  # D(x) = sigmoid(x_0): rises to the right, flat in y
    generator = nn.Identity()
    real = torch.tensor([[-1.0, -1.0], [1.0, 1.0]])
    noise = torch.zeros(4, 2)
    field = field_2d(generator, squeezed(critic), OBJECTIVES["ns"], real, noise, grid_size=5)
    heat = np.array(field["heat"])
    x0, x1, y0, y1 = field["box"]
    np.testing.assert_allclose(heat[0], 1 / (1 + np.exp(-np.linspace(x0, x1, 5))), atol=1e-4)
    np.testing.assert_allclose(heat, np.repeat(heat[:1], 5, axis=0))  # same in every row (every y)
    assert field["output"] == "probability" and len(field["fake"]) == len(field["push"]) == 4
    critic_field = field_2d(generator, squeezed(critic), OBJECTIVES["wgan"], real, noise, grid_size=5)
    assert critic_field["output"] == "critic"
    np.testing.assert_allclose(critic_field["heat"][0], np.linspace(x0, x1, 5), atol=1e-4)  # raw scores


def test_field_1d_densities_integrate_to_one_and_d_is_sampled_on_a_line():
    critic = nn.Linear(1, 1)
    generator = nn.Identity()
    real = torch.randn(2000, 1, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(500, 1, generator=torch.Generator().manual_seed(1)) * 0.3 + 1
    field = field_1d(generator, squeezed(critic), OBJECTIVES["minimax"], real, noise, bins=30)
    widths = np.diff(field["edges"])
    assert np.sum(np.array(field["real_density"]) * widths) == pytest.approx(1, abs=1e-3)
    assert np.sum(np.array(field["fake_density"]) * widths) == pytest.approx(1, abs=1e-3)
    xs = torch.tensor(field["xs"])[:, None]
    np.testing.assert_allclose(field["d"], torch.sigmoid(critic(xs)).squeeze(-1).detach(), atol=1e-4)


def test_live_field_writes_snapshots_without_changing_training(tmp_path):
    config = TrainConfig(**{**TINY, "sample_every": 0})
    plain = train(config, tmp_path / "plain")
    watched = train(config, tmp_path / "watched", callbacks=[LiveField(tmp_path / "watched")])
    strip = [{k: v for k, v in row.items() if k != "wall_time"} for row in read_metrics(plain.path)]
    assert strip == [{k: v for k, v in r.items() if k != "wall_time"} for r in read_metrics(watched.path)]
    snapshot = json.loads((tmp_path / "watched" / LIVE).read_text())
    assert snapshot["step"] == 20 and snapshot["kind"] == "2d" and snapshot["objective"] == "ns"
    assert len(snapshot["fake"]) == 256 and len(snapshot["real"]) == 512
    assert np.array(snapshot["heat"]).shape == (48, 48)


def test_live_field_of_1d_data_and_of_images(tmp_path):
    config = TrainConfig(**{**TINY, "data": "gaussian-1d", "steps": 10})
    train(config, tmp_path / "line", callbacks=[LiveField(tmp_path / "line")])
    assert json.loads((tmp_path / "line" / LIVE).read_text())["kind"] == "1d"
    images = SimpleNamespace(data=SimpleNamespace(shape=(1, 8, 8)), discriminator=nn.Identity())
    assert LiveField(tmp_path).snapshot(images) == {"kind": "images"}


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("live") / "run"
    train(TrainConfig(**TINY), out, callbacks=[LiveField(out)])
    return out


def test_server_serves_the_page_the_state_and_the_newest_sample(trained_run):
    with LiveServer(trained_run) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, kind, body = _get(server.url)
        assert status == 200 and kind.startswith("text/html") and b"gankit live" in body
        assert b"http://" not in body and b"https://" not in body  # nothing fetched from the network
        state = json.loads(_get(server.url + "api/state")[2])
        assert state["total"] == 2 and [r["step"] for r in state["rows"]] == [10, 20]
        assert state["field"]["step"] == 20 and state["sample"] == "step_00000020.png"
        assert state["config"]["objective"] == "ns"
        later = json.loads(_get(server.url + "api/state?from=1")[2])
        assert [r["step"] for r in later["rows"]] == [20]
        shrunk = json.loads(_get(server.url + "api/state?from=5")[2])  # a resume dropped rows
        assert len(shrunk["rows"]) == 2
        status, kind, body = _get(server.url + "api/sample.png?name=x")
        assert kind == "image/png" and body == (trained_run / "samples" / "step_00000020.png").read_bytes()
        with pytest.raises(urllib.error.HTTPError) as missing:
            _get(server.url + "../config.json")
        assert missing.value.code == 404


def test_state_carries_the_findings_with_both_steps(tmp_path):
    opened = {"name": "no-progress", "step": 10, "detected_at": 15, "message": "m", "evidence": {}}
    lines = [opened, {**opened, "ended": 20, "closed_at": 25}, {**opened, "step": 40, "detected_at": 45}]
    (tmp_path / "findings.jsonl").write_text("".join(json.dumps(f) + "\n" for f in lines))
    found = state(tmp_path)["findings"]
    assert [(f["step"], f["ended"]) for f in found] == [(10, 20), (40, None)]  # two episodes
    assert b"showFindings" in page()  # the page draws them


def test_server_on_a_run_being_created_has_no_rows_no_field_and_no_sample(tmp_path):
    with LiveServer(tmp_path / "not-yet") as server:
        state = json.loads(_get(server.url + "api/state")[2])
        assert state["rows"] == [] and state["field"] is None and state["sample"] is None
        with pytest.raises(urllib.error.HTTPError) as missing:
            _get(server.url + "api/sample.png")
        assert missing.value.code == 404


def test_server_refuses_bad_ports_with_a_clear_error(tmp_path):
    with pytest.raises(GankitError, match="0..65535"):
        LiveServer(tmp_path, port=70000)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(GankitError, match="cannot serve"):
            LiveServer(tmp_path, port=taken.getsockname()[1])


def test_train_live_prints_the_url_writes_snapshots_and_stops_serving(cli, tmp_path):
    args = [f"--{key.replace('_', '-')}={value}" for key, value in TINY.items()]
    code, out, err = cli("train", *args, "--out", tmp_path / "r", "--live")
    assert code == 0, err
    url = next(word for word in out.split() if word.startswith("http://127.0.0.1:"))
    assert json.loads((tmp_path / "r" / LIVE).read_text())["step"] == 20
    with pytest.raises(urllib.error.URLError):  # the server ended with training
        _get(url + "api/state")
    code, out, err = cli("train", "--resume", tmp_path / "r", "--steps", 30, "--live")
    assert code == 0, err
    assert json.loads((tmp_path / "r" / LIVE).read_text())["step"] == 30


def test_watch_serves_an_existing_run_until_stopped(trained_run):
    command = [sys.executable, "-m", "gankit", "watch", str(trained_run)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as watcher:
        try:
            line = watcher.stdout.readline()
            url = next(word for word in line.split() if word.startswith("http://127.0.0.1:"))
            state = json.loads(_get(url + "api/state")[2])
            assert state["field"]["step"] == 20
        finally:
            watcher.terminate()


def test_watch_errors_exit_2(cli, tmp_path):
    code, _, err = cli("watch", tmp_path / "missing")
    assert code == 2 and "run directory not found" in err
    RunDir.create(tmp_path / "run", to_dict(TrainConfig())).close()
    code, _, err = cli("watch", tmp_path / "run", "--port", 99999)
    assert code == 2 and "0..65535" in err and "Traceback" not in err


def test_watch_says_when_a_run_has_no_field_snapshot(cli, tmp_path, monkeypatch):
    RunDir.create(tmp_path / "run", to_dict(TrainConfig())).close()
    monkeypatch.setattr(LiveServer, "serve_forever", lambda server: server.server.server_close())
    code, out, err = cli("watch", tmp_path / "run")
    assert code == 0, err
    assert "http://127.0.0.1:" in out and "train with --live for the field" in out
