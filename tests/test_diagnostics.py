"Mode-collapse measures on constructed inputs, and the dashboard and explorer driven without a front end."
import math, threading, time

import matplotlib
matplotlib.use('agg')
import matplotlib.pyplot as plt
import pytest, torch
import torch.nn as nn

from ganlab.data import get_dataset
from ganlab.dcgan import MLPGenerator, MLPDiscriminator, PackedDiscriminator
from ganlab.progan import MinibatchStdMLP
from ganlab.train import Trainer, TrainConfig, DataSpec, Callback, SampleGrid, Checkpoint, build_model, train_run
from ganlab.modes import mode_measures, assign_modes
from ganlab.diagnostics import (mode_histogram, histogram_kl, label_measures, closest_pairs, duplicate_threshold, duplicate_rate,
                                support_from_rate, birthday_support, mean_pairwise_distance, diversity_ratio,
                                nearest_neighbours, memorisation_ratio, sample_modes, slerp, lerp, interpolate,
                                collapse_recipe, image_mode_measures, SETUPS)
from ganlab.widgets import Dashboard, Explorer, FigureView, LivePlots, LiveSamples


@pytest.fixture
def no_leaks():
    "Every widget test must leave the thread count and the pyplot figures as it found them."
    threads, figs = threading.active_count(), plt.get_fignums()
    yield
    deadline = time.time() + 5
    while threading.active_count() > threads and time.time() < deadline: time.sleep(0.05)
    assert threading.active_count() == threads, [t.name for t in threading.enumerate()]
    assert plt.get_fignums() == figs


# ---- measures ---------------------------------------------------------------------------------------------

def test_five_of_eight_ring_modes():
    ring = get_dataset('ring8')
    x = ring.centers[torch.arange(400) % 5]
    m = mode_measures(x, ring.centers, ring.std)
    assert m['modes'] == 5 and m['high_quality'] == pytest.approx(1.0)
    assert m['reverse_kl'] == pytest.approx(math.log(8 / 5), abs=1e-6)
    assert sample_modes(x, ring.centers, ring.std).tolist() == [80.] * 5 + [0.] * 3
    far = ring.centers[:3] + 0.5                                     # 50 std away: no mode
    assert mode_measures(far, ring.centers, ring.std)['modes'] == 0
    assert (assign_modes(far, ring.centers, ring.std) == -1).all()


def test_grid_modes_with_noise():
    grid = get_dataset('grid25')
    m = mode_measures(grid.x[:5000], grid.centers, grid.std)         # real data: all modes, nearly all high quality
    assert m['modes'] == 25 and 0.98 < m['high_quality'] <= 1.0 and 0 <= m['reverse_kl'] < 0.01


def test_histograms_and_kl():
    h = mode_histogram(torch.tensor([2, 2, 2, 0]), 3)
    assert h.tolist() == [1., 0., 3.]
    assert histogram_kl(h, h) == pytest.approx(0, abs=1e-5)
    assert histogram_kl(torch.tensor([7., 0, 0]), torch.ones(3)) == pytest.approx(math.log(3), abs=1e-5)
    m = label_measures(torch.tensor([0, 0, 1, 1]), torch.arange(10), 10)
    assert m['modes'] == 2 and m['num_modes'] == 10 and m['kl'] == pytest.approx(math.log(5), abs=1e-4)
    with pytest.raises(ValueError, match=r"Labels must lie in \[0, 3\)"): mode_histogram(torch.tensor([3]), 3)


class BrightnessClassifier(nn.Module):
    "A stand-in classifier for 10 classes: the class is the image's mean brightness, binned."
    channels, resolution, num_classes = 1, 16, 10
    def __init__(self): super().__init__(); self.w = nn.Parameter(torch.zeros(1))
    def predict(self, x): return ((x.mean((1, 2, 3)) + 1) / 2 * 10).clamp(0, 9.99).long()


