"Command-line runs of cgan, wgan-gp and wgan-clip; exact resumption of WGAN-GP; clear errors for bad input."
import json, math

import pytest, torch
from PIL import Image

from ganlab.cli import main
from ganlab.train import train_run, load_checkpoint, latest_checkpoint, load_generator, generate
from ganlab.modes import assign_modes, mode_measures, reverse_kl_uniform
from ganlab.wgan import summarise, mode_table, save_table

TINY = ['--steps', '6', '--batch-size', '16', '--no-progress']

def train(tmp_path, model, *extra):
    out = tmp_path / model
    assert main(['train', '--model', model, '--out', str(out), *TINY, *extra]) == 0
    return out

def test_cgan_cli_and_sample_one_label(tmp_path):
    out = train(tmp_path, 'cgan', '--resolution', '16')
    assert {p.name for p in out.iterdir()} >= {'samples.png', 'metrics.json', 'history.json', 'checkpoints'}
    G, ck = load_generator(latest_checkpoint(out / 'checkpoints'))
    assert G.num_classes == 10 and ck['run_info']['model_kwargs']['discriminator'] == 'projection'
    png = tmp_path / 'threes.png'
    assert main(['sample', str(out), '--label', '3', '--n', '8', '--out', str(png)]) == 0
    assert png.stat().st_size > 0
    assert torch.equal(generate(G, 4, seed=1, labels=torch.full((4,), 3)), generate(G, 4, seed=1, labels=torch.full((4,), 3)))

def test_cgan_sample_label_out_of_range(tmp_path, capsys):
    out = train(tmp_path, 'cgan', '--resolution', '16')
    assert main(['sample', str(out), '--label', '10', '--out', str(tmp_path / 'x.png')]) == 2
    assert '--label must be from 0 to 9' in capsys.readouterr().err

def test_cgan_concat_and_points(tmp_path):
    t = train_run('cgan', resolution=16, steps=4, batch_size=16, progress=False, model_kwargs=dict(discriminator='concat'))
    assert t.G.num_classes == 10 and type(t.D).__name__ == 'ConcatDiscriminator'
    t = train_run('cgan', data='ring8', steps=4, batch_size=16, progress=False)
    assert t.sample(8).shape == (8, 2)
    with pytest.raises(ValueError, match="choose 'projection' or 'concat'"):
        train_run('cgan', resolution=16, steps=2, batch_size=16, progress=False, model_kwargs=dict(discriminator='late'))

@pytest.mark.parametrize('model', ['wgan-gp', 'wgan-clip'])
def test_wgan_cli_images_and_points(tmp_path, model):
    out = train(tmp_path, model, '--resolution', '16')
    hist = json.loads((out / 'history.json').read_text())
    assert all(math.isfinite(h['w_estimate']) for h in hist)
    assert ('gp' in hist[-1]) == (model == 'wgan-gp')
    ck = load_checkpoint(latest_checkpoint(out / 'checkpoints'))
    assert ck['config']['n_critic'] == 5 and ck['batches_used'] == 6 * 5
    if model == 'wgan-clip':
        assert max(v.abs().max().item() for v in ck['D'].values() if v.is_floating_point()) <= 0.01
    pts = tmp_path / f'{model}-points'
    assert main(['train', '--model', model, '--data', 'ring8', '--out', str(pts), *TINY]) == 0
    assert main(['sample', str(pts), '--n', '50', '--out', str(tmp_path / 'pts.png')]) == 0

def test_points_networks_keep_the_data_scale(tmp_path):
    "Point models work in units of the data's spread; the unit travels in the checkpoint, λ defaults to 0.1 on points."
    from ganlab.data import get_dataset
    out = tmp_path / 'grid'
    assert main(['train', '--model', 'wgan-gp', '--data', 'grid25', '--out', str(out), *TINY]) == 0
    scale = get_dataset('grid25').scale
    assert abs(scale - math.sqrt(8 + 0.05 ** 2)) < 1e-6
    ck = load_checkpoint(latest_checkpoint(out / 'checkpoints'))
    assert abs(ck['G']['scale'].item() - scale) < 1e-6 and abs(ck['D']['scale'].item() - scale) < 1e-6
    assert abs(ck['run_info'].get('model_kwargs', {}).get('gp_weight', 0.1) - 0.1) < 1e-12
    G, _ = load_generator(latest_checkpoint(out / 'checkpoints'))     # rebuilt with scale 1, restored from the file
    assert abs(G.scale.item() - scale) < 1e-6
    with torch.no_grad():
        z = torch.randn(500, G.nz)
        assert torch.allclose(G(z), G.net(z) * scale)
    assert generate(G, 8, seed=0).shape == (8, 2)

def test_wgan_gp_resumes_exactly(tmp_path):
    "The penalty's interpolation points come from the trainer's seeded noise: interrupted == straight, bit for bit."
    kw = dict(resolution=16, batch_size=16, checkpoint_every=5, progress=False)
    straight = train_run('wgan-gp', steps=10, out=tmp_path / 'straight', **kw)
    train_run('wgan-gp', steps=5, out=tmp_path / 'resumed', **kw)
    resumed = train_run('wgan-gp', steps=10, out=tmp_path / 'resumed', resume=True, **kw)
    a, b = straight.state_dict(), resumed.state_dict()
    for net in ('G', 'D', 'G_ema'):
        for k, v in a[net].items(): assert torch.equal(v, b[net][k]), (net, k)
    for opt in ('opt_d', 'opt_g'):
        for i, s in a[opt]['state'].items():
            for k, v in s.items(): assert torch.equal(torch.as_tensor(v), torch.as_tensor(b[opt]['state'][i][k])), (opt, i, k)
    assert straight.history == resumed.history
    assert torch.equal(a['noise'], b['noise'])

def test_cgan_refuses_unlabelled_data(tmp_path, capsys):
    flat = tmp_path / 'flat'; flat.mkdir()
    for i in range(20): Image.new('RGB', (16, 16), (10 * i, 0, 0)).save(flat / f'{i}.png')
    out = tmp_path / 'run'
    code = main(['train', '--model', 'cgan', '--data', 'folder', '--root', str(flat), '--resolution', '16',
                 '--out', str(out), *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "cgan needs class labels, but the dataset 'folder' has none" in err and '--model dcgan' in err
    assert not (out / 'checkpoints').exists()

def test_mode_measures_api(tmp_path):
    centers, std = torch.tensor([[0., 0.], [1., 0.]]), 0.1
    x = torch.tensor([[0.05, 0.], [1.0, 0.2], [1.0, 0.35], [5., 5.]])
    a = assign_modes(x, centers, std)
    assert a.dtype == torch.long and a.tolist() == [0, 1, -1, -1]
    m = mode_measures(x, centers, std)
    assert m == dict(modes=2, high_quality=0.5, reverse_kl=0.0)
    assert reverse_kl_uniform(torch.tensor([4, 0])) == pytest.approx(math.log(2))
    rows = [dict(data='ring8', method='GAN', modes=m, high_quality=0.5, reverse_kl=0.1) for m in (6, 8)]
    s = summarise(rows)[0]
    assert s['modes'] == 7 and s['modes_se'] == pytest.approx(1.0) and s['seeds'] == 2
    assert '7.0 ± 1.0 / 8' in mode_table([s]) and 'GAN 6.3' in mode_table([s])
    assert save_table(rows, tmp_path / 'r.csv').read_text().splitlines()[0] == 'data,method,modes,high_quality,reverse_kl'
