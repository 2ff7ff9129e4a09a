"""What a training step of the 2-D GAN costs: the plain loop against the trainer, and seeds stacked against seeds run one by one.

On `ring8` with the MLP GAN of the PacGAN quick budget (nz 2, Adam 1e-3), one CPU thread, it prints milliseconds
per generator step for:

- the plain loop of the DCGAN chapter (`train_dcgan`), the baseline;
- the `Trainer` with the same networks and batch, without and with its moving-average generator (the trainer's
  per-step overhead is the difference to the plain loop);
- `train_seeds` with K = 1, 3 and 5 stacked seeds, beside K separate trainers (K × the one-seed time), and five
  seeds through the general `vmap` path (`SeedStack.fast = False`) that the kit's MLPs skip;
- the arithmetic floor: the matrix products of one five-seed step (counted by `torch.utils.flop_counter`) divided by the
  rate this machine's batched matrix product reaches at the step's sizes, so the table shows how much of a
  stacked step is arithmetic that no batching can remove on one core.

Each figure is the median of `--repeats` alternating timings of `--steps` steps after a warm-up, as CPU time of this
process (`time.process_time`), so a machine shared with other work moves it less than wall time would.

    python bench/bench_seeds.py [--steps 200] [--repeats 3] [--batch-sizes 64,256]
"""
import argparse, os, statistics, time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ganlab.core import budget, seed_everything, set_threads
from ganlab.data import get_dataset
from ganlab.dcgan import train_dcgan
from ganlab.seeds import train_seeds
from ganlab.train import DataSpec, Trainer, build_model

def per_step(run, steps: int) -> float:
    "CPU milliseconds per step of `run(steps)`."
    t = time.process_time()
    run(steps)
    return 1e3 * (time.process_time() - t) / steps

def plain_loop(spec, ds, bs, lr):
    r = build_model('dcgan', spec, nz=2)
    return lambda n: train_dcgan(r.G, r.D, ds, steps=n, batch_size=bs, lr=lr, device='cpu', log_every=10**9)

def trainer(spec, ds, bs, lr, ema):
    r = build_model('dcgan', spec, nz=2, lr=lr)
    t = Trainer.from_recipe(r, ds, device='cpu', steps=10**9, batch_size=bs, log_every=10**9, ema=0.999 if ema else None)
    return lambda n: t.fit(t.step + n)

def stacked_trainer(spec, ds, bs, lr, k, fast=True):
    t = train_seeds(lambda: build_model('dcgan', spec, nz=2, lr=lr), ds, range(k), 10**9, bs, device='cpu', fit=False,
                    log_every=10**9)
    for net in (t.G, t.D, t.G_ema):
        if net is not None: net.fast = fast                   # False: the general vmap path
    return t

def stacked(spec, ds, bs, lr, k, fast=True):
    t = stacked_trainer(spec, ds, bs, lr, k, fast)
    return lambda n: t.fit(t.step + n)

def step_flops(t) -> int:
    "Floating-point operations of one training step (matrix products, forward and backward)."
    with FlopCounterMode(display=False) as fc: t.fit(t.step + 1)
    return fc.get_total_flops()

def bmm_rate(k: int, bs: int, width: int = 128, repeats: int = 200) -> float:
    "FLOP per CPU second of one batched product of the step's largest shape: (k, bs, width) @ (k, width, width)."
    a, w = torch.randn(k, bs, width), torch.randn(k, width, width)
    for _ in range(20): torch.bmm(a, w)
    t = time.process_time()
    for _ in range(repeats): torch.bmm(a, w)
    return repeats * 2 * k * bs * width * width / (time.process_time() - t)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=200)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--batch-sizes', default='64,256')
    a = ap.parse_args()
    set_threads(1)
    ds = get_dataset('ring8'); spec = DataSpec.of(ds)
    lr = budget('pacgan', quick=True).lr
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f"torch {torch.__version__}, 1 thread, load average {load:.1f}; CPU ms per generator step on ring8, "
          f"median of {a.repeats} × {a.steps} steps\n")
    for bs in map(int, a.batch_sizes.split(',')):
        seed_everything(0)
        cells = {'plain loop (train_dcgan)': plain_loop(spec, ds, bs, lr),
                 'trainer, no EMA': trainer(spec, ds, bs, lr, ema=False),
                 'trainer, EMA (default)': trainer(spec, ds, bs, lr, ema=True),
                 **{f'{k} seeds stacked': stacked(spec, ds, bs, lr, k) for k in (1, 3, 5)},
                 '5 seeds stacked, through vmap': stacked(spec, ds, bs, lr, 5, fast=False)}
        for run in cells.values(): run(10)                                  # warm-up
        times = {name: [] for name in cells}
        for rep in range(a.repeats):
            for name in (list(cells) if rep % 2 == 0 else list(cells)[::-1]): times[name].append(per_step(cells[name], a.steps))
        ms = {name: statistics.median(v) for name, v in times.items()}
        base, one = ms['plain loop (train_dcgan)'], ms['trainer, EMA (default)']
        print(f"## batch {bs} per seed\n\n| setup | ms / step | vs plain loop | separate runs' time it replaces |\n| --- | --- | --- | --- |")
        for name, v in ms.items():
            k = int(name.split()[0]) if 'stacked' in name else None
            sep = f"{k} × {one:.2f} = {k * one:.2f} ms ({k * one / v:.2f}× faster stacked)" if k else ''
            print(f"| {name} | {v:.2f} | {v / base:.2f} | {sep} |")
        flops = step_flops(stacked_trainer(spec, ds, bs, lr, 5))
        rate = bmm_rate(5, bs)
        floor = 1e3 * flops / rate
        print(f"\nArithmetic of a 5-seed step: {flops / 1e6:.0f} MFLOP in matrix products; at this machine's "
              f"{rate / 1e9:.0f} GFLOP/s for (5, {bs}, 128) @ (5, 128, 128) that is {floor:.2f} ms, "
              f"{floor / one:.2f}× one run's step: the floor of a 5-seed step on one core, before any fixed cost.\n")

if __name__ == '__main__': main()
