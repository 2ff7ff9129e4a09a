"""One short command that runs every GPU path of ganlab and says how fast each one is.

    python bench/gpu_suite.py [--out gpu-suite] [--budget-s 480]      # on a CUDA machine: at most 8 minutes
    python bench/gpu_suite.py --cpu-smoke                             # the same code paths, a few steps each, on the CPU

Four sections, each timed, each failing loudly:

families  every model that a chapter's `#| gpu` cell trains (found by reading the notebooks), with its full-size
          budget — resolution, widths, batch size, learning rates — for a short run (progressive GAN grows through
          every stage to its full resolution). Datasets that are not on disk (CelebA, CIFAR-10) are replaced by
          random images of the same shape and classes: throughput and the code path do not depend on the pixels.
trainer   the trainer's throughput with bf16 autocast, channels_last and torch.compile on and off, against the
          plain fp32 loop of the DCGAN chapter (`train_dcgan`), on DCGAN's full-size networks.
fid       Inception feature extraction for FID, ganlab's against pytorch-fid's, on the same images. The Inception
          weights are not available offline, so both networks get the same random weights: the throughput is that
          of the real network, and the features must agree.
ddp       data-parallel scaling from 1 to N GPUs (`torchrun`, NCCL) when more than one GPU is visible; with
          `--cpu-smoke`, 1 and 2 CPU processes (gloo).

It writes OUT/report.json and OUT/summary.txt, and exits with status 1 if any section failed or the whole run took
longer than --budget-s. In --cpu-smoke mode the quick budgets stand in for the full ones, and torch.compile uses
dynamo's 'eager' backend: the graph capture runs, inductor's code generation (minutes on a CPU) does not.
"""
from __future__ import annotations
import argparse, contextlib, json, os, platform, re, statistics, sys, tempfile, time, traceback
from pathlib import Path
from unittest import mock

import torch

ROOT = Path(__file__).resolve().parents[1]
STAND_IN = {'celeba': (3, 0), 'cifar10': (3, 10), 'mnist': (1, 10), 'fashion_mnist': (1, 10)}   # channels, classes
SHORT_RUN = {'progan': dict(fade_steps=1, stable_steps=1)}    # grow through every stage within a short run
GPU_CELL_MODEL = re.compile(r"""(?:train_run|budget|build_model)\(\s*['"]([\w-]+)['"]""")

def sync(device: torch.device):
    if device.type == 'cuda': torch.cuda.synchronize(device)

# ---------------------------------------------------------------- which models the GPU cells train

def gpu_cell_models(nbs: Path = ROOT / 'nbs') -> dict[str, list[str]]:
    "Each model that a `#| gpu` cell of the chapters trains, with the notebooks whose cells train it."
    found: dict[str, list[str]] = {}
    for nb in sorted(nbs.glob('*.ipynb')):
        for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] != 'code' or not re.search(r'^#\|\s*gpu\b', src, re.M): continue
            for name in GPU_CELL_MODEL.findall(src): found.setdefault(name, []).append(nb.stem)
    if not found: raise RuntimeError(f"No `#| gpu` cell in {nbs} names a model; the suite would test nothing.")
    return {k: sorted(set(v)) for k, v in sorted(found.items())}

# ---------------------------------------------------------------- data

def dataset_or_stand_in(name: str, resolution: int | None, n: int):
    "The dataset `name` if it is on this machine (or needs no files), else random images of its shape and classes."
    from ganlab.data import DataError, TensorImages, dataset_info, get_dataset
    if dataset_info(name).offline: return get_dataset(name, resolution=resolution), 'real'
    try: return get_dataset(name, resolution=resolution, download=False), 'real'
    except DataError:
        if name not in STAND_IN: raise
    channels, k = STAND_IN[name]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, channels, resolution, resolution, generator=g) * 2 - 1
    y = torch.randint(max(k, 1), (n,), generator=g)
    return TensorImages(x, y, [str(i) for i in range(k)] if k else None, name), 'random stand-in (files absent)'

def split_row(row: dict) -> tuple[dict, dict, dict]:
    "A budget row → (data/resolution/batch, TrainConfig fields, model arguments), routed as `train_run` routes them."
    from ganlab.train import split_budget
    return split_budget({k: v for k, v in row.items() if k not in ('quick', 'steps')})

