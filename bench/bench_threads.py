"""How many PyTorch threads the kit's quick models should use, quiet and next to another CPU-bound process.

For each quick workload (the DCGAN on digits of `ganlab train`'s default budget, and the MLP GAN on `ring8`) it
times training steps with 1 and with 2 intra-op threads, once with the machine as it is ("quiet") and once while
one extra CPU-bound process (a Python busy loop this script starts and stops) runs beside it ("busy"). Repeats
alternate the four cells, and each figure is the median over repeats, so a machine whose load drifts (a shared
one) moves all cells alike: read the ratios, not the absolute times.

With `--cli` it also runs the default `ganlab train` (a shortened run, `--steps`) in a fresh process, quiet and
busy, alternating, and prints busy/quiet: the thread count is then the one the command picks itself.

    python bench/bench_threads.py [--steps 60] [--repeats 5] [--cli] [--cli-steps 300]
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

import torch

from ganlab.core import budget, seed_everything
from ganlab.data import get_dataset
from ganlab.train import DataSpec, Trainer, build_model

BUSY_LOOP = 'while True: pass'

def start_busy() -> subprocess.Popen:
    "One extra CPU-bound process (pure Python, so it uses exactly one core)."
    return subprocess.Popen([sys.executable, '-c', BUSY_LOOP])

def stop_busy(p: subprocess.Popen):
    p.terminate(); p.wait()

WORKLOADS = ('dcgan-digits', 'points-ring8')   # add 'dcgan-digits-32' with --workloads

def trainer_for(workload: str) -> Trainer:
    "A trainer for one quick workload: DCGAN at its quick budget's sizes (or at 32 px), or the MLP GAN on ring8."
    if workload.startswith('dcgan-digits'):
        b = budget('dcgan', quick=True)
        ds = get_dataset(b.data, resolution=32 if workload.endswith('-32') else b.resolution)
        r = build_model('dcgan', DataSpec.of(ds), width=b.width, nz=b.nz)
        bs = b.batch_size
    else:
        ds = get_dataset('ring8')
        r, bs = build_model('dcgan', DataSpec.of(ds), nz=2), 256
    seed_everything(0)
    return Trainer.from_recipe(r, ds, device='cpu', steps=10**9, batch_size=bs, log_every=50)

def seconds_per_step(t: Trainer, threads: int, steps: int) -> float:
    torch.set_num_threads(threads)
    t.fit(t.step + 3)                                     # warm-up: thread pool, allocator
    t0 = time.perf_counter()
    t.fit(t.step + steps)
    return (time.perf_counter() - t0) / steps

def matrix(workload: str, steps: int, repeats: int) -> dict:
    "Median seconds per step for (threads, busy), the cells alternating within each repeat."
    t, times = trainer_for(workload), {}
    for rep in range(repeats):
        order = [(1, False), (2, False), (1, True), (2, True)]
        if rep % 2: order = order[::-1]                   # alternate the order too
        for threads, busy in order:
            p = start_busy() if busy else None
            try: times.setdefault((threads, busy), []).append(seconds_per_step(t, threads, steps))
            finally:
                if p is not None: stop_busy(p)
    return {k: statistics.median(v) for k, v in times.items()}

def cli_seconds(steps: int, busy: bool) -> float:
    "Wall seconds of the default `ganlab train` (shortened to `steps`) in a fresh process."
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'IN_TEST')}
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, '-m', 'ganlab.cli', 'train', '--steps', str(steps), '--no-progress', '--no-eval',
               '--device', 'cpu', '--out', os.path.join(d, 'run')]
        p = start_busy() if busy else None
        try:
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - t0
        finally:
            if p is not None: stop_busy(p)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=60, help='timed steps per cell')
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--workloads', default=','.join(WORKLOADS), help=f"comma-separated: {', '.join(WORKLOADS)}, dcgan-digits-32")
    ap.add_argument('--cli', action='store_true', help='also time the default `ganlab train` quiet and busy')
    ap.add_argument('--cli-steps', type=int, default=300)
    ap.add_argument('--cli-repeats', type=int, default=3)
    a = ap.parse_args()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f"{cpus} usable CPUs, load average {load:.1f} at start; torch {torch.__version__}; "
          f"medians of {a.repeats} alternating repeats of {a.steps} steps")
    print(f"{'workload':16} {'1 thr quiet':>12} {'2 thr quiet':>12} {'1 thr busy':>11} {'2 thr busy':>11} "
          f"{'2/1 quiet':>10} {'2/1 busy':>9} {'busy/quiet 1':>13} {'busy/quiet 2':>13}")
    for w in a.workloads.split(','):
        m = matrix(w, a.steps, a.repeats)
        q1, q2, b1, b2 = m[1, False], m[2, False], m[1, True], m[2, True]
        print(f"{w:16} {1e3 * q1:10.1f}ms {1e3 * q2:10.1f}ms {1e3 * b1:9.1f}ms {1e3 * b2:9.1f}ms "
              f"{q2 / q1:10.2f} {b2 / b1:9.2f} {b1 / q1:13.2f} {b2 / q2:13.2f}")
    if a.cli:
        quiet, busy = [], []
        for rep in range(a.cli_repeats):
            for b in ((False, True) if rep % 2 == 0 else (True, False)):
                (busy if b else quiet).append(cli_seconds(a.cli_steps, b))
        q, b = statistics.median(quiet), statistics.median(busy)
        print(f"default `ganlab train --steps {a.cli_steps}`: quiet {q:.1f} s, busy {b:.1f} s, busy/quiet {b / q:.2f} "
              f"(target ≤ 2)")

if __name__ == '__main__': main()
