"SAGAN and progressive GAN through `ganlab train` / `ganlab sample`, exact resumption mid-fade, and bad inputs."
from pathlib import Path

import pytest, torch
from PIL import Image

from ganlab.cli import main
from ganlab.train import train_run, load_generator, latest_checkpoint, load_checkpoint, generate, build_model, DataSpec
from ganlab.progan import MinibatchStdDev, MinibatchStdMLP, ProGenerator, GrowthSchedule
from ganlab.sagan import SAGANGenerator

TINY_PROGAN = dict(width=4, max_channels=8, nz=8, fade_steps=3, stable_steps=3)   # 4→8→16 in 15 steps
TINY_SAGAN = dict(width=8, nz=16, attn_res=8, conditional=True)

def files(out: Path) -> list[str]: return sorted(p.name for p in out.iterdir())

def assert_same_run(a: Path, b: Path):
    ca, cb = load_checkpoint(latest_checkpoint(a / 'checkpoints')), load_checkpoint(latest_checkpoint(b / 'checkpoints'))
    assert ca['step'] == cb['step']
    for net in ('G', 'D', 'G_ema'):
        assert ca[net].keys() == cb[net].keys()
        for k, v in ca[net].items(): assert torch.equal(v, cb[net][k]), (net, k)
    assert ca['history'] == cb['history']
    return ca

@pytest.mark.parametrize('model', ['sagan', 'progan'])
def test_cli_train(model, tmp_path, capsys):
    out = tmp_path / model
    assert main(['train', '--model', model, '--steps', '12', '--resolution', '16', '--batch-size', '8',
                 '--out', str(out), '--no-progress']) == 0
    assert files(out) == ['checkpoints', 'history.json', 'losses.png', 'metrics.json', 'samples.png']
    ck = load_checkpoint(latest_checkpoint(out / 'checkpoints'))
    assert ck['run_info']['model'] == model and ck['step'] == 12 and ck['run_info']['resolution'] == 16
    assert 'wrote' in capsys.readouterr().out

def test_progan_sample_is_at_the_final_resolution(tmp_path):
    out = tmp_path / 'run'
    t = train_run('progan', 'shapes', 16, steps=GrowthSchedule(16, 3, 3).total_steps, batch_size=8, out=out,
                  progress=False, model_kwargs=TINY_PROGAN)
    assert t.step == 15 and int(t.G.stage) == 2 and float(t.G.alpha) == 1.0
    G, ck = load_generator(latest_checkpoint(out / 'checkpoints'))
    assert int(G.stage) == 2 and generate(G, 3).shape == (3, 3, 16, 16)
    png = tmp_path / 'samples.png'
    assert main(['sample', str(out), '--n', '8', '--out', str(png)]) == 0
    assert Image.open(png).size == (8 * 18 + 2, 16 + 4)     # one row of eight 16×16 images, 2 px apart

def test_progan_mid_growth_checkpoint_samples_at_its_stage(tmp_path):
    out = tmp_path / 'run'
    train_run('progan', 'shapes', 16, steps=5, batch_size=8, out=out, progress=False, model_kwargs=TINY_PROGAN)
    G, _ = load_generator(latest_checkpoint(out / 'checkpoints'))
    assert (int(G.stage), round(float(G.alpha), 4)) == (1, round(1 / 3, 4))
    assert generate(G, 2).shape == (2, 3, 8, 8)

def test_progan_resumes_exactly_in_the_middle_of_a_fade_in(tmp_path):
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    kw = dict(data='shapes', resolution=16, batch_size=8, checkpoint_every=5, progress=False, model_kwargs=TINY_PROGAN)
    train_run('progan', steps=15, out=straight, **kw)
    first = train_run('progan', steps=5, out=split, **kw)
    assert int(first.G.stage) == 1 and 0 < float(first.G.alpha) < 1            # interrupted mid-fade
    assert GrowthSchedule(16, 3, 3).at(5) == (1, 2 / 3)                        # and resumes mid-fade
    resumed = train_run('progan', steps=15, out=split, resume=True, progress=False)
    assert resumed.step == 15
    assert_same_run(straight, split)

def test_sagan_resumes_exactly_with_its_power_iteration(tmp_path):
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    kw = dict(data='shapes', resolution=16, batch_size=8, checkpoint_every=4, progress=False, model_kwargs=TINY_SAGAN)
    train_run('sagan', steps=12, out=straight, **kw)
    train_run('sagan', steps=6, out=split, **kw)
    train_run('sagan', steps=12, out=split, resume=True, progress=False)
    ck = assert_same_run(straight, split)
    assert any(k.endswith('parametrizations.weight.0._u') for k in ck['D'])   # the power-iteration state is saved
    G, _ = load_generator(latest_checkpoint(split / 'checkpoints'))
    assert G.num_classes == 24 and generate(G, 4).shape == (4, 3, 16, 16)

def test_bad_inputs_get_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"power of two from 8 to 1024 \(8, 16, 32, 64, 128, 256, 512, 1024\)"):
        build_model('progan', DataSpec('shapes', 48, 3, 24))
    with pytest.raises(ValueError, match="power of two"): ProGenerator(12)
    with pytest.raises(ValueError, match="power of two"): SAGANGenerator(20)
    with pytest.raises(ValueError, match="choose one of 8, 16"): SAGANGenerator(16, attn_res=4)
    with pytest.raises(ValueError, match="at least 1"): MinibatchStdDev(0)
    assert main(['train', '--model', 'progan', '--resolution', '48', '--steps', '2', '--out', str(tmp_path / 'a'), '--no-progress']) == 2
    assert '48' in capsys.readouterr().err
    assert main(['train', '--model', 'sagan', '--data', 'ring8', '--steps', '2', '--out', str(tmp_path / 'b'), '--no-progress']) == 2
    assert 'holds points' in capsys.readouterr().err
    with pytest.raises(ValueError, match="has no classes"):
        build_model('sagan', DataSpec('folder', 32, 3, 0), conditional=True)

def test_minibatch_stddev_on_vectors_and_images():
    mb = MinibatchStdDev(group_size=4)
    assert mb(torch.randn(8, 5)).shape == (8, 6)
    assert mb(torch.randn(8, 3, 4, 4)).shape == (8, 4, 4, 4)
    assert mb(torch.randn(3, 5)).shape == (3, 6)                 # a batch of 3: groups of 3
    x = torch.stack([torch.zeros(5), 2 * torch.ones(5)])
    assert torch.allclose(mb(x)[:, -1], torch.ones(2))

def test_minibatch_stddev_mlp_sees_the_group():
    "The remedy of the diagnostics chapter: a point's score depends on the spread of its group, not on the point alone."
    torch.manual_seed(0)
    D = MinibatchStdMLP(dim=2, group_size=4, scale=2.0)
    x = torch.randn(8, 2)
    assert D(x).shape == (8,) and D.net.dim == 3 and float(D.net.scale) == 2.0
    copies = x[:1].repeat(8, 1)
    assert not torch.isclose(D(x)[0], D(copies)[0])
    assert torch.allclose(D(copies), D(copies)[:1].expand(8))          # identical points, identical groups: one score