def finite_losses(trainer) -> dict:
    last = trainer.history[-1]
    bad = {k: v for k, v in last.items() if isinstance(v, float) and not abs(v) < float('inf')}
    if bad: raise FloatingPointError(f"non-finite values after {trainer.step} steps: {bad}")
    return {k: round(last[k], 4) for k in ('loss_d', 'loss_g') if k in last}

# ---------------------------------------------------------------- section 1: the GPU cells' models

def run_family(name: str, device: torch.device, steps: int, quick: bool) -> dict:
    "A short run of model `name` with its budget row (full size on a GPU, quick in the CPU smoke)."
    from ganlab.core import budget, seed_everything
    from ganlab.train import DataSpec, Trainer, build_model, model_builder
    model_builder(name)                                       # imports the model's chapter, which registers its budget
    run, cfg, kw = split_row(vars(budget(name, quick=quick)))
    kw.update(SHORT_RUN.get(name, {}))
    bs = run['batch_size']
    ds, source = dataset_or_stand_in(run['data'], run.get('resolution'), max(256, 4 * bs))
    seed_everything(0)
    recipe = build_model(name, DataSpec.of(ds), **kw)
    steps = max(steps, getattr(recipe.schedule, 'total_steps', 0) + 2)    # a growing model reaches its full size
    trainer = Trainer.from_recipe(recipe, ds, device=device, **{**cfg, 'steps': steps, 'batch_size': bs,
                                                                'log_every': steps})
    sync(device); t = time.perf_counter()
    trainer.fit()
    sync(device); seconds = time.perf_counter() - t
    x = trainer.sample(4)
    want = (4, ds.channels, ds.resolution, ds.resolution) if ds.is_image else (4, ds.sample_shape[0])
    if tuple(x.shape) != want: raise RuntimeError(f"{name}: samples shaped {tuple(x.shape)}, expected {want}")
    if not torch.isfinite(x).all(): raise FloatingPointError(f"{name}: non-finite samples")
    return dict(model=name, data=run['data'], data_source=source, resolution=run.get('resolution'), batch_size=bs,
                steps=steps, n_critic=trainer.config.n_critic, bf16=trainer.amp, channels_last=trainer.channels_last,
                seconds=round(seconds, 2), images_per_second=round(steps * bs * trainer.config.n_critic / seconds, 1),
                **finite_losses(trainer))

def section_families(device, smoke: bool) -> dict:
    models = gpu_cell_models()
    rows = []
    for name in models:
        print(f"  {name} ...", flush=True)
        rows.append(dict(run_family(name, device, steps=3 if smoke else 30, quick=smoke), notebooks=models[name]))
    progan = [r for r in rows if r['model'] == 'progan']
    return dict(runs=rows, note='progan grows through every stage (fade and stable phases of 1 step)' if progan else '')

# ---------------------------------------------------------------- section 2: trainer throughput

VARIANTS = [('trainer fp32', dict(amp=False, channels_last=False, compile=False)),
            ('trainer bf16', dict(amp=True, channels_last=False, compile=False)),
            ('trainer channels_last', dict(amp=False, channels_last=True, compile=False)),
            ('trainer bf16 + channels_last', dict(amp=True, channels_last=True, compile=False)),
            ('trainer compile', dict(amp=False, channels_last=False, compile=True)),
            ('trainer bf16 + compile (layout auto)', dict(amp=True, channels_last='auto', compile=True))]
# Combinations the trainer does not choose by itself: timed if they run, reported (not failed) if PyTorch breaks on them.
PROBES = [('trainer bf16 + channels_last + compile (explicit)', dict(amp=True, channels_last=True, compile=True))]

def dcgan_size(smoke: bool) -> dict:
    "DCGAN's full-size networks and batch (the chapter's CelebA run), or a tiny version for the CPU smoke."
    from ganlab.core import budget
    from ganlab.train import model_builder
    model_builder('dcgan')                                    # imports the DCGAN chapter, which registers its budget
    b = budget('dcgan', quick=False)
    return dict(resolution=8, width=8, nz=16, batch_size=8) if smoke else \
           dict(resolution=b.resolution, width=b.width, nz=b.nz, batch_size=b.batch_size)

def random_images(n: int, channels: int, resolution: int):
    from ganlab.data import TensorImages
    g = torch.Generator().manual_seed(0)
    return TensorImages(torch.rand(n, channels, resolution, resolution, generator=g) * 2 - 1,
                        torch.zeros(n, dtype=torch.long), None, 'random')

