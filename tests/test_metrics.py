"""ganlab.metrics and ganlab.inception against pytorch-fid: Fréchet distance, Inception features, statistics files;
the Inception weights (argument, environment, cache, download) and `ganlab fid`."""
import argparse, contextlib, io, os
from pathlib import Path
from unittest import mock
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image
from threadpoolctl import threadpool_limits

import pytorch_fid.inception as pfi
from pytorch_fid.fid_score import calculate_frechet_distance, get_activations, calculate_fid_given_paths, \
    compute_statistics_of_path

import ganlab.inception as inc
import ganlab.metrics as M
from ganlab.cli import add_fid_command
from ganlab.data import get_dataset, DataError


# ---------------------------------------------------------------- helpers

def random_stats(rng, n, d):
    "Mean and covariance of n correlated d-dimensional samples (singular when n <= d)."
    x = rng.normal(size=(n, d)) @ (rng.normal(size=(d, d)) / np.sqrt(d)) + rng.normal(size=d)
    return x.mean(0), np.cov(x, rowvar=False)

def random_fid_inception_state() -> dict:
    "A randomly initialised state dict in the layout of pytorch-fid's weight file (no download)."
    with mock.patch.object(pfi, 'load_state_dict_from_url', lambda *a, **k: {}), \
         mock.patch.object(torch.nn.Module, 'load_state_dict', lambda self, *a, **k: None):
        torch.manual_seed(0)
        net = pfi.fid_inception_v3()
    with torch.no_grad():                               # give batch norm non-trivial statistics, as real weights have
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 2.0)
    return net.state_dict()

def pytorch_fid_model(state: dict) -> pfi.InceptionV3:
    "pytorch-fid's own 2048-d InceptionV3, with `state` in place of the downloaded weights."
    with mock.patch.object(pfi, 'load_state_dict_from_url', lambda *a, **k: state):
        return pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()

def write_pngs(x: torch.Tensor, folder: Path) -> list[Path]:
    "Write images (B, C, H, W) in [-1, 1] as 8-bit PNGs."
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, im in enumerate(((x + 1) / 2 * 255).round().clamp(0, 255).to(torch.uint8)):
        a = im[0].numpy() if im.shape[0] == 1 else im.permute(1, 2, 0).numpy()
        out.append(folder / f'{i:03d}.png'); Image.fromarray(a).save(out[-1])
    return out

@pytest.fixture(scope='module')
def weights_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp('weights') / 'random_inception.pth'
    torch.save(random_fid_inception_state(), p)
    return p

@pytest.fixture(scope='module')
def shared_home(tmp_path_factory) -> Path:
    "One GANLAB_HOME for the tests of this module, so the digits classifier is trained once."
    return tmp_path_factory.mktemp('ganlab-home')

@pytest.fixture
def home(monkeypatch, shared_home) -> Path:
    monkeypatch.setenv('GANLAB_HOME', str(shared_home))
    return shared_home

@pytest.fixture(scope='module')
def image_folders(tmp_path_factory) -> tuple[Path, Path]:
    "Two folders of 32px RGB shapes, 6 images each."
    root = tmp_path_factory.mktemp('images')
    ds = get_dataset('shapes', resolution=32, n=12)
    x, _ = ds.__getitems__(list(range(12)))
    write_pngs(x[:6], root / 'a'); write_pngs(x[6:], root / 'b')
    return root / 'a', root / 'b'

def run_fid(*argv) -> tuple[int, list[str]]:
    "Run `cmd_fid` through an argparse parser with `add_fid_command`, as `ganlab` does."
    p = argparse.ArgumentParser(prog='ganlab'); add_fid_command(p.add_subparsers(dest='command'))
    args = p.parse_args(['fid', *map(str, argv)])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): rc = args.func(args)
    return rc, buf.getvalue().splitlines()


# ---------------------------------------------------------------- Fréchet distance parity

@pytest.mark.parametrize('n, d', [(5000, 2048), (50, 2048), (3000, 64), (10, 64), (2, 16)])
def test_frechet_distance_matches_pytorch_fid(n, d):
    rng = np.random.default_rng(d + n)
    (m1, s1), (m2, s2) = random_stats(rng, n, d), random_stats(rng, n, d)
    with threadpool_limits(1):
        ours, ref = M.frechet_distance(m1, s1, m2, s2), calculate_frechet_distance(m1, s1, m2, s2)
    assert ours == pytest.approx(ref, rel=1e-6)

def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    m, s = random_stats(rng, 500, 32)
    assert M.frechet_distance(m, s, m + 2, s) == pytest.approx(32 * 4, rel=1e-9)     # pytorch-fid's known answer
    a, b = rng.uniform(0.1, 2, 8), rng.uniform(0.1, 2, 8)
    assert M.frechet_distance(np.zeros(8), np.diag(a), np.zeros(8), np.diag(b)) == \
        pytest.approx(((np.sqrt(a) - np.sqrt(b)) ** 2).sum(), rel=1e-9)


