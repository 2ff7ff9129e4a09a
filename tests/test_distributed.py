"""Data-parallel training on the CPU: 2 processes with gloo, started by torchrun.

- every rank holds the same weights, optimiser states, EMA copy (with its batch-norm buffers), noise generator and
  logs, and only rank 0 writes files; the run loads in one process (`load_generator`, `ganlab sample`);
- a 2-process WGAN-GP run on the 8-Gaussian ring (MLPs: no batch norm) ends where a 1-process run with the same
  global batch ends, to 1e-5;
- `ganlab train --nproc 2` (which becomes `torchrun ... -m ganlab.cli train`) killed with SIGKILL between
  checkpoints stops its workers, and resuming ends exactly where the uninterrupted run ends; resuming with another
  number of processes is refused; bad set-ups are refused before anything starts;
- the GPU suite's CPU smoke mode passes.

gloo sometimes aborts at interpreter exit after all work is done ("terminate called without an active exception"):
`job_completed` accepts a non-zero exit status only with that message and every rank's "finished" line.
"""
import contextlib, json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest, torch

from ganlab.cli import main
from ganlab.distributed import job_completed
from ganlab.train import latest_checkpoint, list_checkpoints, load_checkpoint, load_generator

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, '-m', 'ganlab.cli']
TORCHRUN_2 = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2']
# WGAN-GP on the 8-Gaussian ring: MLPs without any normalisation, a gradient penalty through DDP, 5 critic steps per
# generator step. (The image models' generator uses batch norm, whose statistics are per process: not comparable.)
WGAN = ['train', '--model', 'wgan-gp', '--data', 'ring8', '--steps', '40', '--batch-size', '64', '--checkpoint-every', '10',
        '--no-progress', '--no-eval']
TOLERANCE = 1e-5     # |2-process − 1-process| of any weight after 40 steps; measured: about 1e-7 (summation order)
# The comparison runs at WGAN-GP's own rates (Adam 1e-4, constant), not at the ring's quick budget (1e-3, decaying):
# at ten times the rate, Adam turns those 1e-7 summation differences into weight differences of about 0.03 within
# 40 steps (measured: 0.034), because a GAN's trajectory amplifies any perturbation. Both runs pin the same row.
PAPER_RATES = ("import ganlab.wgan\n"
               "from ganlab.core import register_budget\n"
               "_row = dict(data='ring8', resolution=None, steps=40, batch_size=64, width=32, nz=2, lr_g=1e-4, lr_d=1e-4)\n"
               "register_budget('wgan-gp', quick=_row, full=_row, data='ring8')\n")

@contextlib.contextmanager
def paper_rates():
    "Within the block, `wgan-gp` on `ring8` trains at WGAN-GP's own rates (`PAPER_RATES`); the budgets are restored after."
    import ganlab.wgan  # noqa: F401  (registers the rows this replaces)
    from ganlab.core import BUDGETS
    saved = dict(BUDGETS)
    exec(PAPER_RATES)
    try: yield
    finally: BUDGETS.clear(); BUDGETS.update(saved)

def env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS='1', GANLAB_QUICK='1', GANLAB_DEVICE='cpu')

def run(cmd: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=timeout)

def assert_completed(r: subprocess.CompletedProcess, world_size: int = 2):
    out = r.stdout + r.stderr
    assert job_completed(r.returncode, out, world_size), f"exit status {r.returncode}\n{out[-6000:]}"

def tensors(ck: dict) -> dict[str, torch.Tensor]:
    "Every weight, buffer and optimiser tensor of a checkpoint, by a flat name."
    out = {f'{net}.{k}': v for net in ('G', 'D', 'G_ema') for k, v in ck[net].items()}
    for opt in ('opt_g', 'opt_d'):
        for i, s in ck[opt]['state'].items():
            out.update({f'{opt}.{i}.{k}': v for k, v in s.items() if torch.is_tensor(v)})
    return out

