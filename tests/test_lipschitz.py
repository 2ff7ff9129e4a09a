"""The Lipschitz and growing debugger outside its chapter: every plotting function from a fresh process, the slopes
against finite differences, every model's critic read layer by layer, a conditional run, a resumed run, and a
monitor that leaves the trainer's random streams alone."""
import math, os, subprocess, sys, textwrap

import pytest
import torch
import torch.nn as nn

import ganlab.wgan, ganlab.sagan, ganlab.progan, ganlab.conditional  # noqa: F401  (register the models and budgets)
from ganlab.core import seed_everything
from ganlab.data import get_dataset
from ganlab.train import Trainer, DataSpec, build_model, train_run
from ganlab.lipschitz import (LipschitzMonitor, input_grad_norms, critic_gradients, layer_sigmas, fade_paths,
                              growth_phases, alpha_curve)


def test_plotting_functions_from_a_fresh_process(tmp_path):
    "Each figure renders to a complete PNG in a new interpreter, and the module needs no widgets."
    code = textwrap.dedent('''
        import io, sys
        import matplotlib; matplotlib.use('Agg')
        import torch
        from PIL import Image
        from ganlab.core import figure_png
        from ganlab.progan import ProGenerator, GrowthSchedule
        from ganlab.dcgan import MLPDiscriminator
        from ganlab import lipschitz as lp
        def png(fig):
            assert fig.axes and all(a.has_data() or a.images for a in fig.axes), 'nothing drawn'
            b = figure_png(fig); assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n'; Image.open(io.BytesIO(b)).verify()
        torch.manual_seed(0)
        D = MLPDiscriminator(2)
        g = lp.critic_gradients(D, torch.randn(32, 2), torch.randn(32, 2) + 1)
        png(lp.plot_grad_norms(g).figure); png(lp.plot_sigmas(lp.layer_sigmas(D)).figure)
        hist = [dict(step=s, **g, layers=lp.layer_sigmas(D)) for s in (10, 20)]
        png(lp.plot_grad_history(hist).figure); png(lp.plot_w_history(hist).figure); png(lp.show_monitor(hist))
        png(lp.plot_growth(GrowthSchedule(16, 5, 5), step=7).figure)
        png(lp.show_fade(lp.fade_paths(ProGenerator(16, nz=8, width=4, max_channels=8), torch.randn(2, 8), 2, 0.5))[0].figure)
        assert 'ipywidgets' not in sys.modules, 'the debugger functions must not need widgets'
    ''')
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'MPLBACKEND': 'Agg'})
    assert r.returncode == 0, r.stderr


def test_slopes_agree_with_finite_differences():
    "‖∇f(x)‖ is the largest directional derivative: a central difference along the gradient gives it back."
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    D = lambda x: f(x).view(len(x))
    x = torch.randn(10, 3, dtype=torch.float64)
    norms = input_grad_norms(D, x)
    xg = x.clone().requires_grad_(True)
    u = torch.autograd.grad(D(xg).sum(), xg)[0]
    u = u / u.norm(dim=1, keepdim=True)
    h = 1e-5
    with torch.no_grad(): fd = (D(x + h * u) - D(x - h * u)) / (2 * h)
    assert torch.allclose(norms, fd, rtol=1e-6, atol=1e-9)
    with torch.no_grad(): other = (D(x + h * torch.randn_like(x).renorm(2, 0, 1)) - D(x)).abs() / h
    assert (other <= norms * (1 + 1e-3)).all()                       # no direction is steeper


@pytest.mark.parametrize('model', ['dcgan', 'pacgan', 'cgan', 'wgan-gp', 'wgan-clip', 'sagan', 'progan'])
def test_every_critic_is_read_layer_by_layer(model):
    "Each image model's critic: named, finite, positive σ for every weight; spectral norm where SAGAN puts it."
    spec = DataSpec('shapes', 16, 3, 24)
    kw = dict(attn_res=8) if model == 'sagan' else dict(max_channels=16) if model == 'progan' else {}
    D = build_model(model, spec, width=8, nz=8, **kw).D
    rows = layer_sigmas(D)
    names = [r['name'] for r in rows]
    assert rows and len(set(names)) == len(names)
    assert all(math.isfinite(r['sigma']) and r['sigma'] > 0 and r['sigma_raw'] > 0 for r in rows)
    assert all(r['spectral_norm'] for r in rows) == (model == 'sagan')
    n_weights = sum(1 for m in D.modules() for k, p in m.named_parameters(recurse=False)
                    if p.ndim >= 2 and (k == 'weight' or k == 'original'))
    assert len(rows) == n_weights


