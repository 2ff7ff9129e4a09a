"""How much does the Lipschitz debugger slow training down?

Trains the quick DCGAN run (digits 32×32) and the quick WGAN-GP run (digits 8×8, n_critic = 5) with and without a
`LipschitzMonitor` (default settings: a record every 25 steps on a probe of 64 real samples and 64 latents, with
every layer's σ) in one process, alternating the order of the two so that drifts in machine load hit both equally.
The overhead is the median over the pairs of (wall time with / wall time without − 1); CPU seconds of this process
(`time.process_time`) are printed beside it, and so is the time the monitor measured for its own records, which
does not depend on what else the machine is doing.

    OMP_NUM_THREADS=1 python bench/bench_debugger.py                        # both runs, 3 pairs each
    OMP_NUM_THREADS=1 python bench/bench_debugger.py --runs wgan-gp --steps 300 --repeats 5 --every 10
"""
import argparse, statistics, time
import torch
import ganlab.wgan  # noqa: F401  (registers the wgan-gp budget)
from ganlab.core import budget, seed_everything
from ganlab.data import get_dataset
from ganlab.train import Trainer, DataSpec, build_model
from ganlab.lipschitz import LipschitzMonitor

def train(model: str, steps: int, monitor: LipschitzMonitor | None) -> tuple[float, float]:
    "Wall and CPU seconds of `steps` steps of `model`'s quick budget, with `monitor` attached if given."
    b = budget(model, quick=True)
    ds = get_dataset(b.data, resolution=b.resolution)
    seed_everything(0)
    rec = build_model(model, DataSpec.of(ds), width=b.width, nz=b.nz)
    over = {k: getattr(b, k) for k in ('lr_g', 'lr_d') if hasattr(b, k)}
    t = Trainer.from_recipe(rec, ds, callbacks=[monitor] if monitor else [], device='cpu',
                            steps=steps, batch_size=b.batch_size, log_every=25, **over)
    t0, c0 = time.perf_counter(), time.process_time()
    t.fit()
    return time.perf_counter() - t0, time.process_time() - c0

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--runs', nargs='+', default=['dcgan', 'wgan-gp'], choices=['dcgan', 'wgan-gp'])
    p.add_argument('--steps', type=int, default=None, help='steps per run (default: 150 dcgan, 200 wgan-gp)')
    p.add_argument('--repeats', type=int, default=3, help='pairs of runs (with, without), alternating the order')
    p.add_argument('--every', type=int, default=25, help="steps between the monitor's records")
    p.add_argument('--n', type=int, default=64, help='probe samples')
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    fmt = lambda xs: ', '.join(f'{x:.2f}' for x in xs)
    for model in a.runs:
        steps = a.steps or {'dcgan': 150, 'wgan-gp': 200}[model]
        train(model, 10, None)                                           # warm-up: imports, allocator, caches
        wall, cpu, own = {False: [], True: []}, {False: [], True: []}, []
        for i in range(a.repeats):
            for with_mon in ((False, True) if i % 2 == 0 else (True, False)):
                mon = LipschitzMonitor(every=a.every, n=a.n) if with_mon else None
                w, c = train(model, steps, mon)
                wall[with_mon].append(w); cpu[with_mon].append(c)
                if mon: own.append((len(mon.history), mon.seconds))
        ratio = [m / p - 1 for m, p in zip(wall[True], wall[False])]
        ratio_cpu = [m / p - 1 for m, p in zip(cpu[True], cpu[False])]
        records = statistics.mean(n for n, _ in own)
        per_record = 1000 * sum(s for _, s in own) / sum(n for n, _ in own)
        share = statistics.median(s / w for (_, s), w in zip(own, wall[True]))
        print(f"{model}: {steps} steps, every {a.every}, probe {a.n}\n"
              f"    wall seconds without monitor {fmt(wall[False])}; with {fmt(wall[True])}\n"
              f"    overhead (wall) {100 * statistics.median(ratio):+.1f}% median of {len(ratio)} pairs ({fmt(100 * r for r in ratio)} %)\n"
              f"    overhead (CPU)  {100 * statistics.median(ratio_cpu):+.1f}% median ({fmt(100 * r for r in ratio_cpu)} %)\n"
              f"    the monitor's own time: {records:.0f} records per run, {per_record:.0f} ms each, "
              f"{100 * share:.1f}% of the monitored run's wall time", flush=True)

if __name__ == '__main__': main()
