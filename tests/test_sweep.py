"""``ganforge sweep``: the lucic search space, trials that record their runs and scores, pruning, divergence,
two workers on one PostgreSQL study (one of them killed mid-trial) and the sweep report.

Trials train tiny DCGAN nets (width 8) for a few dozen steps on mnist-5k, scored with the mnist-5k classifier
(the session's ``mnist5k_classifier`` cache), so no test needs Inception or Fashion-MNIST.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

import ganforge  # noqa: E402
from ganforge.cli import main  # noqa: E402
from ganforge.config import resolve_config  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.runs import RunDir  # noqa: E402
from ganforge.sweep import SPACES, SweepOptions, run_sweep  # noqa: E402
from ganforge.sweep.sampler import TrialSeededSampler  # noqa: E402
from ganforge.sweep.spaces import BETA_MAX, lucic_space  # noqa: E402

TINY = {"data": "mnist-5k:train", "batch_size": 16, "eval_n": 64, "log_every": 1, "sample_every": 1000,
        "grid_size": 4, "ema_decay": 0.0, "model.z_dim": 8, "model.generator": {"name": "dcgan-g", "width": 8},
        "model.discriminator": {"name": "dcgan-d", "width": 8}}
TINY_ARGS = [f"{k}={json.dumps(v)}" for k, v in TINY.items()]  # JSON values are YAML values
SCORING = ["--features", "classifier", "--eval-n", "64"]
REFERENCE = "mnist-5k:test"
COMPLETE, PRUNED, FAIL = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                          optuna.trial.TrialState.FAIL)

# spaces for the tests: the preset as it is, and learning rates that make any GAN diverge at once
SPACES.register("test-fixed")(lambda trial, cfg: {})
SPACES.register("test-diverge")(lambda trial, cfg: {"g_opt.lr": 1e30, "d_opt.lr": 1e30})


@pytest.fixture(scope="module")
def cache(mnist5k_classifier):
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_CACHE", str(mnist5k_classifier[0]))
    yield mnist5k_classifier[0]
    mp.undo()


def trials_of(storage: str, study: str):
    with_warnings_off = optuna.load_study(study_name=study, storage=storage)
    return with_warnings_off.get_trials()


# ---------------------------------------------------------------- the search space

@pytest.mark.parametrize("preset, penalised, adversarial", [
    ("lucic-wgangp", True, True), ("lucic-dragan", True, True), ("lucic-ns", False, True),
    ("lucic-wgan", False, True), ("lucic-vae", False, False)])
def test_lucic_space_draws_within_its_ranges_and_lambda_only_for_penalty_losses(preset, penalised, adversarial):
    cfg = resolve_config(preset)
    study = optuna.create_study(sampler=TrialSeededSampler(7))
    draws = []
    for _ in range(200):
        trial = study.ask()
        out = lucic_space(trial, cfg)
        p = trial.params
        draws.append(p)
        assert 1e-5 <= p["lr"] <= 1e-2 and out["g_opt.lr"] == p["lr"]
        assert 0.0 <= p["beta1"] <= BETA_MAX < 1.0 and 0.0 <= p["beta2"] <= BETA_MAX
        assert out["g_opt.betas"] == [p["beta1"], p["beta2"]]
        assert ("lambda" in p) == penalised and ("model.loss_options.gp_weight" in out) == penalised
        assert ("d_steps" in p) == adversarial and ("d_opt.lr" in out) == adversarial
        if penalised:
            assert 0.1 <= p["lambda"] <= 100.0 and out["model.loss_options.gp_weight"] == p["lambda"]
        if adversarial:
            assert p["d_steps"] in (1, 5) and out["d_opt.lr"] == p["lr"] and out["d_opt.betas"] == out["g_opt.betas"]
            assert abs(out["steps"] * p["d_steps"] - cfg.steps * cfg.d_steps) < p["d_steps"]  # same D updates
        resolve_config(preset, out)  # every draw is a valid config
        study.tell(trial, 0.0)
    lrs = sorted(math.log10(d["lr"]) for d in draws)
    # log-uniform: about a third of the draws in each decade of [1e-5, 1e-2]
    assert all(40 <= sum(lo <= x < lo + 1 for x in lrs) <= 95 for lo in (-5, -4, -3))
    assert 0.35 < sum(d["beta1"] < 0.5 for d in draws) / len(draws) < 0.65
    if adversarial:
        assert 60 < sum(d["d_steps"] == 5 for d in draws) < 140


def test_draws_depend_on_seed_and_trial_number_only():
    """Two workers with the same seed (two samplers) propose the settings of trial k alike, and different
    trials differ: workers on one study never repeat each other's draws."""
    cfg = resolve_config("lucic-wgangp")
    study_a, study_b = (optuna.create_study(sampler=TrialSeededSampler(3)) for _ in range(2))
    a = [lucic_space(study_a.ask(), cfg) for _ in range(5)]
    b = [lucic_space(study_b.ask(), cfg) for _ in range(5)]
    assert a == b and len({json.dumps(x, sort_keys=True) for x in a}) == 5
    other = optuna.create_study(sampler=TrialSeededSampler(4))
    assert lucic_space(other.ask(), cfg) != a[0]


