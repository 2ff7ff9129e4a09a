"""How much does the live dashboard slow training down?

Trains the same run with and without a `Dashboard` (default settings: a refresh every 2 s, refreshing at most 4%
of the time) in one process, alternating the two so that drifts in machine load hit both equally, and prints
both times and the overhead. Times are CPU seconds of this process (`time.process_time`), which other programs
on a shared machine barely disturb; wall-clock seconds are printed beside them. The overhead is the median over
the pairs of (with / without - 1). The dashboard's widgets are rendered exactly as in a notebook (PNG bytes into
`ipywidgets.Image`); only the front end is missing.

    OMP_NUM_THREADS=1 python bench/bench_dashboard.py                 # digits 32×32 DCGAN and grid25 MLPs
    OMP_NUM_THREADS=1 python bench/bench_dashboard.py --runs points --steps 3000 --repeats 3
"""
import argparse, statistics, time
import torch
from ganlab.core import seed_everything
from ganlab.data import get_dataset
from ganlab.train import Trainer, DataSpec, build_model
from ganlab.widgets import Dashboard

RUNS = {'digits': dict(data='digits', resolution=32, batch_size=64, kw=dict(width=32, nz=64)),
        'points': dict(data='grid25', resolution=None, batch_size=256, kw=dict(nz=64))}

def train(run: str, steps: int, dashboard: bool, every: float) -> tuple[float, float, Dashboard | None]:
    r = RUNS[run]
    ds = get_dataset(r['data'], resolution=r['resolution']) if r['resolution'] else get_dataset(r['data'])
    seed_everything(0)
    rec = build_model('dcgan', DataSpec.of(ds), **r['kw'])
    dash = Dashboard(every=every) if dashboard else None
    t = Trainer.from_recipe(rec, ds, callbacks=[dash] if dash else [], device='cpu',
                            steps=steps, batch_size=r['batch_size'], log_every=50)
    t0, c0 = time.perf_counter(), time.process_time()
    t.fit()
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    if dash: dash.close()
    return cpu, wall, dash

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--runs', nargs='+', default=['digits', 'points'], choices=sorted(RUNS))
    p.add_argument('--steps', type=int, default=None, help='steps per run (default: 150 digits, 1500 points)')
    p.add_argument('--repeats', type=int, default=2, help='pairs of runs (with, without), alternating')
    p.add_argument('--every', type=float, default=2.0, help="the dashboard's refresh interval in seconds")
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for run in a.runs:
        steps = a.steps or {'digits': 150, 'points': 1500}[run]
        train(run, 20, False, a.every)                                   # warm-up: imports, allocator, caches
        plain, dashed, walls, refreshes, refresh_s = [], [], {False: [], True: []}, [], []
        for i in range(a.repeats):
            order = (False, True) if i % 2 == 0 else (True, False)
            for with_dash in order:
                cpu, wall, dash = train(run, steps, with_dash, a.every)
                (dashed if with_dash else plain).append(cpu); walls[with_dash].append(wall)
                if dash: refreshes.append(dash.refreshes); refresh_s.append(dash.refresh_seconds)
        overhead = statistics.median(d / p - 1 for d, p in zip(dashed, plain))
        fmt = lambda xs: ', '.join(f'{x:.2f}' for x in xs)
        print(f"{run}: {steps} steps, CPU seconds without dashboard {fmt(plain)}; with dashboard {fmt(dashed)}; "
              f"overhead {100 * overhead:+.1f}% (median of {len(plain)} pairs)\n"
              f"    wall seconds without {fmt(walls[False])}; with {fmt(walls[True])}\n"
              f"    {statistics.mean(refreshes):.1f} refreshes per run, {1000 * sum(refresh_s) / max(1, sum(refreshes)):.0f} ms each "
              f"(wall), {100 * statistics.mean(r / w for r, w in zip(refresh_s, walls[True])):.1f}% of the run's wall time", flush=True)

if __name__ == '__main__': main()
