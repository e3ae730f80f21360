"""``gankit sweep``: every grid cell runs exactly once with 2 workers racing on one study (embedded
SQLite or a real PostgreSQL server), a SIGKILLed sweep resumes with nothing duplicated or lost, a
journal file alone continues its sweep in a fresh directory, processes racing to rerun one trial
enqueue it once, and a bad spec is refused with one line before anything is written."""

import fcntl
import json
import multiprocessing
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import optuna
import pytest

from gankit.config import TrainConfig, to_dict
from gankit.errors import GankitError
from gankit.rundir import LOCK, read_metrics
from gankit.runs import compare as comparing
from gankit.runs import sweep as sweeps
from gankit.runs.spec import parse_spec

# Tiny runs: a 16-unit MLP on the ring, a row, toy metrics and a checkpoint every 10 steps.
BASE = """
[base]
data = "ring"
steps = {steps}
width = 16
batch_size = 64
log_every = 10
eval_every = 10
eval_samples = 200
checkpoint_every = 10
sample_every = 0
"""
GRID = """
[grid]
objective = ["ns", "lsgan"]
seed = [0, 1]
"""
SPEC = 'metric = "eval_w1"\n' + BASE.format(steps=20) + GRID


def sweep(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gankit", "sweep", *map(str, args)],
        env=os.environ | {"OMP_NUM_THREADS": "1"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def trials_by_cell(path: Path, storage: str | None = None) -> dict[str, list]:
    """Every (non-surplus) trial of each cell's study, from the Optuna storage itself."""
    spec = parse_spec((path / "spec.toml").read_text())
    opened = sweeps.Sweep(path, spec, storage or sweeps.embedded_url(path))
    studies = sweeps.load_studies(opened)
    return {
        "".join(str(value) for value in study.user_attrs["cell"].values()): [
            t for t in study.get_trials() if not t.user_attrs.get("surplus")
        ]
        for study in studies
    }


def assert_every_cell_ran_once(path: Path, storage: str | None = None) -> None:
    cells = trials_by_cell(path, storage)
    assert sorted(cells) == ["lsgan0", "lsgan1", "ns0", "ns1"]
    for cell, trials in cells.items():
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert len(complete) == 1, f"{cell}: {[t.state for t in trials]}"
        assert not [
            t for t in trials if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
        ]
    names = sorted(p.name for p in (path / "trials").iterdir())
    assert names == [
        "objective-lsgan_seed-0_t0",
        "objective-lsgan_seed-1_t0",
        "objective-ns_seed-0_t0",
        "objective-ns_seed-1_t0",
    ]
    for name in names:
        run = path / "trials" / name
        record = json.loads((run / "trial.json").read_text())
        assert record["state"] == "complete"
        steps = [row["step"] for row in read_metrics(run)]
        assert steps == [10, 20]  # every logged step exactly once
        assert record["value"] == read_metrics(run)[-1]["eval_w1"]


def test_two_workers_sharing_an_embedded_study_run_every_grid_cell_once(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    result = sweep(spec, "--out", tmp_path / "sweep", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "sweep: 4/4 done" in result.stderr  # the final summary line, even when not a terminal
    assert (tmp_path / "sweep" / "spec.toml").read_text() == SPEC
    assert_every_cell_ran_once(tmp_path / "sweep")


def test_workers_draw_different_configurations_and_trial_k_draws_the_same_however_many_run(tmp_path):
    """Samplers seeded per process made two workers starting a cell together try one config twice."""
    spec = tmp_path / "spec.toml"
    search = '\n[grid]\nobjective = ["ns"]\n[search]\ng_lr = { low = 1e-4, high = 1e-2, log = true }\n'
    spec.write_text('metric = "eval_w1"\ntrials = 6\n' + BASE.format(steps=10) + search)
    drawn = {}
    for workers in (2, 1):
        result = sweep(spec, "--out", tmp_path / f"w{workers}", "--workers", workers)
        assert result.returncode == 0, result.stderr
        (trials,) = trials_by_cell(tmp_path / f"w{workers}").values()
        drawn[workers] = {t.number: t.params["g_lr"] for t in trials}
    assert len(set(drawn[2].values())) == 6  # six trials, six configurations
    startup = min(10, max(1, 6 // 3))  # TPE's random trials: they see no history, so they match exactly
    assert [drawn[2][k] for k in range(startup)] == [drawn[1][k] for k in range(startup)]


def test_a_sigkilled_sweep_resumes_with_nothing_duplicated_or_lost(tmp_path):
    spec = tmp_path / "spec.toml"
    text = 'metric = "eval_w1"\n' + BASE.format(steps=300) + '[grid]\nobjective = ["ns", "lsgan"]\n'
    spec.write_text(text.replace("eval_every = 10", "eval_every = 100"))
    out = tmp_path / "sweep"
    child = subprocess.Popen(
        [sys.executable, "-m", "gankit", "sweep", str(spec), "--out", str(out), "--heartbeat", "1"],
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the sweep and its worker in one process group, killed together
    )
    first = out / "trials" / "objective-ns_t0"
    deadline = time.monotonic() + 300
    while not list((first / "checkpoints").glob("step_*.pt")) and child.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)  # a machine lost: no worker gets to clean up
    _, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, err.decode()
    assert not (first / "trial.json").exists(), "the trial finished before the kill"
    assert read_metrics(first)[-1]["step"] < 300

    result = sweep("--resume", out, "--heartbeat", "1")
    assert result.returncode == 0, result.stderr
    cells = {key: trials for key, trials in trials_by_cell(out).items()}
    killed, other = cells["ns"], cells["lsgan"]
    assert sorted(t.state.name for t in killed) == ["COMPLETE", "FAIL"]  # the stale trial, and its rerun
    rerun = next(t for t in killed if t.state == optuna.trial.TrialState.COMPLETE)
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(rerun) == 0
    assert rerun.user_attrs["run_dir"] == f"trials/{first.name}"  # the dead trial's directory, resumed
    assert [row["step"] for row in read_metrics(first)] == list(range(10, 301, 10))  # each step once
    assert [t.state.name for t in other] == ["COMPLETE"]
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["objective-lsgan_t0", "objective-ns_t0"]


def test_a_journal_alone_continues_its_sweep_in_a_fresh_directory_and_compare_reads_it(
    cli, tmp_path, monkeypatch
):
    """A benchmark commits its journal, not its run directories. From a fresh clone, the journal must
    keep every finished trial, rerun the trial a killed process left RUNNING (once), run nothing
    twice, and give `gankit compare` the table the sweep directory gives."""
    monkeypatch.chdir(tmp_path)  # paths as a benchmark gives them: relative to the repository
    Path("spec.toml").write_text(
        'metric = "eval_w1"\n' + BASE.format(steps=20) + '[grid]\nobjective = ["ns", "lsgan"]\n'
    )
    Path("journals").mkdir()
    storage = "journal:journals/lr.journal"
    opened = sweeps.create(Path("spec.toml"), Path("runs/lr"), storage, heartbeat=30)
    assert json.loads(Path("runs/lr/sweep.json").read_text())["journal"] == "../../journals/lr.journal"
    dead = sweeps.load_studies(opened)[0].ask()  # popped (RUNNING) by a worker killed right then
    shutil.rmtree("runs")  # the clone: the journal and the spec, nothing else

    result = sweep("spec.toml", "--out", "runs/lr", "--storage", storage, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    cells = trials_by_cell(Path("runs/lr"), opened.storage_url)
    assert [t.state.name for t in cells["ns"]] == ["FAIL", "COMPLETE"]  # the dead trial and its rerun
    rerun = cells["ns"][1]
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(rerun) == dead.number
    assert [t.state.name for t in cells["lsgan"]] == ["COMPLETE"]
    record = json.loads(Path("runs/lr", rerun.user_attrs["run_dir"], "trial.json").read_text())
    stored = rerun.user_attrs["result"]  # what the study keeps of the finished trial
    assert stored["value"] == record["value"] == stored["metrics"]["eval_w1"] == rerun.value
    assert (stored["steps"], stored["state"], stored["config"]["objective"]) == (20, "complete", "ns")
    assert len(stored["load_average"]) == 3 and min(stored["load_average"]) >= 0  # beside its CPU figures

    from_dir, from_journal = cli("compare", "runs/lr"), cli("compare", "--storage", storage)
    assert from_dir[0] == from_journal[0] == 0 and from_journal[1] == from_dir[1]
    assert comparing.compare([], storage=opened.storage_url).rows[0]["n"] == 1

    for again in (("--resume", "runs/lr"), ("spec.toml", "--out", "runs/again", "--storage", storage)):
        result = sweep(*again, cwd=tmp_path)  # the journal from sweep.json; then a new directory
        assert result.returncode == 0, result.stderr
        counts = {
            cell: len(trials) for cell, trials in trials_by_cell(Path("runs/lr"), opened.storage_url).items()
        }
        assert counts == {"ns": 2, "lsgan": 1}
    assert list(Path("runs/again/trials").iterdir()) == []  # every trial had finished: none ran again


def _rerun_after_a_shared_read(url: str, name: str, barrier) -> None:
    """One of two processes rerunning the interrupted trials of one study, in the race's worst order:
    each has read the trials before either writes."""
    study = optuna.load_study(study_name=name, storage=sweeps.open_storage(url))
    read, met = study.get_trials, []

    def read_then_meet(*args, **kwargs):
        trials = read(*args, **kwargs)
        if not met:
            met.append(barrier.wait(timeout=60))
        return trials

    study.get_trials = read_then_meet
    sweeps.retry_interrupted([study])


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_two_processes_rerunning_one_interrupted_trial_enqueue_it_exactly_once(tmp_path, kind, request):
    """Two machines starting a sweep together both saw the trial and both enqueued it again."""
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = (
            f"sqlite:///{tmp_path / 'study.db'}"
            if kind == "sqlite"
            else f"journal:{tmp_path / 'study.journal'}"
        )
    sweeps.quiet_optuna()
    name = f"race-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=sweeps.open_storage(url))
    attrs = {"enqueued": True, "interrupted": True, "run_dir": "trials/objective-ns_t0"}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=attrs))
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    racers = [context.Process(target=_rerun_after_a_shared_read, args=(url, name, barrier)) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=120)
    assert [racer.exitcode for racer in racers] == [0, 0]
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].system_attrs["failed_trial"] == 0


def test_a_rerun_waits_until_a_live_writer_of_its_run_directory_stops(tmp_path, monkeypatch):
    """A trial judged dead while its worker still trains (a late heartbeat): its rerun must not write
    the same run directory beside that worker, nor fail; it waits for the lock, then resumes."""
    from gankit.runs import assemble

    sweeps.quiet_optuna()
    spec = parse_spec('metric = "eval_w1"\n[base]\ndata = "ring"\nsteps = 10\n')
    opened = sweeps.Sweep(tmp_path, spec, sweeps.embedded_url(tmp_path))
    trial = optuna.create_study().ask()
    trial.set_user_attr("enqueued", True)
    trial.set_user_attr("run_dir", "trials/objective-ns_t0")  # inherited from the trial judged dead
    (tmp_path / "trials" / "objective-ns_t0").mkdir(parents=True)
    writer = (tmp_path / "trials" / "objective-ns_t0" / LOCK).open("a")
    fcntl.flock(writer, fcntl.LOCK_EX)  # as rundir.RunDir.lock holds it while the worker trains
    order = []

    def train(*args, **kwargs):
        order.append("the rerun trains")
        raise KeyboardInterrupt  # enough: the rerun got this far

    monkeypatch.setattr(assemble, "train", train)
    rerun = threading.Thread(
        target=lambda: pytest.raises(KeyboardInterrupt, sweeps.run_trial, opened, {}, trial)
    )
    rerun.start()
    time.sleep(0.5)  # time for a rerun that does not wait to reach train()
    order.append("the writer stops")
    writer.close()
    rerun.join(timeout=60)
    assert order == ["the writer stops", "the rerun trains"]


def test_a_worker_whose_trial_was_failed_under_it_stops_without_telling_it(tmp_path, monkeypatch):
    """Optuna raised "Cannot tell a FAIL trial" out of the worker: it crashed instead of moving on."""
    from types import SimpleNamespace

    from gankit.runs import assemble

    sweeps.quiet_optuna()
    spec = parse_spec('metric = "eval_w1"\n[base]\ndata = "ring"\nsteps = 10\n')
    opened = sweeps.Sweep(tmp_path, spec, sweeps.embedded_url(tmp_path))
    study = optuna.create_study()
    study.enqueue_trial({}, user_attrs={"enqueued": True})

    def train(*args, **kwargs):  # meanwhile another process judged the trial dead and failed it
        (running,) = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
        study._storage.set_trial_state_values(running._trial_id, optuna.trial.TrialState.FAIL)
        return SimpleNamespace(stopped=None)

    monkeypatch.setattr(assemble, "train", train)
    with pytest.raises(sweeps.TrialTaken):
        study.optimize(lambda trial: sweeps.run_trial(opened, {}, trial), n_trials=1, catch=(Exception,))
    (trial,) = study.get_trials()
    assert trial.state == optuna.trial.TrialState.FAIL and "result" not in trial.user_attrs


def test_a_killed_workers_trial_and_a_journals_running_trials_are_failed_for_a_rerun():
    sweeps.quiet_optuna()
    study = optuna.create_study()
    mine, other = study.ask(), study.ask()
    mine.set_user_attr("worker", sweeps.worker_tag(mine.number, pid=4242))
    other.set_user_attr("worker", sweeps.worker_tag(mine.number, pid=4242))  # inherited: a rerun of mine
    assert sweeps.fail_orphans([study], pid=4242) == 1
    states = [(t.state.name, t.user_attrs.get("interrupted")) for t in study.get_trials()]
    assert states == [("FAIL", True), ("RUNNING", None)]
    assert sweeps.fail_orphans([study]) == 1  # a journal sweep at its start: whatever runs is dead
    sweeps.retry_interrupted([study])
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == 2


def test_a_journal_runs_one_sweep_at_a_time_on_a_machine(tmp_path):
    """What lets a journal sweep judge every RUNNING trial it finds at its start dead."""
    journal = tmp_path / "lr.journal"
    journal.touch()
    held = sweeps.lock_journal(journal)
    with pytest.raises(GankitError, match="in use by another gankit sweep"):
        sweeps.lock_journal(journal)
    held.close()
    sweeps.lock_journal(journal).close()


def test_the_progress_line_counts_states_and_estimates_the_time_left():
    state = sweeps.Progress(
        done=3, running=2, waiting=1, failed=1, pruned=1, best=0.25, durations=(10.0, 20.0)
    )
    line = sweeps.progress_line(state, workers=2, metric="eval_w1")
    assert (
        line == "sweep: 3/7 done (1 pruned), 2 running, 1 failed; best eval_w1 0.25; ETA 0m22s"
    )  # 15 s a trial x 3 left / 2 workers


# ---------------------------------------------------------------------------------------------------
# PostgreSQL: the same 2-worker sweep, sharing one study on a real server on 127.0.0.1


def _postgres_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL server (initdb + pg_ctl) on a free loopback port, stopped afterwards."""
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver (pip install psycopg2-binary) is missing")
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (sh tests/ensure_postgres.sh installs Debian's postgresql)")
    prefix = []
    home = Path(tempfile.mkdtemp(prefix="gankit-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as an ordinary user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(home, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = home / "data"
    run = lambda *args: subprocess.run([*prefix, *map(str, args)], check=True, capture_output=True)  # noqa: E731
    run(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "gankit")
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    run(bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", home / "log", "-w", "start")
    try:
        run(bin_dir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "gankit", "sweeps")
        yield f"postgresql://gankit@127.0.0.1:{port}/sweeps"
    finally:
        run(bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


def test_two_workers_sharing_a_postgresql_study_run_every_grid_cell_once(tmp_path, postgres_url):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    # Two "machines": the same command twice, each with one worker and its own directory.
    machines = [
        subprocess.Popen(
            [sys.executable, "-m", "gankit", "sweep", str(spec), "--out", str(tmp_path / name)]
            + ["--storage", postgres_url],
            env=os.environ | {"OMP_NUM_THREADS": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for machine in machines:
        _, err = machine.communicate(timeout=600)
        assert machine.returncode == 0, err
    cells = trials_by_cell(tmp_path / "a", postgres_url)
    assert sorted(cells) == ["lsgan0", "lsgan1", "ns0", "ns1"]
    for cell, trials in cells.items():
        assert [t.state.name for t in trials] == ["COMPLETE"], cell
    ran = sorted(p.name for name in ("a", "b") for p in (tmp_path / name / "trials").iterdir())
    assert len(ran) == 4 and len(set(ran)) == 4  # each cell on exactly one machine
    # --resume of a shared sweep needs the storage again (its URL is not written to disk)
    result = sweep("--resume", tmp_path / "a")
    assert result.returncode == 2 and "--storage" in result.stderr


# ---------------------------------------------------------------------------------------------------
# Bad specs: exit 2, one line, nothing written


GOOD = 'metric = "eval_w1"\n[base]\ndata = "ring"\nsteps = 10\n[grid]\nobjective = ["ns"]\n'
BAD_SPECS = {
    "unknown top-level key": (GOOD, "colour = 1", "unknown key 'colour'"),
    "unknown key in [base]": (GOOD, "[base]\nwidht = 3", "unknown train config key 'widht' in [base]"),
    "unknown key in [grid]": (GOOD, "[grid]\nlr = [1]", "unknown train config key 'lr' in [grid]"),
    "unknown monitor threshold": (
        GOOD,
        "[base]\nmonitor_windw = 3",
        "unknown train config key 'monitor_windw' in [base]",
    ),
    "a monitor threshold out of its range": (
        GOOD,
        "[base]\nmonitor_window = 0",
        "monitor_window must be > 0",
    ),
    "unknown key in [search]": (
        GOOD,
        "[search]\nlr = { low = 1, high = 2 }",
        "unknown train config key 'lr'",
    ),
    "empty grid list": (GOOD, "[grid]\nseed = []", "grid.seed must be a non-empty list"),
    "low > high": (GOOD, "[search]\ng_lr = { low = 0.1, high = 0.01 }", "low (0.1) must be <= high (0.01)"),
    "log with low <= 0": (GOOD, "[search]\ng_lr = { low = 0.0, high = 0.1, log = true }", "needs low > 0"),
    "metric never produced": (GOOD.replace("eval_w1", "fid"), "", "metric 'fid' is produced by neither"),
    "image metric on toy data": (GOOD.replace("eval_w1", "eval_fid"), "", "metric 'eval_fid'"),
    "stacked-digits metric on digits": (
        GOOD.replace("eval_w1", "kl_to_uniform").replace('"ring"', '"digits"'),
        "",
        "metric 'kl_to_uniform' is produced by neither",
    ),
    "broken TOML": (GOOD, "[grid\n", "is not valid TOML"),
    "bad direction": (GOOD, 'direction = "down"', "direction must be one of minimize, maximize"),
    "trials < 1": (GOOD + "[search]\ng_lr = { low = 0.001, high = 0.01 }\n", "trials = 0", "trials must be"),
    "trials without search": (GOOD, "trials = 4", "it needs a [search] table"),
    "bad config value in a cell": (GOOD, "[grid]\nsteps = [10, -1]", "steps must be > 0"),
    "bad value at a search end": (GOOD, "[search]\nema_decay = { low = 0.5, high = 1.5 }", "ema_decay"),
    "unknown data set": (GOOD.replace('"ring"', '"nowhere"'), "", "nowhere"),
    "unknown pruner": (GOOD, 'pruner = "asha"', "pruner must be one of none, median, successive-halving"),
    "min_resource without a resource pruner": (
        GOOD,
        "min_resource = 2",
        "min_resource applies to pruner = successive-halving or hyperband, not 'none'",
    ),
    "max_resource under successive halving": (
        'pruner = "successive-halving"\n' + GOOD,
        "max_resource = 4",
        "max_resource applies to pruner = hyperband",
    ),
    "reduction_factor < 2": (
        'pruner = "hyperband"\n' + GOOD,
        "reduction_factor = 1",
        "must be an integer >= 2",
    ),
    "max_resource < min_resource": (
        'pruner = "hyperband"\nmin_resource = 4\n' + GOOD,
        "max_resource = 2",
        "max_resource (2) must be >= min_resource (4)",
    ),
    "n_startup_trials without search": (GOOD, "n_startup_trials = 3", "it needs a [search] table"),
    "n_startup_trials < 1": (
        GOOD + "[search]\ng_lr = { low = 0.001, high = 0.01 }\n",
        "n_startup_trials = 0",
        "n_startup_trials must be an integer >= 1",
    ),
    "a searched evaluation interval under successive halving": (
        GOOD + "[search]\neval_every = { low = 1, high = 5 }\n",
        'pruner = "successive-halving"',
        "eval_every cannot be searched with pruner = successive-halving",
    ),
    "hyperband under a CPU budget without max_resource": (
        'pruner = "hyperband"\n' + GOOD,
        "[base]\ntime_budget_s = 5.0",
        "with time_budget_s, hyperband needs max_resource",
    ),
    "an evaluation watched without evaluations": (
        'pruner = "successive-halving"\n' + GOOD.replace("eval_w1", "w1"),
        "[base]\neval_every = 0",
        "watches eval_w1, which needs eval_every > 0",
    ),
}


def test_a_stacked_digits_sweep_may_score_its_modes():
    from gankit.runs.spec import parse_spec

    for metric in ("modes", "kl_to_uniform", "kl_channels", "scarcest_digit_share", "fid"):
        spec = parse_spec(GOOD.replace("eval_w1", metric).replace('"ring"', '"stacked-digits"'))
        assert spec.metric_source == "eval"


def test_the_metric_keys_a_probe_found_are_remembered_per_config_not_per_process():
    """parse_spec probes one step for a run's metrics.jsonl keys once per config: a set with modes
    logs eval_modes, one without (swissroll) does not, whichever was probed first."""
    text = 'metric = "eval_modes"\n[base]\ndata = "DATA"\nsteps = 10\neval_every = 5\nseed = SEED\n'
    for seed in (1, 2):  # the second parse of each is answered from memory (the seed changes no key)
        assert parse_spec(text.replace("DATA", "ring").replace("SEED", str(seed))).metric_source == "metrics"
        with pytest.raises(GankitError, match="metric 'eval_modes' is produced by neither"):
            parse_spec(text.replace("DATA", "swissroll").replace("SEED", str(seed)))


def test_an_init_from_spec_parses_where_its_source_run_is_gone(tmp_path):
    """A journal keeps its specs' text; reading an init-from sweep back (a page's render in a fresh
    clone) must not need the run it started from, which only training reads."""
    text = 'metric = "eval_modes"\n[base]\ndata = "ring"\nsteps = 10\neval_every = 5\n'
    text += f'init_from = "{tmp_path / "gone"}"\ninit_from_step = 5\n'
    spec = parse_spec(text)
    assert spec.metric_source == "metrics" and spec.base["init_from"] == str(tmp_path / "gone")


def _bad_spec_text(base: str, extra: str) -> str:
    if extra.startswith("["):  # a table: after the good spec (TOML allows each table once, so merge)
        table, _, body = extra.partition("\n")
        if table in base:
            return base.replace(table + "\n", f"{table}\n{body}\n", 1) if body else base + extra
        return base + extra + "\n"
    return extra + "\n" + base  # a top-level key: before the first table


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_a_bad_spec_exits_2_with_one_line_and_writes_nothing(cli, tmp_path, case):
    base, extra, message = BAD_SPECS[case]
    spec = tmp_path / "spec.toml"
    spec.write_text(_bad_spec_text(base, extra))
    out = tmp_path / "sweep"
    code, stdout, err = cli("sweep", spec, "--out", out)
    assert code == 2, (stdout, err)
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_bad_sweep_flags_exit_2_and_write_nothing(cli, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD)
    out = tmp_path / "sweep"
    for args, message in (
        (("--out", out), "give SPEC.toml and --out DIR"),
        ((spec,), "give SPEC.toml and --out DIR"),
        ((spec, "--out", out, "--workers", "0"), "--workers must be >= 1"),
        ((spec, "--out", out, "--storage", "redis://x"), "--storage must be journal:FILE or"),
        ((spec, "--out", out, "--storage", "journal:"), "needs a file name"),
        ((spec, "--out", out, "--storage", f"journal:{tmp_path}/nowhere/lr.journal"), "no directory"),
        (("--resume", tmp_path), "is not a gankit sweep directory"),
        ((tmp_path / "missing.toml", "--out", out), "sweep spec not found"),
    ):
        code, _, err = cli("sweep", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not out.exists()
    out.mkdir()
    (out / "something").write_text("x")
    code, _, err = cli("sweep", spec, "--out", out)
    assert code == 2 and "already exists; continue it with: gankit sweep --resume" in err


def test_a_spec_names_its_cells_and_folds_beta1_into_betas():
    spec = parse_spec(
        'metric = "eval_w1"\ntrials = 2\n[base]\ndata = "ring"\nsteps = 10\n'
        '[grid]\nobjective = ["ns", "wgan-gp"]\nbeta1 = [0.0, 0.5]\n'
        "[search]\ng_lr = { low = 1e-4, high = 1e-2, log = true }\n"
    )
    assert [sweeps.trial_name(cell, 3) for cell in spec.cells()][:2] == [
        "objective-ns_beta1-0_t3",
        "objective-ns_beta1-0.5_t3",
    ]
    values = spec.config_values({"objective": "wgan-gp", "beta1": 0.5}, {"g_lr": 1e-3})
    assert values["betas"] == (0.5, 0.9)  # WGAN-GP's second beta kept
    assert spec.metric_source == "metrics" and spec.trials == 2


def test_a_spec_sets_monitor_thresholds_by_their_config_keys():
    from gankit.config import from_dict
    from gankit.diagnose.thresholds import Thresholds

    spec = parse_spec(
        GOOD.replace("steps = 10\n", "steps = 10\nmonitor_patience = 300\n") + "monitor_window = [3, 4]\n"
    )
    configs = [from_dict(spec.config_values(cell, {})) for cell in spec.cells()]
    assert [(Thresholds.of(c).patience, Thresholds.of(c).window) for c in configs] == [(300, 3), (300, 4)]


def test_a_trial_stopped_by_ctrl_c_is_enqueued_again_once_with_its_run_dir():
    sweeps.quiet_optuna()
    study = optuna.create_study()
    attrs = {"enqueued": True, "interrupted": True, "run_dir": "trials/objective-ns_t0"}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=attrs))
    study.add_trial(
        optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"enqueued": True})
    )
    sweeps.retry_interrupted([study])
    sweeps.retry_interrupted([study])  # a second start does not enqueue it twice
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs["run_dir"] == "trials/objective-ns_t0"
    assert waiting[0].system_attrs["failed_trial"] == 0  # the crashed trial (no interrupt) is not rerun


def rerun_trial(tmp_path, spec_text: str, earlier_cpu: float):
    """A sweep in tmp_path and a trial of it that an earlier attempt spent ``earlier_cpu`` on."""
    sweeps.quiet_optuna()
    opened = sweeps.Sweep(tmp_path, parse_spec(spec_text), sweeps.embedded_url(tmp_path))
    trial = optuna.create_study().ask()
    trial.set_user_attr("enqueued", True)
    trial.set_user_attr("cpu_time", earlier_cpu)  # a rerun inherits its original's attrs
    return opened, trial


def test_a_trial_stopped_by_ctrl_c_keeps_the_cpu_time_it_spent(tmp_path, monkeypatch):
    """The search-budget curve (`gankit compare`) sums trials' CPU time: an interrupted attempt counts."""
    from gankit.runs import assemble

    opened, trial = rerun_trial(tmp_path, 'metric = "eval_w1"\n[base]\ndata = "ring"\nsteps = 10\n', 2.0)
    clock = iter([10.0, 13.5])  # this attempt: 3.5 CPU-seconds before Ctrl-C
    monkeypatch.setattr(sweeps.time, "process_time", lambda: next(clock))

    def stopped_by_ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(assemble, "train", stopped_by_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        sweeps.run_trial(opened, {}, trial)
    # no run directory was left to resume: this attempt's run is its own, the earlier CPU kept apart
    assert trial.user_attrs["interrupted"] and trial.user_attrs["cpu_time"] == 3.5
    assert trial.user_attrs["discarded_cpu_time"] == 2.0


@pytest.mark.parametrize("resumable", [False, True])
def test_a_rerun_counts_an_earlier_attempts_cpu_only_when_it_resumes_that_attempts_checkpoint(
    tmp_path, resumable
):
    """A rerun whose run directory is gone (a fresh clone) trains from scratch: its cpu_time is its own
    run's, and the lost attempt's CPU is kept apart as discarded_cpu_time (the search still paid it)."""
    spec = 'metric = "d_loss"\n[base]\ndata = "ring"\nsteps = 10\ncheckpoint_every = 5\n'
    opened, trial = rerun_trial(tmp_path, spec, 1000.0)
    trial.set_user_attr("run_dir", "trials/rerun")
    if resumable:  # the earlier attempt's run directory, with its checkpoints
        from gankit.runs import assemble

        assemble.train(TrainConfig(data="ring", steps=10, checkpoint_every=5), tmp_path / "trials/rerun")
    sweeps.run_trial(opened, {}, trial)
    result = trial.user_attrs["result"]
    if resumable:
        assert result["cpu_time"] > 1000.0 and result["discarded_cpu_time"] == 0.0
    else:
        assert result["cpu_time"] < 1000.0 and result["discarded_cpu_time"] == 1000.0
    assert result["steps"] == 10
    record = comparing.RunRecord(Path("trials/rerun"), {}, 0.0, result)
    assert comparing.spent_cpu(record) == pytest.approx(result["cpu_time"] + result["discarded_cpu_time"])


# ---------------------------------------------------------------------------------------------------
# Searches that search: the pruner's resources, TPE past its random start, the stored curves

PRUNED_SPEC = """
metric = "eval_w1"
trials = 6
n_startup_trials = 2
pruner = "{pruner}"
min_resource = 2
reduction_factor = 3
[base]
data = "ring"
steps = 1000
eval_every = 50
[search]
g_lr = {{ low = 1e-4, high = 1e-2, log = true }}
critic_steps = {{ choices = [1, 2, 5] }}
"""


def test_a_resource_pruner_counts_evaluations_and_cuts_at_their_generator_steps():
    """min_resource = 2 evaluations of eval_every = 50: the first cut at step 100, where a trial worse
    than the only one before it stops (successive halving keeps the best third, at least the best)."""
    sweeps.quiet_optuna()
    spec = parse_spec(PRUNED_SPEC.format(pruner="successive-halving"))
    assert spec.resource_steps({}) == 50 and spec.watched == "eval_w1"
    pruner = sweeps._pruner(sweeps.Sweep(Path("."), spec, ""), {})
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
    study = optuna.create_study(pruner=pruner)
    first = study.ask()
    for step in (50, 100, 150):
        first.report(1.0, step)
        assert not first.should_prune()
    study.tell(first, 1.0)
    worse = study.ask()
    worse.report(2.0, 50)
    assert not worse.should_prune()  # before the first cut
    worse.report(2.0, 100)
    assert worse.should_prune()

    hyperband = sweeps._pruner(
        sweeps.Sweep(Path("."), parse_spec(PRUNED_SPEC.format(pruner="hyperband")), ""), {}
    )
    assert (hyperband._min_resource, hyperband._max_resource) == (100, 1000)  # max: the run's steps


def test_a_spec_sets_the_random_start_and_keeps_a_third_of_the_trials_when_it_does_not():
    spec = parse_spec(
        PRUNED_SPEC.format(pruner="none").replace("min_resource = 2\nreduction_factor = 3\n", "")
    )
    assert spec.n_startup_trials == 2
    without = parse_spec(
        'metric = "eval_w1"\ntrials = 40\n[base]\ndata = "ring"\nsteps = 10\n'
        "[search]\ng_lr = { low = 1e-4, high = 1e-2, log = true }\n"
    )
    assert without.n_startup_trials == 10  # min(10, trials // 3), as before the key existed


def test_after_its_random_start_trial_k_draws_from_the_finished_trials_whichever_worker_runs_it():
    """Trial k's sampler is seeded by (seed, k). While fewer than n_startup_trials have finished it
    draws at random: the same configuration whatever finished before. After that TPE models the
    finished trials: the same history gives the same draw in any process, another history another."""
    sweeps.quiet_optuna()
    spec = parse_spec(
        PRUNED_SPEC.format(pruner="none").replace("min_resource = 2\nreduction_factor = 3\n", "")
    )
    opened = sweeps.Sweep(Path("."), spec, "")
    distributions = {item.name: item.distribution() for item in spec.search}

    def draw(history: list[tuple[float, int, float]]) -> dict:
        study = optuna.create_study()
        for g_lr, critic_steps, value in history:
            params = {"g_lr": g_lr, "critic_steps": critic_steps}
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=distributions, value=value)
            )
        study.sampler = sweeps._sampler(opened, len(history))  # as a worker does for trial k
        trial = study.ask()
        return {item.name: sweeps.suggest(trial, item) for item in spec.search}

    one, other = [(1e-3, 1, 0.5)], [(5e-3, 5, 0.1)]
    assert draw(one) == draw(other)  # trial 1: still random, whatever trial 0 found
    history = [(1e-3, 1, 0.5), (5e-3, 5, 0.1), (2e-4, 2, 0.9), (3e-3, 5, 0.2)]
    assert draw(history) == draw(history)  # trial 4, past the start: the same history, the same draw
    assert draw(history) != draw([(g, c, -v) for g, c, v in history])  # the values decide


def test_a_finished_trial_keeps_its_evaluations_as_columns():
    rows = [
        {"step": 10, "d_loss": 0.5, "eval_w1": 0.9, "eval_modes": 3},
        {"step": 20, "d_loss": 0.4},  # no evaluation
        {"step": 30, "eval_w1": float("nan"), "eval_modes": 5},
    ]
    assert sweeps.evaluation_columns(rows) == {
        "step": [10, 30],
        "eval_modes": [3, 5],
        "eval_w1": [0.9, None],  # not finite: None
    }


def test_a_search_scored_by_gankit_eval_on_a_set_with_a_test_split_needs_a_validation_part(
    cli, tmp_path, monkeypatch
):
    # Without a validation part gankit eval scores such a run on the published test split, which a
    # search must never see: the spec is refused before anything is written. A small stand-in for
    # a named set with a published test split (mnist, fashion-mnist, cifar10) keeps this fast.
    import torch

    from gankit.config import resolve
    from gankit.data.images import ImageDataset
    from gankit.runs import spec as specs

    images = torch.zeros(16, 1, 8, 8)

    def named_set(config):
        data = ImageDataset("fashion-mnist", images, official_test=lambda: ImageDataset("test", images))
        return data, resolve(config, data.shape)

    monkeypatch.setattr(specs, "load_train_data_and_config", named_set)
    spec = tmp_path / "spec.toml"
    spec.write_text('metric = "fid"\ndirection = "minimize"\n[base]\ndata = "fashion-mnist"\nsteps = 2\n')
    code, _, err = cli("sweep", spec, "--out", tmp_path / "sweep")
    assert code == 2 and "scored on its published test split, which a search must not see" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "sweep").exists()


def test_a_finished_trial_keeps_the_doctors_findings_which_the_rows_alone_show(tmp_path):
    """benchmarks/remedies.py reads from the study whether a finding is open at a trial's end and
    where it was detected; the study keeps only the rows' last values, so the verdict is kept too."""
    rows = [{"step": 10, "d_loss": 1.3, "g_loss": 0.7, "p_real": 0.6, "p_fake": 0.4, "g_grad_norm": 1.0}]
    rows += [
        {"step": 20 + 10 * i, "d_loss": 0.0, "g_loss": 0.0, "p_real": 1.0, "p_fake": 0.0, "g_grad_norm": 1e-5}
        for i in range(6)
    ]
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(to_dict(TrainConfig(objective="minimax"))))
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    verdict = sweeps.doctor_verdict(run)
    assert verdict["verdict"] == "problems" and "vanishing-gradients" in verdict["open"]
    first = verdict["findings"][0]
    assert first == {"name": "vanishing-gradients", "step": 20, "detected_at": 60, "ended": None}
    (run / "metrics.jsonl").write_text("")
    assert sweeps.doctor_verdict(run) is None  # nothing logged: nothing to keep
