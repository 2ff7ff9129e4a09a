"""How long the FID doctor's report takes, part by part: at the chapter's two sizes in the small classifiers' 128-d
features, and at Inception's 2,048 dimensions (synthetic features, so no weights are needed; the cost of the
statistics does not depend on what the features mean).

    OMP_NUM_THREADS=1 python bench/bench_fid_doctor.py            # 128-d at N = 200 and 5,000, 2,048-d at N = 5,000
    python bench/bench_fid_doctor.py --dims 2048 --n 10000        # one configuration
"""
import argparse, time

import numpy as np

import ganlab.fid_doctor as D


def features(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    "Correlated Gaussian features with a heavy spectrum, like a network's (N, D)."
    g = np.random.default_rng(seed)
    scale = 1 / np.sqrt(np.arange(1, d + 1))
    return (g.normal(size=(n, d)) * scale) @ np.linalg.qr(np.random.default_rng(0).normal(size=(d, d)))[0] + shift


def timed(f, *a, **k):
    t = time.perf_counter(); out = f(*a, **k)
    return out, time.perf_counter() - t


def bench(n: int, d: int, n_boot: int, reps: int) -> None:
    fa, fb = features(n, d, 0.0, 1), features(n, d, 0.05, 2)
    ex, t_inf = timed(D.fid_infinity, fa, fb, reps=reps)
    bt, t_boot = timed(D.bootstrap_fid, fa, fb, n_boot)
    kb, t_kid = timed(D.bootstrap_kid, fa, fb, n_boot)
    _, t_nn = timed(D.nn_distances, fb)
    r, t_all = timed(D.fid_report, fa, fb, n_boot=n_boot, reps=reps)
    print(f"N={n:>6,} D={d:>5}  FID∞ ({len(ex.sizes)} sizes × {reps}) {t_inf:6.1f} s | bootstrap FID {t_boot:6.1f} s "
          f"({t_boot / n_boot * 1000:6.0f} ms/resample) | bootstrap KID {t_kid:5.1f} s | duplicates {t_nn:4.1f} s | "
          f"whole report ({n_boot} resamples) {t_all:6.1f} s")


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, nargs='*', help='samples per set (default: 200 and 5,000 at 128-d, 5,000 at 2,048-d)')
    p.add_argument('--dims', type=int, help='feature dimension')
    p.add_argument('--resamples', type=int, default=100)
    p.add_argument('--reps', type=int, default=2)
    a = p.parse_args()
    runs = [(n, a.dims) for n in a.n] if a.n and a.dims else [(200, 128), (5000, 128), (5000, 2048)]
    for n, d in runs: bench(n, d, a.resamples, a.reps)