# ---------------------------------------------------------------- Inception network parity

def test_inception_state_dict_layout_matches_weight_file():
    ref = random_fid_inception_state()
    ours = inc.InceptionV3FID().state_dict()
    assert list(ours) == list(ref)
    assert all(ours[k].shape == ref[k].shape for k in ref)

def test_inception_features_match_pytorch_fid(weights_file, image_folders):
    files = sorted(image_folders[0].glob('*.png'))
    ref_model = pytorch_fid_model(torch.load(weights_file, weights_only=True))
    with torch.no_grad():
        ref = get_activations(files, ref_model, batch_size=3, dims=2048, device='cpu', num_workers=0)
    ext = M.get_feature_extractor('inception', weights=weights_file, device='cpu', batch_size=3)
    ours = M.source_features(image_folders[0], ext)
    assert ours.shape == ref.shape == (6, 2048)
    scale = np.abs(ref).max()
    assert scale > 0
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5 * max(1.0, scale))

def test_pytorch_fid_module_state_dict_loads(tmp_path, weights_file, image_folders):
    "A state dict saved from pytorch-fid's InceptionV3 (blocks.i.j layout) gives the same features."
    ref_model = pytorch_fid_model(torch.load(weights_file, weights_only=True))
    torch.save(ref_model.state_dict(), tmp_path / 'blocks.pth')
    a = inc.load_inception(tmp_path / 'blocks.pth', device='cpu')
    b = inc.load_inception(weights_file, device='cpu')
    assert a.has_classifier is False and b.has_classifier is True
    x = torch.rand(2, 3, 40, 40) * 2 - 1
    with torch.no_grad(): torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)

def test_fid_of_folders_matches_pytorch_fid(weights_file, image_folders):
    "End to end on the same PNGs through the same weights: 6 images, so near-singular 2048-d covariances."
    state = torch.load(weights_file, weights_only=True)
    with mock.patch.object(pfi, 'load_state_dict_from_url', lambda *a, **k: state), threadpool_limits(1), \
         contextlib.redirect_stdout(io.StringIO()):
        ref = calculate_fid_given_paths([str(p) for p in image_folders], 3, 'cpu', 2048, num_workers=0)
    with threadpool_limits(1):
        rc, lines = run_fid(*image_folders, '--weights', weights_file, '--batch-size', 3, '--device', 'cpu')
    assert rc == 0
    assert float(lines[-1]) == pytest.approx(ref, rel=1e-5)


# ---------------------------------------------------------------- weights: argument, env var, cache, download

def test_weights_from_argument_and_env(monkeypatch, weights_file, tmp_path):
    monkeypatch.setenv(inc.WEIGHTS_ENV, str(weights_file))
    assert inc.inception_weights_path() == weights_file
    other = tmp_path / 'other.pth'; other.write_bytes(weights_file.read_bytes())
    assert inc.inception_weights_path(other) == other                                  # argument beats env var
    monkeypatch.setenv(inc.WEIGHTS_ENV, str(tmp_path / 'missing.pth'))
    with pytest.raises(inc.WeightsError, match=inc.WEIGHTS_ENV): inc.inception_weights_path()

def test_offline_error_names_url_path_and_env(monkeypatch):
    monkeypatch.delenv(inc.WEIGHTS_ENV, raising=False)
    cache = Path(os.environ['GANLAB_HOME']) / 'weights' / inc.INCEPTION_FILE
    with mock.patch.object(torch.hub, 'download_url_to_file', side_effect=URLError('no network')) as dl:
        with pytest.raises(FileNotFoundError) as e: inc.load_inception()
    dl.assert_called_once()
    msg = str(e.value)
    assert isinstance(e.value, inc.WeightsError)
    assert inc.INCEPTION_URL in msg and str(cache) in msg and inc.WEIGHTS_ENV in msg
    assert not cache.parent.exists() or list(cache.parent.iterdir()) == []           # nothing half-written

def test_download_goes_to_cache_once(monkeypatch, weights_file):
    monkeypatch.delenv(inc.WEIGHTS_ENV, raising=False)
    def fake_download(url, dst, **kw):
        assert url == inc.INCEPTION_URL
        Path(dst).write_bytes(weights_file.read_bytes())
    with mock.patch.object(torch.hub, 'download_url_to_file', side_effect=fake_download) as dl:
        p1 = inc.inception_weights_path(); p2 = inc.inception_weights_path()
    assert dl.call_count == 1 and p1 == p2 == Path(os.environ['GANLAB_HOME']) / 'weights' / inc.INCEPTION_FILE
    assert sorted(x.name for x in p1.parent.iterdir()) == [inc.INCEPTION_FILE]
    inc.load_inception(device='cpu')