def test_a_trial_is_refused_when_enough_trials_that_are_not_failed_precede_it():
    """``--trials 2``: with one complete and one running trial a third is surplus; once the running one has
    failed (its worker died), the next trial is needed, and the one after it is surplus again."""
    from ganforge.sweep.objective import SurplusTrial, reserve

    study = optuna.create_study()
    study.tell(study.ask(), 1.0)
    running = study.ask()
    third = study.ask()
    with pytest.raises(SurplusTrial):
        reserve(third, 2)
    assert third.user_attrs["surplus"] is True
    study.tell(third, state=FAIL)
    study.tell(running, state=FAIL)
    fourth = study.ask()
    reserve(fourth, 2)
    assert "surplus" not in fourth.user_attrs
    with pytest.raises(SurplusTrial):
        reserve(study.ask(), 2)


# ---------------------------------------------------------------- SQLite sweeps and the report

@pytest.fixture(scope="module")
def sqlite_sweeps(cache, tmp_path_factory):
    """Two studies in one SQLite file: lucic-wgangp (penalised) and lucic-ns, two trials each, no pruning."""
    root = tmp_path_factory.mktemp("sweeps")
    storage = f"sqlite:///{root / 'shared.db'}"
    for preset in ("lucic-wgangp", "lucic-ns"):
        code = main(["sweep", preset, "--trials", "2", "--out", str(root / preset), "--storage", storage,
                     "--pruner", "none", *SCORING, *TINY_ARGS, "steps=6", "eval_every=3"])
        assert code == 0
    return root, storage


def test_a_sqlite_sweep_records_its_runs_and_their_recomputed_scores(sqlite_sweeps):
    from ganforge.evaluation import score

    root, storage = sqlite_sweeps
    for preset, penalised in (("lucic-wgangp", True), ("lucic-ns", False)):
        trials = trials_of(storage, preset)
        assert [t.state for t in trials] == [COMPLETE, COMPLETE]
        runs = [Path(t.user_attrs["run_dir"]) for t in trials]
        assert runs == [root / preset / "trial-0000", root / preset / "trial-0001"]
        for trial, run in zip(trials, runs):
            cfg = json.loads((run / "config.json").read_text())
            p = trial.params
            assert cfg["g_opt"]["lr"] == cfg["d_opt"]["lr"] == p["lr"]
            assert cfg["g_opt"]["betas"] == cfg["d_opt"]["betas"] == [p["beta1"], p["beta2"]]
            preset_d_steps = resolve_config(preset).d_steps
            assert cfg["d_steps"] == p["d_steps"] and cfg["data"] == "mnist-5k:train"
            assert cfg["steps"] == max(1, round(6 * preset_d_steps / p["d_steps"]))  # 6 steps' worth of D updates
            assert ("gp_weight" in cfg["model"]["loss_options"]) == penalised == ("lambda" in p)
            if penalised:
                assert cfg["model"]["loss_options"]["gp_weight"] == p["lambda"]
            if "diverged" in trial.user_attrs:  # a wide space may draw a learning rate that diverges
                assert trial.value == math.inf
                continue
            again = score(REFERENCE, str(run), ["fid"], "classifier", 64, 0)["fid"]
            assert trial.value == pytest.approx(again, rel=1e-9) and trial.user_attrs["metrics"]["fid"] == trial.value
            assert trial.user_attrs["protocol"]["step"] == cfg["steps"] and trial.user_attrs["protocol"]["n"] == [64, 64]
            evals = [r["step"] for r in RunDir(run).read_log() if "eval_fd_logits" in r]
            steps = cfg["steps"]  # eval_every=3 and the last step
            assert sorted(trial.intermediate_values) == evals == sorted({*range(3, steps + 1, 3), steps})