WORKER = f"PAPER_RATES = {PAPER_RATES!r}\n" + r"""
import json, os, sys
from pathlib import Path
out, log = Path(sys.argv[1]), Path(sys.argv[2])
writes = []
def audit(event, args):      # every file this process creates, renames or removes under the run folder
    if event in ('open', 'os.rename', 'os.remove', 'os.mkdir') and args and str(args[0]).startswith(str(out)):
        mode, flags = (args[1], args[2]) if event == 'open' else ('w', 0)
        if event != 'open' or (mode and any(c in str(mode) for c in 'wax+')) or (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writes.append(f"{event} {args[0]}")
sys.addaudithook(audit)
import torch
from ganlab.train import train_run
from ganlab.distributed import get_world, max_rank_difference, shutdown
def spread(t):
    "The largest difference from rank 0 of everything a rank holds (D's buffers aside: DDP refreshes them per forward)."
    opt = [v for o in (t.opt_g, t.opt_d) for s in o.state.values() for v in s.values() if torch.is_tensor(v)]
    return dict(G=max_rank_difference(t.G), D=max_rank_difference(*t.D.parameters()), G_ema=max_rank_difference(t.G_ema),
                opt=max_rank_difference(*opt), noise=max_rank_difference(t.noise.get_state().double()),
                history=max_rank_difference(torch.tensor([h['loss_d'] for h in t.history])))
# the run `ganlab train` makes with the same arguments
wgan = train_run('wgan-gp', data='ring8', steps=40, batch_size=64, out=out, checkpoint_every=10, progress=False)
report = dict(wgan=spread(wgan), writes=writes[:])
exec(PAPER_RATES)   # the same run at WGAN-GP's own rates, for the comparison with one process (see TOLERANCE)
train_run('wgan-gp', data='ring8', steps=40, batch_size=64, out=Path(str(out) + '-paper'), checkpoint_every=10, progress=False)
# DCGAN, with batch norm in G and D: the EMA copy's buffers must agree too
dcgan = train_run('dcgan', data='digits', resolution=8, steps=4, batch_size=16, progress=False, model_kwargs=dict(width=8, nz=16))
report.update(dcgan=spread(dcgan), world_size=get_world().world_size, steps=[wgan.step, dcgan.step])
(log / f'rank{get_world().rank}.json').write_text(json.dumps(report))
shutdown(say_done=True)
"""

@pytest.fixture(scope='module')
def two_process_run(tmp_path_factory):
    "An uninterrupted 2-process WGAN-GP run on the ring (then a short DCGAN run), with what each rank holds and writes."
    tmp = tmp_path_factory.mktemp('ddp')
    (tmp / 'worker.py').write_text(WORKER)
    out, log = tmp / 'run', tmp / 'log'
    log.mkdir()
    assert_completed(run(TORCHRUN_2 + [str(tmp / 'worker.py'), str(out), str(log)]))
    return out, [json.loads((log / f'rank{i}.json').read_text()) for i in (0, 1)]

def test_ranks_stay_identical_and_rank_0_alone_writes(two_process_run):
    "Weights, optimiser states, the EMA copy with its buffers, the noise generator and the logs are equal on both ranks."
    out, ranks = two_process_run
    for rep in ranks:
        assert (rep['world_size'], rep['steps']) == (2, [40, 4])
        for run_name in ('wgan', 'dcgan'):
            for k, v in rep[run_name].items(): assert v == 0.0, (run_name, k, v)
    assert ranks[1]['writes'] == [], ranks[1]['writes']
    written = ' '.join(ranks[0]['writes'])
    for name in ('step_0000030.pt', 'step_0000040.pt', 'samples.png', 'losses.png', 'history.json', 'metrics.json'):
        assert name in written, name
    assert sorted(p.name for p in out.iterdir()) == ['checkpoints', 'history.json', 'losses.png', 'metrics.json', 'samples.png']
    assert [p.name for p in list_checkpoints(out / 'checkpoints')] == ['step_0000030.pt', 'step_0000040.pt']

def test_a_checkpoint_of_two_processes_loads_in_one(two_process_run, tmp_path, capsys):
    out, _ = two_process_run
    metrics = json.loads((out / 'metrics.json').read_text())
    assert (metrics['step'], metrics['processes']) == (40, 2)
    ck = load_checkpoint(latest_checkpoint(out / 'checkpoints'))
    assert (ck['step'], ck['world_size'], ck['config']['batch_size']) == (40, 2, 64)
    assert not any(k.startswith('module.') for k in ck['G']), "weights saved from inside the DDP wrapper"
    G, _ = load_generator(latest_checkpoint(out / 'checkpoints'))
    assert G(torch.randn(3, G.nz)).shape == (3, 2)
    assert main(['sample', str(out), '--out', str(tmp_path / 's.png'), '--n', '16']) == 0, capsys.readouterr().err
    assert (tmp_path / 's.png').stat().st_size > 0

