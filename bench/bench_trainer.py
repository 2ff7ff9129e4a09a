"""Throughput of `ganlab.train.Trainer` against the plain DCGAN loop of chapter 02, on the same networks.

DCGAN at 64×64 (width 64, nz 100, the paper's networks), batch 64, fake data in memory. Both loops are timed in
the same process, alternating, after a warm-up; the figure is the median over repeats. On a CUDA GPU it also
times the trainer with bf16 autocast, channels_last and torch.compile switched on and off.

    python bench/bench_trainer.py [--steps 10] [--repeats 3] [--device cpu]
"""
import argparse, statistics, time

import torch

from ganlab.core import get_device
from ganlab.data import TensorImages
from ganlab.dcgan import Generator, Discriminator, train_dcgan
from ganlab.train import Trainer, TrainConfig

def fake_data(n=1024, res=64):
    g = torch.Generator().manual_seed(0)
    return TensorImages(torch.rand(n, 3, res, res, generator=g) * 2 - 1, torch.zeros(n, dtype=torch.long), None, 'fake')

def networks(res=64):
    torch.manual_seed(0)
    return Generator(res, nz=100, channels=3, width=64), Discriminator(res, channels=3, width=64)

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()

def time_plain(data, steps, bs, device):
    G, D = networks()
    train_dcgan(G, D, data, steps=2, batch_size=bs, device=device)  # warm-up
    sync(device); t = time.perf_counter()
    train_dcgan(G, D, data, steps=steps, batch_size=bs, device=device, log_every=50)
    sync(device); return steps * bs / (time.perf_counter() - t)

def time_trainer(data, steps, bs, device, **cfg):
    G, D = networks()
    tr = Trainer(G, D, data, config=TrainConfig(steps=steps + 2, batch_size=bs, **cfg), device=device)
    tr.fit(2)  # warm-up (and compilation)
    sync(device); t = time.perf_counter()
    tr.fit(steps + 2)
    sync(device); return steps * bs / (time.perf_counter() - t)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=10); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--batch-size', type=int, default=64); ap.add_argument('--device')
    a = ap.parse_args()
    device = get_device(a.device)
    data = fake_data()
    print(f"DCGAN 64×64, batch {a.batch_size}, {a.steps} timed steps × {a.repeats} repeats on {device} "
          f"({torch.get_num_threads()} threads), torch {torch.__version__}")
    plain, trainer, trainer_noema = [], [], []
    for _ in range(a.repeats):
        plain.append(time_plain(data, a.steps, a.batch_size, device))
        trainer.append(time_trainer(data, a.steps, a.batch_size, device))
        trainer_noema.append(time_trainer(data, a.steps, a.batch_size, device, ema=None))
    p, t, tn = (statistics.median(v) for v in (plain, trainer, trainer_noema))
    print(f"plain loop           {p:8.1f} images/s")
    print(f"Trainer (EMA on)     {t:8.1f} images/s   ratio trainer/plain = {t / p:.3f}  (cost {100 * (1 - t / p):+.1f}%)")
    print(f"Trainer (no EMA)     {tn:8.1f} images/s   ratio trainer/plain = {tn / p:.3f}  (cost {100 * (1 - tn / p):+.1f}%)")
    if device.type == 'cuda':
        for label, cfg in [('fp32, contiguous', dict(amp=False, channels_last=False)),
                           ('bf16', dict(amp=True, channels_last=False)),
                           ('bf16 + channels_last', dict(amp=True, channels_last=True)),
                           ('bf16 + channels_last + compile', dict(amp=True, channels_last=True, compile=True))]:
            v = statistics.median(time_trainer(data, a.steps, a.batch_size, device, **cfg) for _ in range(a.repeats))
            print(f"Trainer {label:<32} {v:8.1f} images/s   vs plain fp32 {v / p:.2f}×")

if __name__ == '__main__':
    main()
