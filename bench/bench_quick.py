"""The quick budgets against the papers' results: each quick configuration trained with several seeds, one table each.

- `digits` with DCGAN, the default `ganlab train` (`train_run('dcgan')` with the quick budget, EMA generator):
  the share of samples the kit's classifier is sure of (p > 0.9), the share of each digit, and classifier-FID
  against one half of the real digits, beside the FID between the two halves (the floor at this sample size).
- `ring8` and `grid25`: a plain GAN, PacGAN2, PacGAN4 and a GAN whose discriminator sees the minibatch standard
  deviation (`mbstd-gan`), with the points budget of `dcgan`/`pacgan` (what `ganlab train --model dcgan --data
  ring8` runs), and WGAN-GP and WGAN with clipping at theirs; all seeds of a setup train at once (`ganlab.seeds.train_seeds`); modes
  captured, % high-quality samples (within 3 std of a mode) and reverse KL on 2,500 samples of each seed's EMA
  generator, beside PacGAN's Table 1. With `--png`, seed 0's scatter plots, and all of them side by side.
- `points-short` (not in the default run): whether a far shorter 2-D budget converges, as a chapter's live table
  (three seeds, a few CPU minutes for the whole chapter) would need: the plain GAN and minibatch stddev at a few
  short budgets with the points recipe's linear decay and higher learning rates, and with Adam's betas (0, 0.9)
  instead of the recipe's (0.5, 0.999), all seeds at once.
- `stacked_digits` with DCGAN and PacGAN2 at their `stacked_digits` budgets: modes (digit triples) covered in
  10,000 samples, reverse KL to the data's histogram, beside PacGAN's Table 2, and classifier-FID.
- `cgan` on digits: how often the kit's classifier reads the class the generator was asked for.
- `shapes` with SAGAN and ProGAN at their quick budgets, SAGAN also at the paper's learning rates, and ProGAN
  trained at full size from the first step with the same budget (`grow=False`): classes covered, the smallest
  class's share, and classifier-FID beside the FID between real test and training images; ProGAN at full
  size for 600 steps, about the CPU time of the growing run's 900; and growing with the paper's nearest-neighbour
  upsampling, at the quick budget's schedule and at the earlier budget (150-step phases, 1,050 steps).
- `shapes-scale`: the same classifier-FID ratio for real shapes images given small, known defects (pixel noise,
  colour changes, a lifted background, blur), a scale against which to read the models' ratios.
- `shapes-longer` (not in the default run): whether the budget is what limits the shapes models. SAGAN scored every
  half quick budget along one run four times its quick budget; ProGAN with every growth phase 1, 2 and 4 times as
  long; classes, the smallest class's share, the FID ratio and the background's level.

Runs use one CPU thread (`set_threads(1)`) and report CPU time (`time.process_time`) beside wall time: on a
shared machine CPU time is the honest stand-in for the wall time of a quiet one. Spreads are standard deviations
over seeds.

    python bench/bench_quick.py [--only digits,points,points-short,stacked,cgan,shapes,shapes-scale,shapes-longer] [--data ring8,grid25] [--seeds 3] [--first-seed 0] [--point-seeds 5] [--png DIR] [--shapes-setups NAMES]
"""
import argparse, math, os, statistics, time
from pathlib import Path

import torch
import torch.nn.functional as F

import ganlab.conditional  # noqa: F401  (registers the cgan budget)
import ganlab.wgan  # noqa: F401  (registers the WGAN budgets)
from ganlab.core import budget, save_images, save_samples, set_threads
from ganlab.data import get_dataset, sample_batch
from ganlab.metrics import batched_apply, classifier_for, classifier_features, feature_stats, frechet_distance
from ganlab.modes import mode_measures
from ganlab.diagnostics import image_mode_measures
from ganlab.seeds import seed_samples, train_seeds
from ganlab.train import DataSpec, build_model, split_budget, train_run