def test_image_mode_measures_with_a_given_classifier():
    clf = BrightnessClassifier()
    one_class = torch.full((50, 1, 16, 16), -0.95)                   # all in class 0
    m = image_mode_measures(one_class, 'digits', clf)
    assert m['modes'] == 1 and m['num_modes'] == 10 and m['histogram'][0] == 50
    with pytest.raises(ValueError, match="No class histogram for 'cifar10'"): image_mode_measures(one_class, 'cifar10', clf)


def test_birthday_paradox_known_answers():
    N = 400
    uniform = lambda n, seed: torch.randint(N, (n, 1), generator=torch.Generator().manual_seed(seed)).double()
    exact = lambda s: 1 - math.prod(1 - i / N for i in range(s))
    assert duplicate_rate(uniform, 24, 0.5, trials=400) == pytest.approx(exact(24), abs=0.07)
    est = birthday_support(uniform, 0.5, sizes=range(4, 60, 2), trials=200)
    assert est['rate'] >= 0.5 and 18 <= est['s'] <= 30 and 250 < est['support'] < 650
    assert support_from_rate(24, 0.5) == pytest.approx(24 * 23 / (2 * math.log(2)))
    assert support_from_rate(24, 0.0) == math.inf
    distinct = lambda n, seed: torch.arange(n, dtype=torch.float64)[:, None]    # never a duplicate
    assert birthday_support(distinct, 0.5, sizes=(10, 20))['support'] == math.inf


def test_pairs_thresholds_and_diversity():
    x = torch.tensor([[0., 0], [10, 0], [0, 1], [10, 0.5]])
    i, j, d = closest_pairs(x, 2)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 2), (1, 3)] and d.tolist() == [0.5, 1.0]
    assert duplicate_threshold(torch.arange(11.)[:, None], 0.0) == pytest.approx(1.0)
    assert mean_pairwise_distance(torch.tensor([[0., 0], [0, 2]])) == pytest.approx(2.0)
    real = torch.randn(300, 8, generator=torch.Generator().manual_seed(0))
    assert diversity_ratio(real[:150], real[150:]) == pytest.approx(1.0, abs=0.1)
    assert diversity_ratio(real[:150] * 0.1, real[150:]) == pytest.approx(0.1, abs=0.02)


def test_nearest_neighbours_and_memorisation():
    g = torch.Generator().manual_seed(0)
    train, held = torch.randn(200, 5, generator=g), torch.randn(100, 5, generator=g)
    d, idx = nearest_neighbours(train[:4] + 1e-4, train, 3)
    assert idx[:, 0].tolist() == [0, 1, 2, 3] and (d[:, 1:] >= d[:, :-1]).all()
    assert memorisation_ratio(train[:50] + 1e-3, train, held) < 0.01
    assert 0.7 < memorisation_ratio(torch.randn(100, 5, generator=g), train, held) < 1.4


def test_interpolation():
    a, b = torch.tensor([3., 0, 0]), torch.tensor([0., 3, 0])
    path = slerp(a, b, torch.linspace(0, 1, 7))
    assert torch.allclose(path.norm(dim=1), torch.full((7,), 3.), atol=1e-5)
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(lerp(a, b, torch.tensor([0.5]))[0], torch.tensor([1.5, 1.5, 0]))
    torch.manual_seed(0)
    G = MLPGenerator(4, 2)
    assert interpolate(G, 0, 1, frames=5).shape == (5, 2)


# ---- remedies ---------------------------------------------------------------------------------------------