def dcgan_pair(size: dict):
    from ganlab.core import seed_everything
    from ganlab.dcgan import Discriminator, Generator
    seed_everything(0)
    return (Generator(size['resolution'], nz=size['nz'], channels=3, width=size['width']),
            Discriminator(size['resolution'], channels=3, width=size['width']))

def time_plain(size, data, steps, device) -> float:
    from ganlab.dcgan import train_dcgan
    G, D = dcgan_pair(size)
    train_dcgan(G, D, data, steps=2, batch_size=size['batch_size'], device=device)          # warm-up
    sync(device); t = time.perf_counter()
    train_dcgan(G, D, data, steps=steps, batch_size=size['batch_size'], device=device, log_every=steps)
    sync(device); return steps * size['batch_size'] / (time.perf_counter() - t)

def time_trainer(size, data, steps, device, repeats: int = 1, **cfg) -> float:
    "Median images per second of `repeats` timed stretches of `steps` steps, after a warm-up (and compilation) of 3."
    from ganlab.train import Recipe, NonSaturating, Trainer
    G, D = dcgan_pair(size)
    recipe = Recipe(G, D, NonSaturating(), config=dict(lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)))
    total = 3 + repeats * steps
    tr = Trainer.from_recipe(recipe, data, device=device, steps=total, batch_size=size['batch_size'], log_every=total, **cfg)
    tr.fit(3)
    speeds = []
    for _ in range(repeats):
        sync(device); t = time.perf_counter()
        tr.fit(tr.step + steps)
        sync(device); speeds.append(steps * size['batch_size'] / (time.perf_counter() - t))
    finite_losses(tr)
    return statistics.median(speeds)