def test_two_processes_match_one_process(two_process_run, tmp_path, capsys):
    "Same global batch (data and noise), no batch norm: the 2-process run is the 1-process run up to rounding."
    out = Path(str(two_process_run[0]) + '-paper')        # the 2-process run at WGAN-GP's own rates
    with paper_rates(): assert main(WGAN + ['--out', str(tmp_path / 'one')]) == 0, capsys.readouterr().err
    two, one = (tensors(load_checkpoint(latest_checkpoint(p / 'checkpoints'))) for p in (out, tmp_path / 'one'))
    assert two.keys() == one.keys()
    worst = max((two[k].double() - one[k].double()).abs().max().item() for k in two)
    assert 0 <= worst <= TOLERANCE, f"largest difference {worst:.3g} > {TOLERANCE}"
    # ... and the tolerance is tight: the generator moved far more than that over the last 10 steps
    earlier = tensors(load_checkpoint(list_checkpoints(out / 'checkpoints')[-2]))
    moved = max((two[k].double() - earlier[k].double()).abs().max().item() for k in two if k.startswith('G.'))
    assert moved > 50 * TOLERANCE, moved
    h1, h2 = (json.loads((p / 'history.json').read_text()) for p in (tmp_path / 'one', out))
    assert [h['step'] for h in h1] == [h['step'] for h in h2]
    for a, b in zip(h1, h2): assert abs(a['loss_d'] - b['loss_d']) <= 1e-4 * (1 + abs(a['loss_d'])), (a, b)

def children(pid: int) -> list[int]:
    "The processes whose parent is `pid` (Linux /proc)."
    kids = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try: fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError: continue
        if int(fields[1]) == pid: kids.append(int(stat.parent.name))
    return kids

def alive(pid: int) -> bool:
    try: return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError: return False

@pytest.mark.skipif(not Path('/proc').is_dir(), reason='finds the worker processes through /proc')
def test_killed_launcher_resumes_to_the_uninterrupted_run(two_process_run, tmp_path):
    straight, _ = two_process_run
    out = tmp_path / 'killed'
    p = subprocess.Popen(CLI + WGAN + ['--nproc', '2', '--out', str(out)], env=env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)   # becomes torchrun's launcher
    deadline, workers = time.time() + 180, []
    while not (out / 'checkpoints' / 'step_0000010.pt').exists():
        assert p.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no checkpoint appeared"
        workers = children(p.pid) or workers
        time.sleep(0.01)
    workers = children(p.pid) or workers
    p.send_signal(signal.SIGKILL); p.wait()
    assert len(workers) == 2, workers
    deadline = time.time() + 20                 # each worker notices that its launcher is gone and stops
    while any(alive(w) for w in workers):
        assert time.time() < deadline, "the workers trained on without their launcher"
        time.sleep(0.1)
    newest = latest_checkpoint(out / 'checkpoints')
    assert newest is not None and load_checkpoint(newest)['step'] < 40, "the kill came too late to test anything"
    assert not (out / 'metrics.json').exists()
    r = run(CLI + ['train', '--model', 'wgan-gp', '--nproc', '2', '--resume', '--out', str(out), '--no-progress', '--no-eval'])
    assert_completed(r)
    a, b = (load_checkpoint(latest_checkpoint(d / 'checkpoints')) for d in (straight, out))
    assert a['step'] == b['step'] == 40
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta: assert torch.equal(ta[k], tb[k]), k
    assert a['history'] == b['history']

def test_resume_with_another_number_of_processes_is_refused(two_process_run, capsys):
    out, _ = two_process_run
    code = main(['train', '--model', 'wgan-gp', '--resume', '--out', str(out), '--steps', '50', '--no-progress', '--no-eval'])
    err = capsys.readouterr().err
    assert code == 2 and 'trained by 2 processes' in err and '--nproc 2' in err, err
    assert latest_checkpoint(out / 'checkpoints').name == 'step_0000040.pt'

def test_bad_setups_are_refused_before_launching(tmp_path, capsys):
    assert main(['train', '--nproc', '2', '--batch-size', '15', '--out', str(tmp_path / 'a')]) == 2
    assert 'does not split evenly over 2 processes' in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(['train', '--nproc', '2', '--device', 'cuda', '--out', str(tmp_path / 'b')]) == 2
        assert 'no CUDA GPU' in capsys.readouterr().err
    assert not (tmp_path / 'a').exists() and not (tmp_path / 'b').exists()

def test_gpu_suite_cpu_smoke(tmp_path):
    "The GPU suite's every section, a few steps each on the CPU: the suite works before a GPU touches it."
    r = run([sys.executable, str(ROOT / 'bench' / 'gpu_suite.py'), '--cpu-smoke', '--out', str(tmp_path)], timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    report = json.loads((tmp_path / 'report.json').read_text())
    assert report['passed'] and report['errors'] == {}
    s = report['sections']
    assert {row['model'] for row in s['families']['runs']} >= {'dcgan', 'cgan', 'wgan-gp', 'sagan', 'progan', 'pacgan'}
    assert len(s['trainer']['rows']) == 8 and all(row['images_per_second'] > 0 for row in s['trainer']['rows'])   # 1 + 6 + 1 probe
    assert s['fid']['max_abs_feature_difference'] <= 1e-6 * s['fid']['largest_feature']
    assert [row['processes'] for row in s['ddp']['rows']] == [1, 2]
    assert 'PASSED' in (tmp_path / 'summary.txt').read_text()