def test_the_report_draws_both_studies_and_its_best_is_the_minimum(sqlite_sweeps, capsys):
    from PIL import Image

    root, storage = sqlite_sweeps
    out = root / "report.png"
    assert main(["sweep", "report", "--storage", storage, "--out", str(out)]) == 0, capsys.readouterr().err
    summary = json.loads(out.with_suffix(".json").read_text())
    everything = [(s, t) for s in ("lucic-wgangp", "lucic-ns") for t in trials_of(storage, s)]
    scored = [(s, t) for s, t in everything if t.state == COMPLETE and math.isfinite(t.value)]
    study, best = min(scored, key=lambda st: st[1].value)
    assert summary["best"]["value"] == best.value and summary["best"]["trial"] == best.number
    assert summary["best"]["study"] == study and summary["best"]["params"] == best.params
    assert summary["best"]["run_dir"] == best.user_attrs["run_dir"]
    assert summary["counts"]["complete"] == 4 and summary["counts"]["pruned"] == summary["counts"]["failed"] == 0
    assert set(summary["models"]) == {"wgan-gp", "ns"} and sorted(summary["studies"]) == ["lucic-ns", "lucic-wgangp"]
    assert Image.open(out).size == (1100, 420)
    # one study only
    one = root / "ns.png"
    assert main(["sweep", "report", "--storage", storage, "--study", "lucic-ns", "--out", str(one)]) == 0
    ns = [t for s, t in scored if s == "lucic-ns"]
    assert json.loads(one.with_suffix(".json").read_text())["best"]["value"] == min(t.value for t in ns)


def test_another_study_cannot_share_a_sweep_folder(sqlite_sweeps, capsys):
    root, storage = sqlite_sweeps
    code = main(["sweep", "lucic-dragan", "--trials", "1", "--out", str(root / "lucic-ns"), "--storage", storage])
    err = capsys.readouterr().err
    assert code == 2 and "holds the runs of study 'lucic-ns'" in err
    assert "lucic-dragan" not in optuna.study.get_all_study_names(storage)


# ---------------------------------------------------------------- pruning and divergence, driven directly

def options(tmp_path: Path, **kw) -> SweepOptions:
    base = dict(preset="lucic-ns", trials=2, out=tmp_path / "sw", storage=f"sqlite:///{tmp_path / 's.db'}",
                features="classifier", eval_n=64, space="test-fixed", pruner_startup_trials=1,
                overrides={**TINY, "steps": 6, "eval_every": 2})
    return SweepOptions(**{**base, **kw})


def test_a_trial_scoring_worse_than_the_median_is_pruned_at_that_step(cache, tmp_path):
    """The first trial reports fd_logits 1.0 at every evaluation; the second 100.0, so the median pruner
    stops it at its first evaluation (step 2) and its run goes no further."""
    scores = iter([1.0, 100.0])

    def factory(cfg):
        value = next(scores)
        return lambda images, labels: {"fd_logits": value}

    opts = options(tmp_path)
    assert run_sweep(opts, scorer_factory=factory)["finished"] == 2
    first, second = trials_of(opts.storage, "lucic-ns")
    assert first.state == COMPLETE and first.intermediate_values == {2: 1.0, 4: 1.0, 6: 1.0}
    assert second.state == PRUNED and second.intermediate_values == {2: 100.0}
    assert second.user_attrs["pruned_at"] == {"step": 2, "fd_logits": 100.0}
    run = RunDir(second.user_attrs["run_dir"])
    assert max(r["step"] for r in run.read_log()) == 2 and run.checkpoints() == []
    assert [s for s, _ in RunDir(first.user_attrs["run_dir"]).checkpoints()] == [6]


