"Fault tests of `ganlab train`: a run killed by a signal between checkpoints resumes to exactly the same weights."
import os, signal, subprocess, sys, time
from pathlib import Path

import torch

from ganlab.train import load_checkpoint, latest_checkpoint, list_checkpoints

RUN = [sys.executable, '-c', 'import sys; from ganlab.cli import main; sys.exit(main(sys.argv[1:]))']
ARGS = ['train', '--resolution', '16', '--steps', '120', '--batch-size', '16', '--checkpoint-every', '30', '--no-progress', '--no-eval']

def env():
    e = dict(os.environ, OMP_NUM_THREADS='1')   # same threads in every process: same floating-point results
    return e

def train(out, *extra, check=True):
    return subprocess.run(RUN + ARGS + ['--out', str(out), *extra], env=env(), capture_output=True, text=True, check=check)

def assert_same(a, b, where):
    "Tensors equal exactly (dtype and values), containers item by item, everything else by `==`."
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert sorted(map(str, a)) == sorted(map(str, b)), where
        for k in a: assert_same(a[k], b[k], f'{where}[{k!r}]')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)): assert_same(u, v, f'{where}[{i}]')
    else: assert a == b, where

def assert_same_weights(a: Path, b: Path):
    "The two checkpoints hold the same step, weights, EMA copy, optimiser moments, noise state and history."
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca['step'] == cb['step'] and ca['batches_used'] == cb['batches_used']
    for part in ('G', 'D', 'G_ema', 'opt_g', 'opt_d', 'noise', 'history'): assert_same(ca[part], cb[part], part)

def test_killed_run_resumes_exactly(tmp_path):
    straight = tmp_path / 'straight'
    uninterrupted = subprocess.Popen(RUN + ARGS + ['--out', str(straight)], env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = tmp_path / 'killed'
    p = subprocess.Popen(RUN + ARGS + ['--out', str(killed)], env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / 'checkpoints' / 'step_0000060.pt').exists():
        assert p.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL); p.wait()
    newest = latest_checkpoint(killed / 'checkpoints')
    assert newest is not None and load_checkpoint(newest)['step'] < 120, "the kill came too late to test anything"
    assert not (killed / 'metrics.json').exists()
    assert uninterrupted.wait() == 0
    r = train(killed, '--resume')
    assert r.returncode == 0, r.stderr
    assert_same_weights(latest_checkpoint(straight / 'checkpoints'), latest_checkpoint(killed / 'checkpoints'))
    assert (killed / 'samples.png').read_bytes() == (straight / 'samples.png').read_bytes()

def test_resume_refuses_a_corrupt_checkpoint_and_keeps_it(tmp_path):
    out = tmp_path / 'run'
    r = subprocess.run(RUN + ['train', '--resolution', '16', '--steps', '20', '--batch-size', '16', '--checkpoint-every', '10', '--no-eval',
                              '--no-progress', '--out', str(out)], env=env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    newest = latest_checkpoint(out / 'checkpoints')
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 3])
    r = train(out, '--resume', '--steps', '30', check=False)
    assert r.returncode == 2 and 'truncated or corrupt' in r.stderr and newest.name in r.stderr, r.stderr
    assert newest.exists() and len(list_checkpoints(out / 'checkpoints')) == 2

def test_resume_without_a_run_explains(tmp_path):
    r = train(tmp_path / 'empty', '--resume', check=False)
    assert r.returncode == 2 and 'Nothing to resume' in r.stderr

def test_sample_is_byte_identical_across_processes(tmp_path):
    out = tmp_path / 'run'
    subprocess.run(RUN + ['train', '--resolution', '16', '--steps', '10', '--batch-size', '16', '--no-progress', '--no-eval',
                          '--out', str(out)], env=env(), check=True, capture_output=True)
    for name in ('a', 'b'):
        subprocess.run(RUN + ['sample', str(out), '--seed', '5', '--out', str(tmp_path / f'{name}.png')], env=env(), check=True,
                       capture_output=True)
    assert (tmp_path / 'a.png').read_bytes() == (tmp_path / 'b.png').read_bytes()