def test_wrong_weights_file_is_refused(tmp_path):
    torch.save({'fc.weight': torch.zeros(3)}, tmp_path / 'w.pth')
    with pytest.raises(inc.WeightsError, match='is not the FID Inception weights'): inc.load_inception(tmp_path / 'w.pth')
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(inc.WeightsError, match='not a readable'): inc.load_inception(tmp_path / 'junk.pth')


# ---------------------------------------------------------------- statistics files

def test_stats_files_interchange_with_pytorch_fid(tmp_path):
    rng = np.random.default_rng(0)
    mu, sigma = random_stats(rng, 100, 16)
    M.save_stats(tmp_path / 'ours.npz', mu, sigma)
    with np.load(tmp_path / 'ours.npz') as f: assert sorted(f.files) == ['mu', 'sigma']
    m2, s2 = compute_statistics_of_path(str(tmp_path / 'ours.npz'), None, 1, 16, 'cpu')     # pytorch-fid reads ours
    np.testing.assert_array_equal(m2, mu); np.testing.assert_array_equal(s2, sigma)
    np.savez(tmp_path / 'theirs.npz', mu=mu.astype(np.float32), sigma=sigma)                   # and we read theirs
    m3, s3 = M.load_stats(tmp_path / 'theirs.npz')
    assert m3.dtype == np.float64 and np.allclose(m3, mu, atol=1e-6) and np.array_equal(s3, sigma)
    with pytest.raises(DataError, match="'mu' and 'sigma'"):
        np.savez(tmp_path / 'bad.npz', m=mu); M.load_stats(tmp_path / 'bad.npz')


# ---------------------------------------------------------------- digits classifier

def test_classifier_cached_and_deterministic(home):
    c1 = M.classifier_for('digits', 32)
    path = home / 'weights' / 'classifier-digits-32.pt'
    assert path.is_file() and c1.accuracy >= 0.95
    ck = torch.load(path, weights_only=True)
    c2 = M.classifier_for('digits', 32)
    assert all(torch.equal(a, b) for a, b in zip(c1.state_dict().values(), c2.state_dict().values()))
    assert ck['accuracy'] == c1.accuracy
    a, b = M.train_classifier('digits', 8), M.train_classifier('digits', 8)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# ---------------------------------------------------------------- `ganlab fid`

@pytest.fixture
def digit_folders(home, tmp_path) -> tuple[Path, Path]:
    x = get_dataset('digits', resolution=32, split='test').x
    noisy = (x + 0.4 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    write_pngs(x[:120], tmp_path / 'real'); write_pngs(noisy[:120], tmp_path / 'noisy')
    return tmp_path / 'real', tmp_path / 'noisy'

def test_cmd_fid_digits_folders_and_stats(digit_folders, tmp_path):
    real, noisy = digit_folders
    rc, lines = run_fid(real, noisy, '--features', 'digits', '--save-stats', tmp_path / 'real.npz')
    assert rc == 0 and float(lines[-1]) > 1
    assert (tmp_path / 'real.npz').is_file()
    rc, lines2 = run_fid(tmp_path / 'real.npz', noisy, '--features', 'digits')
    assert float(lines2[-1]) == pytest.approx(float(lines[-1]), rel=1e-5)
    assert abs(float(run_fid(real, real, '--features', 'digits')[1][-1])) < 1e-3
    rc, lines3 = run_fid(noisy, '--save-stats', tmp_path / 'noisy.npz', '--features', 'digits')    # stats only
    assert rc == 0 and (tmp_path / 'noisy.npz').is_file() and 'saved statistics' in lines3[-1]

def test_cmd_fid_errors(digit_folders, tmp_path):
    real, _ = digit_folders
    with pytest.raises(DataError, match='needs PATH2'): run_fid(real)
    with pytest.raises(FileNotFoundError, match='does not exist'): run_fid(real, tmp_path / 'nowhere', '--features', 'digits')
    with pytest.raises(DataError, match='not a device name'): run_fid(real, real, '--device', 'tpu')
    (tmp_path / 'broken').mkdir(); (tmp_path / 'broken' / 'x.png').write_bytes(b'not a png')
    with pytest.raises(DataError, match='x.png'): run_fid(real, tmp_path / 'broken', '--features', 'digits')

def test_ganlab_cli_fid(digit_folders, capsys, tmp_path):
    from ganlab.cli import main
    real, noisy = digit_folders
    assert main(['fid', str(real), str(noisy), '--features', 'digits']) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1]) > 1
    assert main(['fid', str(real), str(tmp_path / 'nowhere'), '--features', 'digits']) == 2
    assert 'does not exist' in capsys.readouterr().err