def test_packed_discriminator_and_recipes():
    Dp = PackedDiscriminator(MLPDiscriminator(8), 4)
    x = torch.randn(8, 2)
    assert Dp(x).shape == (2,)
    assert torch.allclose(Dp(x)[1], Dp.D(x[4:].reshape(1, 8))[0])
    with pytest.raises(ValueError, match="divide by 4"): Dp(torch.randn(6, 2))
    imgs = build_model('pacgan', DataSpec('shapes', 16, 3, 24), packing=2, width=8)
    assert imgs.D(torch.zeros(4, 3, 16, 16)).shape == (2,)
    assert MinibatchStdMLP()(torch.randn(8, 2)).shape == (8,)
    spec = DataSpec.of(get_dataset('grid25'))
    for s in SETUPS:
        r = collapse_recipe(s, spec)
        assert r.D(r.G(torch.randn(8, r.G.nz))).shape[0] in (8, 4)
    with pytest.raises(ValueError, match="Unknown setup"): collapse_recipe('unrolled', spec)
    ring = DataSpec.of(get_dataset('ring8'))
    for s in SETUPS[:3]:                               # recipe settings reach every setup, the replaced D's included
        r = collapse_recipe(s, ring, nz=2, lr=3e-3)
        assert r.G.nz == 2 and r.config['lr_g'] == r.config['lr_d'] == 3e-3, (s, r.config)
    assert collapse_recipe('WGAN-GP', ring, nz=2, gp_weight=1.0).regularisers[0].weight == 1.0


def test_pacgan_trains_through_the_cli(tmp_path):
    from ganlab.cli import main
    assert main(['train', '--model', 'pacgan', '--steps', '20', '--out', str(tmp_path / 'pac'), '--no-progress', '--no-eval']) == 0
    assert (tmp_path / 'pac' / 'samples.png').exists()


# ---- widgets ----------------------------------------------------------------------------------------------

def points_trainer(steps=100_000, callbacks=()):
    grid = get_dataset('grid25')
    torch.manual_seed(0)
    return Trainer(MLPGenerator(8, 2, 32), MLPDiscriminator(2, 32), grid,
                   config=TrainConfig(steps=steps, batch_size=32, log_every=10), callbacks=callbacks, device='cpu')


def wait_for(cond, timeout=30):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_dashboard_pause_resume_stop_in_a_thread(no_leaks):
    t = points_trainer()
    dash = Dashboard(every=0.1)
    dash.start(t)
    with pytest.raises(RuntimeError, match="already training"): dash.start(t)
    wait_for(lambda: t.step >= 20)
    dash.pause_button.click()
    assert dash.paused and dash.pause_button.description == 'resume'
    wait_for(lambda: 'paused' in dash.status.value)
    at = t.step; time.sleep(0.3)
    assert t.step == at                                             # paused means paused
    dash.pause_button.click(); assert not dash.paused
    wait_for(lambda: t.step > at + 5)
    dash.stop_button.click()
    assert dash.join(timeout=30) and not dash.running
    assert t.step < 100_000 and 'stopped' in dash.status.value
    assert dash.refreshes >= 1 and dash.samples_view.value[:4] == b'\x89PNG' and dash.plots_view.value[:4] == b'\x89PNG'
    dash.close()


def test_stop_wakes_a_paused_run(no_leaks):
    t = points_trainer()
    dash = Dashboard(every=10)
    dash.start(t); wait_for(lambda: t.step >= 5)
    dash.pause_button.click(); wait_for(lambda: 'paused' in dash.status.value)
    assert dash.stop(timeout=30)
    assert dash.stopped and 'stopped' in dash.status.value
    dash.close()


def test_dashboard_in_the_foreground_and_its_refresh_budget(no_leaks):
    t = points_trainer(steps=60)
    dash = Dashboard(every=0.0, max_overhead=0.5)
    dash.run(t)
    assert t.step == 60 and 'finished at step 60' in dash.status.value
    # refreshing every step is capped: the refreshes take at most about half the time
    assert 2 <= dash.refreshes < 60
    before = bytes(dash.plots_view.value)
    assert before[:4] == b'\x89PNG'
    dash.refresh(t)
    assert dash.plots_view.value == before                          # nothing new to show: the same picture
    t.fit(80)                                                       # after twenty more steps the curves have moved
    assert t.step == 80 and dash.plots_view.value[:4] == b'\x89PNG' and dash.plots_view.value != before
    dash.close()