PACGAN_TABLE1 = {('ring8', 'GAN'): (6.3, 98.2), ('grid25', 'GAN'): (17.3, 94.8),
                 ('ring8', 'PacGAN4'): (7.8, None), ('grid25', 'PacGAN4'): (24.8, None)}   # modes, % high quality
K = {'ring8': 8, 'grid25': 25}

def timed(f, *args, **kw):
    "Run f; return its result, CPU seconds and wall seconds."
    c, w = time.process_time(), time.perf_counter()
    out = f(*args, **kw)
    return out, time.process_time() - c, time.perf_counter() - w

def spread(xs) -> str:
    "Mean ± standard deviation over seeds; runs with an infinite value (no sample on any mode) are counted apart."
    xs = [float(x) for x in xs]
    finite = [x for x in xs if math.isfinite(x)]
    extra = f" (and {len(xs) - len(finite)} × ∞)" if len(finite) < len(xs) else ''
    if not finite: return '∞'
    m = statistics.mean(finite)
    return (f"{m:.3g} ± {statistics.stdev(finite):.2g}" if len(finite) > 1 else f"{m:.3g}") + extra

def probabilities(clf, x: torch.Tensor) -> torch.Tensor:
    return batched_apply(lambda b: F.softmax(clf(b), 1), x)