def test_the_same_worse_trial_completes_without_a_pruner(cache, tmp_path):
    scores = iter([1.0, 100.0])

    def factory(cfg):
        value = next(scores)
        return lambda images, labels: {"fd_logits": value}

    opts = options(tmp_path, pruner="none")
    run_sweep(opts, scorer_factory=factory)
    assert [t.state for t in trials_of(opts.storage, "lucic-ns")] == [COMPLETE, COMPLETE]
    # the same folder with a new storage: trial 0 of the new study must not resume the old trial 0's run
    again = options(tmp_path, pruner="none", storage=f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(GanforgeError, match="trial-0000 already holds a run that is not this trial's"):
        run_sweep(again, scorer_factory=factory)


def test_a_diverging_trial_is_an_inf_trial_and_the_worker_goes_on(cache, tmp_path, capsys):
    """Both trials diverge; the worker finishes the study, and the report of its folder (the default SQLite
    storage DIR/sweep.db) counts them as diverged and has no best trial."""
    opts = options(tmp_path, space="test-diverge", trials=2, pruner="none", storage=None)
    assert run_sweep(opts)["finished"] == 2
    trials = trials_of(f"sqlite:///{opts.out / 'sweep.db'}", "lucic-ns")
    assert [t.state for t in trials] == [COMPLETE, COMPLETE] and [t.value for t in trials] == [math.inf] * 2
    assert all(t.user_attrs["diverged"].startswith("training diverged at step ") for t in trials)
    assert main(["sweep", "report", str(opts.out)]) == 0, capsys.readouterr().err
    summary = json.loads((opts.out / "report.json").read_text())
    assert summary["best"] is None and summary["counts"]["diverged"] == summary["counts"]["complete"] == 2
    assert (opts.out / "report.png").is_file()


def test_a_nan_intermediate_score_ends_the_trial_as_diverged(cache, tmp_path):
    opts = options(tmp_path, trials=1, pruner="none")
    run_sweep(opts, scorer_factory=lambda cfg: (lambda images, labels: {"fd_logits": math.nan}))
    (trial,) = trials_of(opts.storage, "lucic-ns")
    assert trial.state == COMPLETE and trial.value == math.inf
    assert trial.user_attrs["diverged"] == "fd_logits is nan at step 2"


# ---------------------------------------------------------------- many workers on PostgreSQL

def postgres_url() -> str:
    url = os.environ.get("GANFORGE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(os.environ.get("GANFORGE_TEST_POSTGRES_SKIP") or "GANFORGE_TEST_POSTGRES_URL is not set "
                    "(.ci/run starts a throwaway PostgreSQL server; by hand: source scripts/postgres-for-tests.sh; "
                    "ganforge_pg_start)")
    pytest.importorskip("psycopg")
    return url


def worker(url: str, study: str, out: Path, env: dict, trials: int, steps: int, log: Path) -> subprocess.Popen:
    """``ganforge sweep`` in its own process, its output in ``log`` (a pipe nobody reads could fill and block it)."""
    argv = [sys.executable, "-m", "ganforge", "sweep", "lucic-ns", "--trials", str(trials), "--out", str(out),
            "--storage", url, "--study", study, "--pruner", "none", "--heartbeat", "1", "--grace-period", "3",
            *SCORING, *TINY_ARGS, f"steps={steps}", "ckpt_every=5", "eval_every=20"]
    with open(log, "w") as fh:
        return subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT)