def section_trainer(device, smoke: bool) -> dict:
    size, steps, repeats = dcgan_size(smoke), (1 if smoke else 20), (1 if smoke else 3)
    data = random_images(max(256, 4 * size['batch_size']), 3, size['resolution'])
    plain = statistics.median(time_plain(size, data, steps, device) for _ in range(repeats))
    rows = [dict(variant='plain loop fp32 (train_dcgan)', images_per_second=round(plain, 1), vs_plain=1.0)]
    for label, cfg in VARIANTS + PROBES:
        print(f"  {label} ...", flush=True)
        try: v = time_trainer(size, data, steps, device, repeats, **cfg)   # one trainer: compiled once
        except Exception as e:
            if (label, cfg) not in PROBES: raise
            rows.append(dict(variant=label, error=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"))
            continue
        rows.append(dict(variant=label, images_per_second=round(v, 1), vs_plain=round(v / plain, 3)))
    return dict(model=f"DCGAN {size['resolution']}px, width {size['width']}, nz {size['nz']}",
                batch_size=size['batch_size'], timed_steps=steps, repeats=repeats, rows=rows,
                compile_backend='eager (CPU smoke)' if smoke else 'inductor')

# ---------------------------------------------------------------- section 3: FID features

def section_fid(device, smoke: bool) -> dict:
    import pytorch_fid.inception as pfi
    from ganlab.inception import InceptionV3FID
    from ganlab.metrics import get_feature_extractor
    n, bs, res = (2, 2, 16) if smoke else (2000, 100, 64)
    torch.manual_seed(0)
    state = InceptionV3FID().state_dict()                     # random weights, in the layout of pytorch-fid's file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'random_inception.pth'
        torch.save(state, path)
        ours = get_feature_extractor('inception', weights=path, device=device, batch_size=bs)
    with mock.patch.object(pfi, 'load_state_dict_from_url', lambda *a, **k: state):
        ref = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval().to(device)
    images = torch.rand(n, 3, res, res, generator=torch.Generator().manual_seed(1)) * 2 - 1
    @torch.no_grad()
    def ref_features(x):                                      # pytorch-fid takes images in [0, 1]
        return torch.cat([ref(((xb + 1) / 2).to(device))[0].flatten(1).cpu() for xb in x.split(bs)]).double().numpy()
    def timed(f):
        f(images[:bs]); sync(device)                          # warm-up
        t = time.perf_counter(); out = f(images); sync(device)
        return out, n / (time.perf_counter() - t)
    (a, ips_ours), (b, ips_ref) = timed(ours.features), timed(ref_features)
    diff = float(abs(a - b).max()); scale = float(abs(b).max())
    if not diff <= 1e-2 * scale:
        raise RuntimeError(f"ganlab's and pytorch-fid's features differ by {diff:.3g} (largest feature {scale:.3g})")
    return dict(images=n, resolution=res, batch_size=bs, weights='random (the real ones are not available offline)',
                ganlab_images_per_second=round(ips_ours, 1), pytorch_fid_images_per_second=round(ips_ref, 1),
                speed_ratio=round(ips_ours / ips_ref, 3), max_abs_feature_difference=diff, largest_feature=scale)

# ---------------------------------------------------------------- section 4: DDP scaling

def ddp_worker(a) -> None:
    "One rank of the scaling run (started by torchrun): train DCGAN on random images and report images per second."
    from ganlab.distributed import init_distributed, shutdown, hard_exit
    world, device = init_distributed('cpu' if a.cpu_smoke else 'cuda')
    size = dcgan_size(a.cpu_smoke)
    per_rank = size['batch_size']
    size['batch_size'] = per_rank * world.world_size            # --batch-size is global: a fixed batch per GPU
    data = random_images(max(256, 4 * size['batch_size']), 3, size['resolution'])
    steps = 2 if a.cpu_smoke else 20
    ips = time_trainer(size, data, steps, device, repeats=1 if a.cpu_smoke else 3)
    if world.is_main:
        print('DDP-RESULT ' + json.dumps(dict(processes=world.world_size, batch_per_process=per_rank,
                                              images_per_second=round(ips, 1))), flush=True)
    shutdown(say_done=True)
    hard_exit(0)

def section_ddp(device, smoke: bool) -> dict:
    import subprocess
    from ganlab.distributed import job_completed, torchrun_command
    gpus = torch.cuda.device_count()
    if not smoke and gpus < 2:
        return dict(skipped=f"{gpus} GPU visible; scaling needs at least 2")
    sizes = [1, 2] if smoke else sorted({n for n in (1, 2, 4, 8) if n <= gpus} | {gpus})
    rows = []
    for n in sizes:
        print(f"  {n} process(es) ...", flush=True)
        cmd = torchrun_command(n, str(Path(__file__).resolve()), '--ddp-worker', *(['--cpu-smoke'] if smoke else []))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
        out = r.stdout + r.stderr
        if not job_completed(r.returncode, out, n) or 'DDP-RESULT ' not in r.stdout:
            raise RuntimeError(f"the {n}-process run failed (exit status {r.returncode}):\n{out[-4000:]}")
        rows.append(json.loads(r.stdout.split('DDP-RESULT ', 1)[1].splitlines()[0]))
    base = rows[0]['images_per_second']
    for row in rows: row['efficiency'] = round(row['images_per_second'] / (row['processes'] * base), 3)
    return dict(backend='gloo (CPU smoke)' if smoke else 'nccl', model=f"DCGAN {dcgan_size(smoke)['resolution']}px",
                rows=rows)

# ---------------------------------------------------------------- report

SECTIONS = [('families', section_families), ('trainer', section_trainer), ('fid', section_fid), ('ddp', section_ddp)]

def summary(report: dict) -> str:
    env, lines = report['environment'], []
    lines.append(f"ganlab GPU suite ({report['mode']}) on {env['device_name']}: torch {env['torch']}, CUDA {env['cuda']}, "
                 f"{env['gpus']} GPU(s)")
    s = report['sections']
    if 'runs' in s.get('families', {}):
        lines.append("\nmodels of the #| gpu cells, short runs at the budget's size (times include the first steps' warm-up):")
        for r in s['families']['runs']:
            lines.append(f"  {r['model']:<9} {r['data']:<15} {str(r['resolution'] or '-'):>4}px  batch {r['batch_size']:<4} "
                         f"{r['steps']} steps  {r['seconds']:7.2f} s  {r['images_per_second']:9.1f} img/s  "
                         f"loss_d {r.get('loss_d', float('nan')):.3f}  [{r['data_source']}]")
    if 'rows' in s.get('trainer', {}):
        t = s['trainer']
        lines.append(f"\ntrainer throughput, {t['model']}, batch {t['batch_size']} (compile backend: {t['compile_backend']}):")
        for r in t['rows']:
            lines.append(f"  {r['variant']:<50} " + (f"failed ({r['error']})" if 'error' in r else
                                                       f"{r['images_per_second']:9.1f} img/s  {r['vs_plain']:5.2f}× plain"))
    if 'images' in s.get('fid', {}):
        f = s['fid']
        lines.append(f"\nFID Inception features, {f['images']} images {f['resolution']}px → 299px, {f['weights']}:")
        lines.append(f"  ganlab {f['ganlab_images_per_second']:.1f} img/s, pytorch-fid {f['pytorch_fid_images_per_second']:.1f} "
                     f"img/s (ratio {f['speed_ratio']:.2f}); features differ by at most {f['max_abs_feature_difference']:.2e}")
    d = s.get('ddp', {})
    if 'rows' in d:
        lines.append(f"\nDDP scaling ({d['backend']}, {d['model']}, fixed batch per process):")
        for r in d['rows']: lines.append(f"  {r['processes']} process(es)  {r['images_per_second']:9.1f} img/s  "
                                         f"efficiency {r['efficiency']:.2f}")
    elif 'skipped' in d: lines.append(f"\nDDP scaling skipped: {d['skipped']}")
    for name, err in report['errors'].items(): lines.append(f"\nFAILED {name}: {err['error']}")
    lines.append(f"\ntotal {report['seconds']:.0f} s (budget {report['budget_s']} s): {'PASSED' if report['passed'] else 'FAILED'}")
    return '\n'.join(lines) + '\n'

def environment(device: torch.device) -> dict:
    return dict(torch=torch.__version__, cuda=torch.version.cuda, python=platform.python_version(),
                gpus=torch.cuda.device_count(), device=str(device),
                device_name=torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'CPU',
                threads=torch.get_num_threads())

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--cpu-smoke', action='store_true', help='the same code paths for a few steps each, on the CPU')
    p.add_argument('--out', default='gpu-suite', help='folder for report.json and summary.txt (default: gpu-suite)')
    p.add_argument('--budget-s', type=float, default=480, help='fail if the suite takes longer (default: 480 s)')
    p.add_argument('--only', nargs='+', choices=[n for n, _ in SECTIONS], help='run only these sections')
    p.add_argument('--ddp-worker', action='store_true', help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.ddp_worker: ddp_worker(a)
    if not a.cpu_smoke and not torch.cuda.is_available():
        print("gpu_suite: no CUDA GPU is visible. Run it on a GPU machine, or use --cpu-smoke to check the code paths "
              "on the CPU.", file=sys.stderr)
        return 2
    device = torch.device('cpu' if a.cpu_smoke else 'cuda')
    t0, sections, errors = time.perf_counter(), {}, {}
    patch = mock.patch.object(torch, 'compile', _eager_compile) if a.cpu_smoke else contextlib.nullcontext()
    with patch:
        for name, fn in SECTIONS:
            if a.only and name not in a.only: continue
            print(f"== {name}", flush=True)
            t = time.perf_counter()
            try: sections[name] = fn(device, a.cpu_smoke)
            except Exception as e:
                errors[name] = dict(error=f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}",
                                    traceback=traceback.format_exc())
                print(f"gpu_suite: section {name} FAILED\n{errors[name]['traceback']}", file=sys.stderr, flush=True)
                sections[name] = {}
            sections[name]['seconds'] = round(time.perf_counter() - t, 2)
    seconds = time.perf_counter() - t0
    if seconds > a.budget_s: errors['budget'] = dict(error=f"the suite took {seconds:.0f} s, over its budget of {a.budget_s:.0f} s")
    report = dict(mode='cpu-smoke' if a.cpu_smoke else 'gpu', environment=environment(device), budget_s=a.budget_s,
                  seconds=round(seconds, 1), passed=not errors, errors=errors, sections=sections)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out / 'report.json').write_text(json.dumps(report, indent=2) + '\n')
    text = summary(report)
    (out / 'summary.txt').write_text(text)
    print(text, end='')
    return 0 if not errors else 1

_real_compile = torch.compile
def _eager_compile(model=None, **kwargs):
    "torch.compile with dynamo's eager backend: graph capture without inductor's code generation (the CPU smoke)."
    return _real_compile(model, **{**kwargs, 'backend': 'eager'})

if __name__ == '__main__':
    sys.exit(main())