def tiny_digits_run(model: str, monitor, **config):
    "Four steps of `model` on 8-pixel digits from seed 0, with `monitor` as a callback (or none), and `config` on top."
    ds = get_dataset('digits', resolution=8)
    seed_everything(0)
    r = build_model(model, DataSpec.of(ds), width=8, nz=8)
    t = Trainer.from_recipe(r, ds, [monitor] if monitor else [], device='cpu', steps=4, batch_size=16, log_every=2, **config)
    t.fit()
    return t

def test_conditional_monitor_leaves_the_run_alone():
    "A class-conditional critic gets the probe's labels; the run ends where it ends without the monitor."
    mon = LipschitzMonitor(every=2, n=10)
    a, b = tiny_digits_run('cgan', None), tiny_digits_run('cgan', mon)
    assert b.conditional and [r['step'] for r in mon.history] == [2, 4]
    for x, y in zip(a.D.state_dict().values(), b.D.state_dict().values()): assert torch.equal(x, y)
    # the labels matter to a conditional critic: other labels, other slopes
    real, y = mon._probe[0], mon._probe[1]
    with torch.no_grad(): fake = b.G_call(mon._probe[2], y)
    g1, g2 = critic_gradients(b.D_call, real, fake, y), critic_gradients(b.D_call, real, fake, (y + 1) % 10)
    assert not torch.equal(g1['real'], g2['real'])


def test_record_draws_no_noise_from_the_trainer():
    "A record leaves the trainer's noise generator, the global RNG and the data position where they were."
    ds = get_dataset('ring8')
    seed_everything(0)
    t = Trainer.from_recipe(build_model('wgan-gp', DataSpec.of(ds), nz=2), ds, device='cpu', steps=3, batch_size=32)
    t.fit()
    noise, rng, used = t.noise.get_state(), torch.get_rng_state(), t.batches_used
    LipschitzMonitor(n=16).record(t)
    assert torch.equal(t.noise.get_state(), noise) and torch.equal(torch.get_rng_state(), rng) and t.batches_used == used


def test_monitor_history_survives_resume(tmp_path):
    "`ganlab train --resume`'s path: the monitor's records come back from the checkpoint and the new ones follow."
    kw = dict(data='ring8', batch_size=32, out=tmp_path / 'run', progress=False, model_kwargs=dict(nz=2))
    first = LipschitzMonitor(every=2, n=8)
    train_run('wgan-gp', steps=4, callbacks=[first], **kw)
    again = LipschitzMonitor(every=2, n=8)
    train_run('wgan-gp', steps=8, callbacks=[again], resume=True, **kw)
    assert [r['step'] for r in again.history] == [2, 4, 6, 8]
    assert torch.equal(again.history[1]['real'], first.history[1]['real'])


def test_growth_helpers_follow_the_schedule():
    "Phases tile the steps without gaps; α and the stage are the schedule's; the fade needs a stage that fades."
    s = ganlab.progan.GrowthSchedule(64, fade_steps=7, stable_steps=5)
    ph = growth_phases(s, 100)
    assert ph[0]['start'] == 0 and ph[-1]['end'] == 100
    assert all(a['end'] == b['start'] for a, b in zip(ph, ph[1:]))
    st, al = alpha_curve(s, 100)
    assert [s.at(t) for t in range(100)] == list(zip(st.tolist(), al.tolist()))
    G = ganlab.progan.ProGenerator(16, nz=4, width=2, max_channels=4)
    f = fade_paths(G, torch.randn(2, 4), stage=1, alpha=0.75)
    assert f.low.shape == (2, 3, 8, 8) and torch.allclose(f.blend, torch.lerp(f.low, f.new, 0.75), atol=1e-6)


# ---- the widgets in a real browser (`pytest -m browser`; needs Playwright and Chromium) -------------------------

BROWSER_CELLS = [
"""import torch
from ganlab.core import seed_everything
from ganlab.data import get_dataset
from ganlab.train import Trainer, DataSpec, build_model
from ganlab.progan import ProGenerator, GrowthSchedule
from ganlab.widgets import LipschitzDebugger, FadeViewer
import ganlab.wgan
digits = get_dataset('digits', resolution=8)
seed_everything(0)
dbg = LipschitzDebugger(every=10, n=32)
Trainer.from_recipe(build_model('wgan-gp', DataSpec.of(digits), width=8, nz=16), digits, [dbg], device='cpu',
                    steps=40, batch_size=16).fit()
dbg""",
"""torch.manual_seed(0)
fv = FadeViewer(ProGenerator(32, nz=8, width=4, max_channels=8), GrowthSchedule(32, 100, 100), n=4)
fv""",
"""print(f'debugger at record {dbg.record_slider.value}; fade stage {fv.stage.value} alpha {fv.alpha.value:.2f} step {fv.step.value}')""",
]

