"""Time ganlab's Fréchet distance against pytorch-fid's `calculate_frechet_distance` on 2048-d statistics.

    python bench/bench_fid.py [--reps 3] [--dims 2048] [--samples 5000] [--threads N]

Both functions get the same random statistics (covariances of correlated features, like Inception's);
prints the median time of each, the speed-up, and the difference between the two values.
"""
import argparse, statistics, time
import numpy as np

def random_stats(n: int, d: int, seed: int):
    "Mean and covariance of n correlated d-dimensional samples."
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    x = rng.normal(size=(n, d)) @ mix + rng.normal(size=d) * 0.1
    return x.mean(0), np.cov(x, rowvar=False)

def median_time(f, reps: int) -> tuple[float, float]:
    times, value = [], None
    for _ in range(reps):
        t = time.perf_counter(); value = f(); times.append(time.perf_counter() - t)
    return statistics.median(times), value

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--reps', type=int, default=3, help='repetitions of each (median reported)')
    p.add_argument('--dims', type=int, default=2048, help='feature dimension (Inception pool3: 2048)')
    p.add_argument('--samples', type=int, default=5000, help='samples behind each covariance (fewer than dims: singular)')
    p.add_argument('--threads', type=int, default=None, help='BLAS threads (default: the library default)')
    a = p.parse_args()
    if a.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(a.threads)
    from ganlab.metrics import frechet_distance
    from pytorch_fid.fid_score import calculate_frechet_distance
    (mu1, s1), (mu2, s2) = random_stats(a.samples, a.dims, 0), random_stats(a.samples, a.dims, 1)
    t_ours, v_ours = median_time(lambda: frechet_distance(mu1, s1, mu2, s2), a.reps)
    t_ref, v_ref = median_time(lambda: calculate_frechet_distance(mu1, s1, mu2, s2), a.reps)
    print(f"statistics: {a.dims}-d from {a.samples} samples, {a.reps} repetitions (median)")
    print(f"ganlab.metrics.frechet_distance:             {t_ours:8.3f} s   FID = {v_ours:.10f}")
    print(f"pytorch_fid calculate_frechet_distance:      {t_ref:8.3f} s   FID = {v_ref:.10f}")
    print(f"difference: {abs(v_ours - v_ref):.3e} (relative {abs(v_ours - v_ref) / abs(v_ref):.3e})")
    print(f"speed-up: {t_ref / t_ours:.1f}x")

if __name__ == '__main__': main()