def real_halves(resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    "All 1,797 digits at `resolution`, shuffled once and cut in two halves."
    ds = get_dataset('digits', resolution=resolution)
    x, _ = ds.__getitems__(list(range(len(ds))))
    p = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    h = len(x) // 2
    return x[p[:h]], x[p[h:2 * h]]

def digits_figures(clf, fake: torch.Tensor, ref: torch.Tensor) -> dict:
    "Classifier confidence, class shares and classifier-FID of `fake` against the real half `ref`."
    p = probabilities(clf, fake)
    share = torch.bincount(p.argmax(1), minlength=10).float() / len(p)
    fid = frechet_distance(*feature_stats(classifier_features(clf, ref)), *feature_stats(classifier_features(clf, fake)))
    return dict(confident=(p.max(1).values > 0.9).float().mean().item(), share_min=share.min().item(),
                share_max=share.max().item(), fid=float(fid))

def bench_digits(seeds, png: Path | None):
    b = budget('dcgan', quick=True)
    clf = classifier_for('digits', b.resolution)
    a, bh = real_halves(b.resolution)
    real = digits_figures(clf, bh, a)
    print(f"\n## digits, DCGAN (`ganlab train` defaults): {b.resolution} px, {b.steps} steps, batch {b.batch_size}, "
          f"lr {b.lr}, Adam betas {b.betas}, width {b.width}, R1 γ/2 = {b.r1}; {len(seeds)} seeds; {len(a)} samples against {len(a)} real digits\n")
    rows = []
    for s in seeds:
        t, cpu, wall = timed(train_run, 'dcgan', seed=s, progress=False, quick=True)
        fig = digits_figures(clf, t.sample(len(a), seed=1000 + s), a)
        rows.append(dict(fig, cpu=cpu, wall=wall))
        print(f"seed {s}: " + ', '.join(f"{k} {v:.3f}" for k, v in rows[-1].items()), flush=True)
        if png: save_images(t.sample(64, seed=s), png / f'dcgan-digits-seed{s}.png')
    col = lambda k: [r[k] for r in rows]
    print("\n| figure | ours (mean ± sd) | target | real digits (other half) |\n| --- | --- | --- | --- |")
    print(f"| classifier sure (p > 0.9) | {spread(col('confident'))} | ≥ 0.65 | {real['confident']:.3f} |")
    print(f"| smallest / largest class share | {spread(col('share_min'))} / {spread(col('share_max'))} | ≥ 0.05 / ≤ 0.15 "
          f"| {real['share_min']:.3f} / {real['share_max']:.3f} |")
    print(f"| classifier-FID | {spread(col('fid'))} | ≤ {2 * real['fid']:.2f} (2× real) | {real['fid']:.2f} |")
    print(f"| classifier-FID / real-vs-real | {spread([f / real['fid'] for f in col('fid')])} | ≤ 2 | 1 |")
    print(f"| training CPU s / wall s | {spread(col('cpu'))} / {spread(col('wall'))} | ≤ 60 | |")

SETUPS = {'GAN': ('dcgan', {}), 'PacGAN2': ('pacgan', dict(packing=2)), 'PacGAN4': ('pacgan', dict(packing=4)),
          'GAN + minibatch stddev': ('mbstd-gan', {}), 'WGAN-GP': ('wgan-gp', {}), 'WGAN (clip)': ('wgan-clip', {})}

def points_trainer(setup: str, ds, seeds, steps: int | None = None, batch_size: int | None = None, **overrides):
    "All seeds of one setup as one stacked trainer, with the quick budget `ganlab train` uses for the model on `ds`, or that budget with `steps`, `batch_size`, recipe settings and training settings (such as `betas`) changed."
    import ganlab.progan  # noqa: F401  (registers mbstd-gan and its budget)
    model, extra = SETUPS[setup]
    run, cfg, kw = split_budget(vars(budget(model, quick=True, data=ds.name)))
    kw.pop('quick')
    _, cfg_over, kw_over = split_budget(overrides)      # training settings (e.g. betas) to the trainer, the rest to the recipe
    run = {**run, 'steps': steps or run['steps'], 'batch_size': batch_size or run['batch_size']}
    spec = DataSpec.of(ds)
    t = train_seeds(lambda: build_model(model, spec, **{**kw, **extra, **kw_over}), ds, seeds, run['steps'], run['batch_size'],
                    device='cpu', fit=False, **{**cfg, **cfg_over})
    return t, run

def bench_points(seeds, datasets, png: Path | None):
    print(f"\n## ring8 and grid25: each setup at its points budget; {len(seeds)} seeds trained at once; "
          f"2,500 samples of each seed's EMA generator\n")
    print("| data | setup | steps × batch | modes | high quality (%) | reverse KL | CPU s (all seeds) | PacGAN Table 1 (modes, % HQ) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for data in datasets:
        ds = get_dataset(data)
        for setup in SETUPS:
            t, run = points_trainer(setup, ds, seeds)
            _, cpu, wall = timed(t.fit)
            xs = seed_samples(t, 2500, seed=10_000)
            rows = [mode_measures(x, ds.centers, ds.std) for x in xs]
            if png: save_samples(xs[0], png / f'{data}-{setup.replace(" ", "")}.png', centers=ds.centers)
            col = lambda k, rows=rows: [r[k] for r in rows]
            pub = PACGAN_TABLE1.get((data, setup))
            pub = '' if pub is None else f"{pub[0]}" + (f", {pub[1]}" if pub[1] is not None else '')
            print(f"| {data} | {setup} | {run['steps']} × {run['batch_size']} | {spread(col('modes'))} / {K[data]} "
                  f"| {spread([100 * h for h in col('high_quality')])} | {spread(col('reverse_kl'))} | {cpu:.0f} | {pub} |", flush=True)
    if png: points_montage(png, datasets, list(SETUPS), png / 'points-montage.png')

SHORT_BUDGETS = [  # (data, setup, steps, batch size, learning rate, Adam betas or None for the recipe's (0.5, 0.999)), the rate falling linearly to zero as in the points budget
    ('ring8', 'GAN', 2000, 128, 3e-3, None), ('ring8', 'GAN', 3000, 128, 3e-3, None), ('ring8', 'GAN + minibatch stddev', 2000, 128, 3e-3, None),
    ('ring8', 'GAN', 2000, 128, 3e-3, (0.0, 0.9)),
    ('grid25', 'GAN', 3000, 256, 2e-3, None), ('grid25', 'GAN', 4000, 128, 3e-3, None), ('grid25', 'GAN + minibatch stddev', 4000, 128, 3e-3, None),
    ('grid25', 'GAN', 3000, 256, 2e-3, (0.0, 0.9)), ('grid25', 'GAN', 5000, 256, 1e-3, None), ('grid25', 'GAN', 5000, 256, 1e-3, (0.0, 0.9)),
    ('grid25', 'GAN', 10_000, 256, 1e-3, (0.0, 0.9))]

def bench_points_short(seeds, datasets, budgets=SHORT_BUDGETS):
    print(f"\n## ring8 and grid25 at short budgets (the points recipe, learning rate raised, falling linearly to zero; Adam's betas "
          f"the recipe's (0.5, 0.999) unless given); {len(seeds)} seeds trained at once; 2,500 samples of each seed's EMA generator\n")
    print("| data | setup | steps × batch | lr | Adam betas | modes | high quality (%) | CPU s (all seeds) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for data, setup, steps, batch, lr, betas in budgets:
        if data not in datasets: continue
        ds = get_dataset(data)
        t, _ = points_trainer(setup, ds, seeds, steps, batch, lr=lr, **({'betas': betas} if betas else {}))
        _, cpu, _ = timed(t.fit)
        rows = [mode_measures(x, ds.centers, ds.std) for x in seed_samples(t, 2500, seed=10_000)]
        print(f"| {data} | {setup} | {steps} × {batch} | {lr:g} | {tuple(t.config.betas)} | {spread([r['modes'] for r in rows])} / {K[data]} "
              f"| {spread([100 * r['high_quality'] for r in rows])} | {cpu:.0f} |", flush=True)

def points_montage(png: Path, datasets, setups, out: Path) -> Path:
    "One figure of the seed-0 scatter plots `bench_points` wrote into `png`: a row per dataset, a column per setup."
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(len(datasets), len(setups), figsize=(2.6 * len(setups), 2.8 * len(datasets)), squeeze=False)
    for i, data in enumerate(datasets):
        for j, setup in enumerate(setups):
            ax = axs[i, j]
            ax.imshow(plt.imread(png / f'{data}-{setup.replace(" ", "")}.png'))
            ax.set_title(f"{setup}, {data}", fontsize=9)
            ax.axis('off')
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out

PACGAN_TABLE2 = {'GAN': (78.9, 4.50), 'PacGAN2': (1000.0, 0.06)}   # DCGAN and PacDCGAN2 on stacked MNIST: modes, KL

def bench_stacked(seeds, png: Path | None):
    print(f"\n## stacked_digits: DCGAN and PacGAN2 at their stacked_digits budgets; {len(seeds)} seeds; "
          f"modes in 10,000 samples\n")
    print("| setup | resolution, steps | modes (of 1,000) | reverse KL | classifier-FID | CPU s per run | PacGAN Table 2 (modes, KL) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for setup, model in (('GAN', 'dcgan'), ('PacGAN2', 'pacgan')):
        b = budget(model, quick=True, data='stacked_digits')
        clf = classifier_for('stacked_digits', b.resolution)
        ref = get_dataset('stacked_digits', resolution=b.resolution, split='test')
        real = ref.__getitems__(list(range(1000)))[0]
        rows = []
        for s in seeds:
            t, cpu, wall = timed(train_run, model, data='stacked_digits', seed=s, progress=False, quick=True)
            m = image_mode_measures(t.sample(10_000, seed=1000 + s), 'stacked_digits', clf)
            fid = frechet_distance(*feature_stats(classifier_features(clf, real)),
                                   *feature_stats(classifier_features(clf, t.sample(1000, seed=s))))
            rows.append(dict(modes=m['modes'], kl=m['kl'], fid=float(fid), cpu=cpu))
            if png: save_images(t.sample(64, seed=s), png / f'stacked-{setup}-seed{s}.png')
        col = lambda k, rows=rows: [r[k] for r in rows]
        pub = PACGAN_TABLE2[setup]
        print(f"| {setup} | {b.resolution} px, {b.steps} | {spread(col('modes'))} | {spread(col('kl'))} | {spread(col('fid'))} "
              f"| {spread(col('cpu'))} | {pub[0]}, {pub[1]} |", flush=True)

def bench_cgan(seeds):
    b = budget('cgan', quick=True)
    clf = classifier_for('digits', b.resolution)
    rows = []
    for s in seeds:
        t, cpu, wall = timed(train_run, 'cgan', seed=s, progress=False, quick=True)
        labels = torch.arange(1000) % 10
        p = probabilities(clf, t.sample(1000, seed=1000 + s, labels=labels))
        rows.append(dict(agree=(p.argmax(1) == labels).float().mean().item(),
                         confident=(p.max(1).values > 0.9).float().mean().item(), cpu=cpu, wall=wall))
    col = lambda k: [r[k] for r in rows]
    print(f"\n## cgan on digits: {b.resolution} px, {b.steps} steps; {len(seeds)} seeds\n")
    print("| figure | ours (mean ± sd) | target |\n| --- | --- | --- |")
    print(f"| class agreement | {spread(col('agree'))} | ≥ 0.90 |")
    print(f"| classifier sure (p > 0.9) | {spread(col('confident'))} | |")
    print(f"| training CPU s / wall s | {spread(col('cpu'))} / {spread(col('wall'))} | ≤ 60 |")

SHAPES_SETUPS = {   # name: (model, model arguments, TrainConfig fields, steps), each over the model's quick budget
    'SAGAN': ('sagan', {}, {}, None),
    "SAGAN, the paper's rates": ('sagan', {}, dict(lr_g=1e-4, lr_d=4e-4), None),
    'ProGAN, growing': ('progan', {}, {}, None),
    "ProGAN, growing, nearest-neighbour upsampling (the paper's)": ('progan', dict(upsample='nearest'), {}, None),
    'ProGAN, growing, the earlier budget (150-step phases, nearest)': ('progan', dict(upsample='nearest', fade_steps=150, stable_steps=150), {}, 1050),
    'ProGAN, full size from the start': ('progan', dict(grow=False), {}, None),
    'ProGAN, full size from the start, the CPU time of growing': ('progan', dict(grow=False), {}, 600),
}

def shapes_run(model: str, kw: dict, cfg_over: dict, steps: int | None, seed: int):
    "Train `model` at its quick budget with `kw`, `cfg_over` and `steps` (None: the budget's) on top; the trained `Trainer`."
    from ganlab.core import seed_everything
    from ganlab.train import Trainer
    run, cfg, kw0 = split_budget(vars(budget(model, quick=True)))
    kw0.pop('quick')
    ds = get_dataset(run['data'], resolution=run['resolution'])
    seed_everything(seed)
    r = build_model(model, DataSpec.of(ds), **{**kw0, **kw})
    t = Trainer.from_recipe(r, ds, device='cpu', steps=steps or run['steps'], batch_size=run['batch_size'], seed=seed,
                            log_every=100, **{**cfg, **cfg_over})
    t.fit()
    return t

def bench_shapes(seeds, png: Path | None, only: str = ''):
    "SAGAN at its quick budget and at the paper's rates; ProGAN growing, and at full size from the start (same budget)."
    import ganlab.sagan, ganlab.progan  # noqa: F401, E401  (register the models and budgets)
    from ganlab.metrics import predict_labels
    print(f"\n## shapes: SAGAN and ProGAN at their quick budgets, SAGAN at the paper's learning rates, and ProGAN "
          f"trained at full size from the start with the same budget; {len(seeds)} seeds; 1,000 samples of the EMA "
          f"generator against 1,000 real test images\n")
    print("| setup | resolution, steps × batch | classes (of 24) | smallest class share | classifier-FID "
          "| FID / real-vs-real | CPU s / wall s per run |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for setup, (model, kw, cfg_over, steps) in SHAPES_SETUPS.items():
        if only and not any(o.strip() and o.strip() in setup for o in only.split(',')): continue
        b = budget(model, quick=True)
        clf = classifier_for('shapes', b.resolution)
        real, _ = sample_batch(get_dataset('shapes', resolution=b.resolution, split='test'), 1000, 0)
        other, _ = sample_batch(get_dataset('shapes', resolution=b.resolution, split='train'), 1000, 1)
        stats = feature_stats(classifier_features(clf, real))
        floor = float(frechet_distance(*stats, *feature_stats(classifier_features(clf, other))))
        rows = []
        for s in seeds:
            t, cpu, wall = timed(shapes_run, model, kw, cfg_over, steps, s)
            fake = t.sample(1000, seed=1000 + s)
            share = torch.bincount(predict_labels(clf, fake), minlength=24).float() / len(fake)
            fid = float(frechet_distance(*stats, *feature_stats(classifier_features(clf, fake))))
            rows.append(dict(classes=int((share > 0).sum()), share_min=share.min().item(), fid=fid, ratio=fid / floor,
                             cpu=cpu, wall=wall))
            tag = ''.join(ch for ch in setup if ch.isalnum())
            if png: save_images(fake[:64], png / f"shapes-{tag}-seed{s}.png")
        col = lambda k, rows=rows: [r[k] for r in rows]
        print(f"| {setup} | {b.resolution} px, {steps or b.steps} × {b.batch_size} | {spread(col('classes'))} | {spread(col('share_min'))} "
              f"| {spread(col('fid'))} | {spread(col('ratio'))} (real-vs-real {floor:.2f}) "
              f"| {spread(col('cpu'))} / {spread(col('wall'))} |", flush=True)

def _box_blur(x: torch.Tensor) -> torch.Tensor:
    "Each pixel the mean of its 3×3 neighbourhood (edges repeated)."
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), 3, 1)

SHAPES_DEFECTS = {   # name: what is done to real images in [-1, 1]
    'noise, sd 0.05': lambda x, g: x + 0.05 * torch.randn(x.shape, generator=g),
    'noise, sd 0.1': lambda x, g: x + 0.1 * torch.randn(x.shape, generator=g),
    'colours scaled per image by 1 ± 0.1 (sd)': lambda x, g: x.add(1).mul(1 + 0.1 * torch.randn(len(x), 3, 1, 1, generator=g)).sub(1),
    'all pixels 10 % darker': lambda x, g: x.add(1).mul(0.9).sub(1),
    'background lifted by 0.05 (of the range 0–1)': lambda x, g: x.add(1).div(2).add(0.05).mul(2).sub(1),
    'half-way to a 3×3 blur': lambda x, g: 0.5 * x + 0.5 * _box_blur(x),
    '3×3 blur': lambda x, g: _box_blur(x),
}

def bench_shapes_scale(resolutions=(16, 32)):
    "What the shapes classifier-FID makes of real images with small, known defects: a scale for the models' ratios."
    print("\n## shapes: classifier-FID of real training images with known defects against the 1,000 real test images, "
          "divided by the real-vs-real value (the same statistic the shapes section reports)\n")
    print("| defect | " + " | ".join(f"{r} px" for r in resolutions) + " |\n| --- |" + " --- |" * len(resolutions))
    ratios = {}
    for r in resolutions:
        clf = classifier_for('shapes', r)
        real, _ = sample_batch(get_dataset('shapes', resolution=r, split='test'), 1000, 0)
        other, _ = sample_batch(get_dataset('shapes', resolution=r, split='train'), 1000, 1)
        stats = feature_stats(classifier_features(clf, real))
        fid = lambda x: float(frechet_distance(*stats, *feature_stats(classifier_features(clf, x.clamp(-1, 1)))))
        floor, g = fid(other), torch.Generator().manual_seed(0)
        ratios[r] = {'none (real vs real)': (floor, 1.0)}
        for name, defect in SHAPES_DEFECTS.items():
            f = fid(defect(other, g))
            ratios[r][name] = (f, f / floor)
    for name in ratios[resolutions[0]]:
        print(f"| {name} | " + " | ".join(f"{ratios[r][name][1]:.3g}× ({ratios[r][name][0]:.3g})" for r in resolutions) + " |")

def background_level(x: torch.Tensor) -> float:
    "Mean level (in 0–1) of the dark pixels as an image shows them (clamped to [0, 1]), those whose brightest channel is below 0.1."
    u = x.add(1).div(2).clamp(0, 1)
    dark = u.amax(1, keepdim=True) < 0.1                                       # (B, 1, R, R)
    return float(u.mean(1, keepdim=True)[dark].mean())

class _EvalEvery:
    "A trainer callback that scores the EMA generator every `every` steps with `score(samples)`; rows of figures."
    def __init__(self, every: int, score):
        from ganlab.train import Callback
        outer = self
        self.rows, self.every, self.score, self.spent = [], every, score, 0.0
        class Hook(Callback):
            def before_fit(self, t): outer.start = time.process_time()
            def after_step(self, t):
                if t.step % outer.every: return
                c = time.process_time()
                outer.rows.append(dict(step=t.step, cpu=c - outer.start - outer.spent, **score(t.sample(1000, seed=1000 + t.config.seed))))
                outer.spent += time.process_time() - c
        self.callback = Hook()

def bench_shapes_longer(seeds, png: Path | None, only: str = '', factor: int = 4):
    "Is the budget what limits the shapes models? SAGAN scored along a run `factor` times its quick budget; ProGAN with phases 1, 2, `factor` times as long."
    import ganlab.sagan, ganlab.progan  # noqa: F401, E401  (register the models and budgets)
    from ganlab.core import seed_everything
    from ganlab.metrics import predict_labels
    from ganlab.train import Trainer
    print(f"\n## shapes with longer budgets: SAGAN scored every half quick budget along a run {factor} times its quick budget, "
          f"ProGAN with every phase 1, 2 and {factor} times as long; seeds {', '.join(map(str, seeds))}; 1,000 samples of the "
          "EMA generator against 1,000 real test images, unclamped as the chapters' FIDs are; background = mean level (0–1) of the pixels darker "
          "than 0.1 as an image shows them; outside = the share of pixel values outside [-1, 1]\n")
    for model in ('sagan', 'progan'):
        if only and not any(o.strip() and o.strip().lower() in model for o in only.split(',')): continue
        b = budget(model, quick=True)
        clf = classifier_for('shapes', b.resolution)
        real, _ = sample_batch(get_dataset('shapes', resolution=b.resolution, split='test'), 1000, 0)
        other, _ = sample_batch(get_dataset('shapes', resolution=b.resolution, split='train'), 1000, 1)
        stats = feature_stats(classifier_features(clf, real))
        floor = float(frechet_distance(*stats, *feature_stats(classifier_features(clf, other))))
        def score(fake):
            share = torch.bincount(predict_labels(clf, fake), minlength=24).float() / len(fake)
            fid = float(frechet_distance(*stats, *feature_stats(classifier_features(clf, fake))))
            return dict(classes=int((share > 0).sum()), share_min=share.min().item(), ratio=fid / floor, bg=background_level(fake),
                        outside=float((fake.abs() > 1).float().mean()))
        run, cfg, kw = split_budget(vars(b)); kw.pop('quick')
        ds = get_dataset(run['data'], resolution=run['resolution'])
        print(f"### {model}, {b.resolution} px, batch {b.batch_size} (real-vs-real FID {floor:.2f}, real background "
              f"{background_level(real):.4f})\n")
        print("| steps | CPU s | classes (of 24) | smallest class share | FID / real-vs-real | background | outside |\n| --- | --- | --- | --- | --- | --- | --- |")
        if model == 'sagan':   # one long run, scored every half quick budget
            runs = [(None, dict(steps=run['steps'] * factor), run['steps'] // 2)]
        else:                  # one run per phase length, scored at its end
            runs = [(m, dict(steps=run['steps'] * m, fade_steps=kw['fade_steps'] * m, stable_steps=kw['stable_steps'] * m), None)
                    for m in (1, 2, factor)]
        for m, over, score_every in runs:
            per_seed = []
            for s in seeds:
                seed_everything(s)
                kw_m = {**kw, **{k: v for k, v in over.items() if k != 'steps'}}
                ev = _EvalEvery(score_every or over['steps'], score)
                t = Trainer.from_recipe(build_model(model, DataSpec.of(ds), **kw_m), ds, callbacks=[ev.callback], device='cpu',
                                        steps=over['steps'], batch_size=run['batch_size'], seed=s, log_every=100, **cfg)
                t.fit()
                per_seed.append(ev.rows)
                if png: save_images(t.sample(64, seed=1000 + s), png / f"shapes-longer-{model}-{over['steps']}-seed{s}.png")
            for i, row in enumerate(per_seed[0]):
                col = lambda k, i=i: [rows[i][k] for rows in per_seed]
                print(f"| {row['step']}{f' (phases × {m})' if m else ''} | {spread(col('cpu'))} | {spread(col('classes'))} "
                      f"| {spread(col('share_min'))} | {spread(col('ratio'))} | {spread(col('bg'))} | {spread(col('outside'))} |", flush=True)
        print()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--only', default='digits,points,stacked,cgan,shapes,shapes-scale',
                    help='comma-separated: digits, points, points-short (not run by default: about 15 CPU minutes at 5 seeds), stacked, cgan, shapes, shapes-scale, shapes-longer (not run by default: about 13 CPU minutes a seed)')
    ap.add_argument('--data', default='ring8,grid25', help='the 2-D datasets of the points section')
    ap.add_argument('--seeds', type=int, default=3, help='seeds for the image models')
    ap.add_argument('--first-seed', type=int, default=0, help='the image models use seeds first-seed, first-seed + 1, ...')
    ap.add_argument('--point-seeds', type=int, default=5, help='seeds for the 2-D mixtures')
    ap.add_argument('--png', help='write sample grids into this folder')
    ap.add_argument('--shapes-setups', default='', help="comma-separated parts of the shapes section's setup names to run, or for shapes-longer of the model names (default: all)")
    a = ap.parse_args()
    set_threads(1)
    png = Path(a.png) if a.png else None
    if png: png.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else math.nan
    print(f"torch {torch.__version__}, 1 thread, load average {load:.1f} at start (CPU time is the figure to read)")
    only = a.only.split(',')
    if 'digits' in only: bench_digits(list(range(a.first_seed, a.first_seed + a.seeds)), png)
    if 'points' in only: bench_points(list(range(a.point_seeds)), a.data.split(','), png)
    if 'points-short' in only: bench_points_short(list(range(a.first_seed, a.first_seed + a.seeds)), a.data.split(','))
    if 'stacked' in only: bench_stacked(list(range(a.first_seed, a.first_seed + a.seeds)), png)
    if 'cgan' in only: bench_cgan(list(range(a.first_seed, a.first_seed + a.seeds)))
    if 'shapes' in only: bench_shapes(list(range(a.first_seed, a.first_seed + a.seeds)), png, a.shapes_setups)
    if 'shapes-scale' in only: bench_shapes_scale()
    if 'shapes-longer' in only: bench_shapes_longer(list(range(a.first_seed, a.first_seed + a.seeds)), png, a.shapes_setups)

if __name__ == '__main__': main()