@pytest.mark.browser
def test_debugger_widgets_in_jupyterlab(tmp_path, monkeypatch):
    "A fresh kernel in JupyterLab shows both widgets as pictures; dragging their sliders redraws them and reaches the kernel."
    import re, time
    from browser_harness import Lab, browser, jupyterlab, missing, screenshot, write_notebook
    if why := missing(): pytest.fail(f'browser tests cannot run: {why}')
    def wait(get, pred, what, timeout=90):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if pred(v := get()): return v
            time.sleep(0.25)
        raise AssertionError(f'{what}: still {get()!r} after {timeout} s')
    def drag(page, out, description, frac):
        label = page.locator('.widget-label', has_text=re.compile(f'^{re.escape(description)}$'))
        s = out.locator('.widget-slider').filter(has=label).first
        s.scroll_into_view_if_needed()
        track, handle = s.locator('.noUi-base, .noUi-target').first.bounding_box(), s.locator('.noUi-handle').first.bounding_box()
        page.mouse.move(handle['x'] + handle['width'] / 2, handle['y'] + handle['height'] / 2); page.mouse.down()
        page.mouse.move(track['x'] + frac * track['width'], track['y'] + track['height'] / 2, steps=8); page.mouse.up()
    monkeypatch.setenv('GANLAB_QUICK', '1'); monkeypatch.setenv('GANLAB_DEVICE', 'cpu')
    write_notebook(tmp_path / 'debugger.ipynb', BROWSER_CELLS)
    with jupyterlab(tmp_path) as (base, token), browser() as chrome:
        page = chrome.new_context(viewport={'width': 1400, 'height': 1000}).new_page()
        nb = Lab(page, base, token).open('debugger.ipynb')
        nb.run_all(300)
        assert nb.errors() == []
        dbg, fv = nb.cell_outputs(0), nb.cell_outputs(1)
        for out in (dbg, fv):
            imgs = out.locator('img')
            assert imgs.count() >= 2 and all(imgs.nth(i).evaluate('i => i.naturalWidth > 0') for i in range(imgs.count()))
        caption = lambda out: out.locator('.widget-html').first.inner_text()
        assert caption(dbg).startswith('record 4 of 4'), caption(dbg)
        pic = dbg.locator('img').first; before = pic.get_attribute('src')
        drag(page, dbg, 'record', 0.0)
        wait(lambda: caption(dbg), lambda s: s.startswith('record 1 of 4'), 'the record slider did not move')
        wait(lambda: pic.get_attribute('src'), lambda s: s != before, 'the histograms were not redrawn')
        nb.wait_idle(60); screenshot(page, 'lab-lipschitz-debugger')
        fade = fv.locator('img').first; before = fade.get_attribute('src')
        drag(page, fv, 'α', 0.0)
        wait(lambda: caption(fv), lambda s: 'α = 0.00' in s and 'step 500' in s, 'the α slider did not reach the viewer')
        wait(lambda: fade.get_attribute('src'), lambda s: s != before, 'the fade was not redrawn')
        drag(page, fv, 'step', 0.25)
        wait(lambda: caption(fv), lambda s: s.startswith('fade-in 4×4 → 8×8'), 'the step slider did not set the stage')
        nb.wait_idle(60); fv.scroll_into_view_if_needed(); screenshot(page, 'lab-fade-viewer')
        nb.wait_idle(60)
        check = page.locator('.jp-Notebook .jp-Cell').nth(2)
        check.locator('.jp-InputArea-editor').click(); page.keyboard.press('Shift+Enter'); nb.wait_idle(60)
        text = wait(lambda: nb.cell_outputs(2).inner_text(), lambda s: 'debugger at record 0;' in s, 'the kernel never saw the drags', 30)
        assert 'fade stage 1' in text, text
        assert nb.errors() == []


def test_monitor_under_bf16_autocast_and_channels_last():
    "The GPU settings, tried on the CPU: the probe runs in fp32 beside a bf16, channels-last run and leaves it unchanged."
    mon = LipschitzMonitor(every=2, n=8)
    a, b = (tiny_digits_run('dcgan', m, amp=True, channels_last=True) for m in (None, mon))
    assert b.amp and b.channels_last and [r['step'] for r in mon.history] == [2, 4]
    assert all(r[k].dtype == torch.float32 and r[k].isfinite().all() for r in mon.history for k in ('real', 'fake', 'interpolates'))
    for x, y in zip(a.D.state_dict().values(), b.D.state_dict().values()): assert torch.equal(x, y)
