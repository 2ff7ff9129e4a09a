"Fault tests of `ganlab train`: a run killed by a signal between checkpoints resumes to exactly the same weights."
import os, signal, subprocess, sys, time
from pathlib import Path

import pytest, torch

from ganlab.train import load_checkpoint, latest_checkpoint, list_checkpoints

RUN = [sys.executable, '-c', 'import sys; from ganlab.cli import main; sys.exit(main(sys.argv[1:]))']
ARGS = ['train', '--resolution', '16', '--steps', '120', '--batch-size', '16', '--checkpoint-every', '30', '--no-progress', '--no-eval']

def env():
    e = dict(os.environ, OMP_NUM_THREADS='1')   # same threads in every process: same floating-point results
    return e

def train(out, *extra, check=True):
    return subprocess.run(RUN + ARGS + ['--out', str(out), *extra], env=env(), capture_output=True, text=True, check=check)

def assert_same_weights(a: Path, b: Path):
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca['step'] == cb['step']
    for net in ('G', 'D', 'G_ema'):
        for k, v in ca[net].items(): assert torch.equal(v, cb[net][k]), (net, k)
    assert ca['history'] == cb['history']

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