def running_trial_of(storage, study: str, pid: int):
    """The RUNNING trial worker ``pid`` started, once its run has a checkpoint (else None)."""
    try:
        running = optuna.load_study(study_name=study, storage=storage).get_trials(
            states=(optuna.trial.TrialState.RUNNING,))
    except KeyError:  # the study is not created yet
        return None
    for t in running:
        attempts = t.user_attrs.get("attempts", [])
        if attempts and attempts[-1]["worker"].endswith(f":{pid}") and RunDir(t.user_attrs["run_dir"]).checkpoints():
            return t
    return None


def test_two_workers_share_a_postgres_study_and_a_killed_workers_trial_is_resumed(cache, tmp_path):
    # 100 generator steps with 1 D step, 20 when a trial draws 5 (the same D updates): killable either way
    url, study, steps, trials = postgres_url(), f"two-workers-{uuid.uuid4().hex[:10]}", 100, 3
    env = {**os.environ, "GANFORGE_CACHE": str(cache),
           "PYTHONPATH": os.pathsep.join([str(Path(ganforge.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    out, storage = tmp_path / "sweep", optuna.storages.RDBStorage(url)  # the tables exist before the workers start
    a, b = (worker(url, study, out, env, trials, steps, tmp_path / f"{name}.log") for name in "ab")
    try:
        deadline, victim = time.monotonic() + 240, None
        while victim is None and time.monotonic() < deadline and a.poll() is None:
            victim = running_trial_of(storage, study, a.pid)
            time.sleep(0.05)
        assert victim is not None, (tmp_path / "a.log").read_text()[-3000:]
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        run = RunDir(victim.user_attrs["run_dir"])
        killed_at, before, run_steps = run.checkpoints()[-1][0], run.read_log(), run.read_config()["steps"]
        assert 0 < killed_at < run_steps
        b.wait(timeout=300)
        assert b.returncode == 0, (tmp_path / "b.log").read_text()[-3000:]
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    finished = [t for t in trials_of(url, study) if t.state in (COMPLETE, PRUNED)]
    assert len(finished) == trials and all(t.state == COMPLETE for t in finished)
    assert len({t.number for t in finished}) == trials
    assert len({t.user_attrs["run_dir"] for t in finished}) == trials
    others = [t for t in trials_of(url, study) if t.state == FAIL and t.number != victim.number]
    assert all(t.user_attrs.get("surplus") for t in others)  # refused extras never trained
    # the killed trial was failed, re-queued and finished by B in the same run directory, from its checkpoint
    (retry,) = [t for t in finished if t.user_attrs["run_dir"] == victim.user_attrs["run_dir"]]
    assert retry.number != victim.number and retry.params == victim.params
    assert [t.state for t in trials_of(url, study) if t.number == victim.number] == [FAIL]
    first, second = retry.user_attrs["attempts"]
    assert first["worker"].endswith(f":{a.pid}") and first["start_step"] == 0
    assert second["worker"].endswith(f":{b.pid}") and second["start_step"] == killed_at
    # the log continues: the records up to the checkpoint are A's own (their measured images/s included),
    # then every later step once
    after = run.read_log()
    assert [r for r in after if r["step"] <= killed_at] == [r for r in before if r["step"] <= killed_at]
    assert [r["step"] for r in after if "loss_d" in r] == list(range(1, run_steps + 1))
    assert all(t.user_attrs["attempts"][-1]["worker"].endswith((f":{a.pid}", f":{b.pid}")) for t in finished)
    assert all(len(t.user_attrs["attempts"]) == 1 for t in finished if t is not retry)


# ---------------------------------------------------------------- optuna stays optional

def test_ganforge_imports_and_refuses_sweep_in_one_line_without_optuna(tmp_path):
    code = ("import sys; sys.modules['optuna'] = None\n"
            "import ganforge, ganforge.cli, ganforge.sweep, ganforge.evaluation, ganforge.report\n"
            "from ganforge.cli import main\n"
            f"sys.exit(main(['sweep', 'lucic-ns', '--trials', '1', '--out', {str(tmp_path / 'sw')!r}]))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(ganforge.__file__).parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("ganforge: error: sweep needs the optuna package") and "ganforge[sweep]" in lines[0]
    assert not (tmp_path / "sw").exists()