def test_dashboard_reraises_errors_from_the_thread(no_leaks):
    class Boom(Callback):
        def after_step(self, trainer):
            if trainer.step == 3: raise RuntimeError('boom at step 3')
    t = points_trainer(callbacks=[Boom()])
    dash = Dashboard()
    dash.start(t)
    with pytest.raises(RuntimeError, match='boom at step 3'): wait_for(lambda: dash.join(timeout=0.1))
    assert not dash.running and 'failed' in dash.status.value
    dash.close()


def test_pictures_are_png_and_make_no_pyplot_figures(no_leaks):
    view = FigureView()
    assert view.show(LiveSamples(torch.zeros(1, 2)).update(torch.randn(100, 2)), close=False).value[:4] == b'\x89PNG'
    assert view.show_images(torch.rand(4, 3, 8, 8) * 2 - 1).value[:4] == b'\x89PNG'
    assert view.show(LivePlots().update([], None), close=False).value[:4] == b'\x89PNG'
    fig, ax = plt.subplots(); ax.plot([0, 1])
    assert view.show(fig).value[:4] == b'\x89PNG'                  # a pyplot figure, closed once shown (see no_leaks)
    view.close()


def test_explorer_from_a_trainer(no_leaks):
    sg = SampleGrid(every=10, n=64)
    t = points_trainer(steps=40, callbacks=[sg])
    t.fit()
    ex = Explorer.from_trainer(t, n=64)
    assert [s for s, _ in ex.snapshots] == [10, 20, 30, 40]
    assert ex.generator(0) is None and ex.generator(3) is not None
    last = ex.time_view.value
    ex.time.value = 0
    assert ex.time_view.value != last and 'step 10' in ex.caption.value
    strip = ex.interp_view.value
    ex.method.value = 'lerp'
    assert ex.interp_view.value != strip
    near = ex.nearest_view.value
    ex.sample_index.value = 9
    assert ex.nearest_view.value != near
    s, nb, d = ex.nearest()
    assert nb.shape == (7, 2) and (d[1:] >= d[:-1]).all()
    assert ex.label.disabled
    ex.close()


def test_explorer_from_checkpoints(tmp_path, no_leaks):
    train_run('dcgan', data='grid25', steps=30, batch_size=32, progress=False, model_kwargs=dict(nz=4),
              callbacks=[Checkpoint(tmp_path / 'cks', every=10, keep=10)])
    ex = Explorer.from_checkpoints(tmp_path / 'cks', data=get_dataset('grid25'))
    assert [s for s, _ in ex.snapshots] == [10, 20, 30]
    views = set()
    for i in range(3):
        ex.time.value = i; views.add(ex.time_view.value)
    assert len(views) == 3
    with pytest.raises(ValueError, match="No checkpoints"): Explorer.from_checkpoints(tmp_path / 'none')
    ex.close()


class ConditionalG(nn.Module):
    "A conditional generator whose images show their class as brightness."
    num_classes, nz = 3, 4
    def __init__(self): super().__init__(); self.w = nn.Parameter(torch.ones(1))
    def forward(self, z, y):
        base = (y.float() - 1)[:, None, None, None] * 0.6                    # class 0, 1, 2 → -0.6, 0, 0.6
        return (base + 0.1 * z[:, :1, None, None] * self.w).expand(-1, 1, 8, 8)


def test_explorer_class_picker(no_leaks):
    data = get_dataset('digits', resolution=8)
    ex = Explorer([(100, ConditionalG())], data=data, n=16, k=3)
    assert not ex.label.disabled and [v for _, v in ex.label.options] == [0, 1, 2]
    assert ex.samples(0).mean() < -0.5
    before, strip = ex.time_view.value, ex.interp_view.value
    ex.label.value = 2
    assert ex.time_view.value != before and ex.interp_view.value != strip
    assert ex.samples(0).mean() > 0.5
    s, nb, d = ex.nearest()
    assert nb.shape == (3, 1, 8, 8)
    ex.close()
    with pytest.raises(ValueError, match="Nothing to explore"): Explorer([])
