"""The model registry: every model declared in the `ganlab.models` entry-point group builds and trains from a fresh
process, its checkpoint loads from another one, and a notebook's own model joins through `register_model`."""
import json, os, subprocess, sys
from importlib.metadata import entry_points

import pytest

from ganlab.dcgan import Generator, Discriminator
from ganlab.train import (MODEL_GROUP, MODELS, DataSpec, Recipe, available_models, build_model, model_builder,
                          register_model, train_run)

DECLARED = sorted(ep.name for ep in entry_points(group=MODEL_GROUP))
POINTS = {'dcgan', 'pacgan', 'wgan-gp', 'wgan-clip', 'cgan'}   # the models that also play on 2-D points
IMAGES_ONLY = {'sagan', 'progan'}                                # these refuse points with a clear message
POINTS_ONLY = {'mbstd-gan'}                                      # and this one refuses images

# A fresh process: first `ganlab train --model nope` (nothing but the CLI imported yet: the known models come from the
# entry points alone), then for each model `ganlab train` for two steps and `build_model` for an image spec and a
# point spec (the models that play on points build; the others refuse with a clear message).
TRAIN_AND_BUILD = r'''
import contextlib, io, json, sys
import torch
from ganlab.cli import main
outs = json.loads(sys.argv[1])
err = io.StringIO()
with contextlib.redirect_stderr(err): unknown = main(['train', '--model', 'nope', '--steps', '1', '--no-progress', '--no-eval',
                                                      '--out', outs['dcgan'] + '-unused'])
res = dict(unknown=[unknown, err.getvalue()])
for name, out in outs.items():
    points = name in ('pacgan', 'mbstd-gan')             # their budgets train on the 25-mode grid
    code = main(['train', '--model', name, '--steps', '2', '--batch-size', '8', '--no-eval', '--no-progress',
                 '--device', 'cpu', '--out', out] + ([] if points else ['--resolution', '16']))
    from ganlab.train import build_model, DataSpec, Recipe
    built = {}
    for kind, spec in [('images', DataSpec('digits', 16, 1, 10)), ('points', DataSpec('ring8', dim=2, num_classes=8, scale=2.0))]:
        try:
            r = build_model(name, spec)
            built[kind] = isinstance(r, Recipe) and isinstance(r.G, torch.nn.Module) and isinstance(r.D, torch.nn.Module)
        except ValueError as e: built[kind] = str(e)
    res[name] = dict(code=code, built=built)
print(json.dumps(res))
'''

# Another fresh process: rebuild each run's generator from its newest checkpoint and sample from it.
LOAD = r'''
import json, sys
from ganlab.train import load_generator, latest_checkpoint, generate
res = {}
for name, out in json.loads(sys.argv[1]).items():
    G, ck = load_generator(latest_checkpoint(out + '/checkpoints'), device='cpu')
    res[name] = dict(model=ck['run_info']['model'], step=ck['step'], shape=list(generate(G, 4, seed=0).shape))
print(json.dumps(res))
'''

def env(): return dict(os.environ, OMP_NUM_THREADS='1')

def run_py(code, *args, check=True):
    r = subprocess.run([sys.executable, '-c', code, *args], env=env(), capture_output=True, text=True, timeout=300)
    if check: assert r.returncode == 0, r.stderr[-3000:]
    return r

def test_the_kits_models_are_declared():
    assert {'dcgan', 'pacgan', 'cgan', 'wgan-gp', 'wgan-clip', 'sagan', 'progan', 'mbstd-gan'} <= set(DECLARED)
    assert set(DECLARED) <= set(available_models())

def test_every_declared_model_trains_from_a_fresh_process_and_loads_in_another(tmp_path):
    outs = {name: str(tmp_path / name) for name in DECLARED}
    results = json.loads(run_py(TRAIN_AND_BUILD, json.dumps(outs)).stdout.strip().splitlines()[-1])
    code, message = results.pop('unknown')
    assert code == 2 and 'known models: ' in message and all(name in message for name in DECLARED), message
    for name, r in results.items():
        assert r['code'] == 0, name
        if name in POINTS_ONLY: assert 'holds images' in r['built']['images'], (name, r['built'])
        else: assert r['built']['images'] is True, (name, r['built'])
        if name in POINTS | POINTS_ONLY: assert r['built']['points'] is True, (name, r['built'])
        if name in IMAGES_ONLY: assert 'holds points' in r['built']['points'], (name, r['built'])
    loaded = json.loads(run_py(LOAD, json.dumps(outs)).stdout.strip().splitlines()[-1])
    shapes = dict(dcgan=[4, 1, 16, 16], cgan=[4, 1, 16, 16], **{'wgan-gp': [4, 1, 16, 16], 'wgan-clip': [4, 1, 16, 16]},
                  pacgan=[4, 2], **{'mbstd-gan': [4, 2]},   # points from the 25-mode grid
                  sagan=[4, 3, 16, 16],            # its budget's `shapes` data is in colour
                  progan=[4, 3, 4, 4])             # two steps in, still at stage 0 (4×4): the stage is saved with G
    for name in DECLARED: assert loaded[name]['model'] == name and loaded[name]['step'] == 2, loaded[name]
    for name, shape in shapes.items(): assert loaded[name]['shape'] == shape, (name, loaded[name])

def test_a_notebooks_own_model_joins_the_registry(tmp_path):
    @register_model('test-tiny')
    def tiny(spec: DataSpec, width: int = 4) -> Recipe:
        return Recipe(Generator(spec.resolution, 8, spec.channels, width), Discriminator(spec.resolution, spec.channels, width))
    try:
        assert 'test-tiny' in available_models() and model_builder('test-tiny') is tiny
        assert build_model('test-tiny', DataSpec('digits', 8, 1, 10), width=2).G.width == 2
        t = train_run('test-tiny', data='digits', resolution=8, steps=2, batch_size=4, progress=False, device='cpu',
                      out=tmp_path / 'run')
        assert t.step == 2 and json.loads((tmp_path / 'run' / 'metrics.json').read_text())['model'] == 'test-tiny'
    finally: MODELS.pop('test-tiny', None)
    assert 'test-tiny' not in available_models()

def test_an_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown model 'nope'; known models: ") as e:
        build_model('nope', DataSpec('digits', 16, 1, 10))
    assert all(name in str(e.value) for name in DECLARED)

def test_a_setting_a_model_does_not_take_is_named_with_the_ones_it_does():
    from ganlab.train import model_settings
    spec = DataSpec('ring8', dim=2, num_classes=8, scale=2.0)
    for name in DECLARED:                             # every declared builder: the spec first, then its settings
        settings = model_settings(model_builder(name))
        assert settings and 'spec' not in settings, (name, settings)
    with pytest.raises(TypeError, match=r"Model 'wgan-gp' has no setting 'lr'; its settings: width, nz, gp_weight") as e:
        build_model('wgan-gp', spec, lr=3e-3)
    assert 'TrainConfig' in str(e.value)
    with pytest.raises(TypeError, match=r"no setting 'packign', 'widht'"):     # every unknown one, sorted
        build_model('pacgan', spec, widht=8, packign=2)
    assert build_model('wgan-gp', spec, gp_weight=1.0).regularisers[0].weight == 1.0   # known settings still pass
