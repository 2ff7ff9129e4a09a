"""ganlab.fid_doctor outside its chapter: statistics files with a recipe read by pytorch-fid, the Inception code path
(random weights: it checks the plumbing, never a number), folders of grey and colour images, reproducibility, and the
report and `ganlab fid --report` from fresh processes."""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pytorch_fid.fid_score import calculate_frechet_distance, compute_statistics_of_path

import ganlab.fid_doctor as D
from ganlab.data import get_dataset
from ganlab.inception import InceptionV3FID
from ganlab.metrics import FeatureExtractor, feature_stats, frechet_distance, get_feature_extractor, save_stats


@pytest.fixture(scope='module')
def digits_ext(tmp_path_factory):
    "The digits classifier's features, trained once for this module in a private cache."
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('GANLAB_HOME', str(tmp_path_factory.mktemp('home')))
        return get_feature_extractor('digits', device='cpu')

def write_pngs(x: torch.Tensor, folder: Path, mode: str = 'RGB') -> Path:
    "Images in [-1, 1] as PNG files, grey ones converted to `mode`."
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()):
        Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).convert(mode).save(folder / f'{i:03d}.png')
    return folder


def test_stats_with_recipe_load_in_pytorch_fid(tmp_path):
    "The extra `meta` array does not disturb pytorch-fid, which reads only mu and sigma."
    rng = np.random.default_rng(0)
    a, b = feature_stats(rng.normal(size=(300, 16))), feature_stats(rng.normal(size=(300, 16)) + 0.3)
    D.save_stats_with_meta(tmp_path / 'a.npz', *a, dict(features='test', resize='pil-bicubic'))
    save_stats(tmp_path / 'b.npz', *b)
    ma, sa = compute_statistics_of_path(str(tmp_path / 'a.npz'), None, 50, 16, 'cpu')
    mb, sb = compute_statistics_of_path(str(tmp_path / 'b.npz'), None, 50, 16, 'cpu')
    assert np.array_equal(ma, a[0]) and np.array_equal(sa, a[1])
    assert calculate_frechet_distance(ma, sa, mb, sb) == pytest.approx(frechet_distance(*a, *b), rel=1e-6)
    meta = D.load_stats_meta(tmp_path / 'a.npz')
    assert meta['resize'] == 'pil-bicubic' and meta['dim'] == 16 and meta['format'] == D.STATS_FORMAT
    assert D.load_stats_meta(tmp_path / 'b.npz') is None


def test_inception_code_path_with_random_weights():
    "Inception's recipe and the checks that only Inception triggers; random weights, so no number is asserted."
    ext = FeatureExtractor(InceptionV3FID().eval(), 'inception', 3, None, batch_size=8)
    assert D.extractor_meta(ext)['features'] == 'inception' and 'pytorch-fid' in D.extractor_meta(ext)['network_resize']
    grey = get_dataset('digits', resolution=32, split='test').x[:6]
    sa, sb = D._load_side(grey, 'A', lambda: ext), D._load_side(grey.flip(-1), 'B', lambda: ext)
    assert sa.feats.shape == (6, 2048) and np.isfinite(sa.feats).all()
    codes = [f.code for f in D._report_findings(sa, sb, D.extractor_meta(ext))]
    assert codes == ['singular-covariance', 'singular-covariance', 'grey-as-rgb']
    digits_recipe = dict(features='digits classifier', network_resize='torch bilinear up or area down to 32', channels=1)
    found = D.check_stats_meta(digits_recipe, D.extractor_meta(ext), 128, 'ref.npz')
    assert [f.code for f in found] == ['recipe-mismatch'] and "'digits classifier' vs 'inception'" in found[0].problem


def test_folders_grey_against_colour(tmp_path, digits_ext):
    "Folders: a grey set (stored as RGB) against a colour one is flagged; two grey folders are not."
    grey = write_pngs(get_dataset('digits', resolution=32, split='test').x[:40], tmp_path / 'grey')
    grey_l = write_pngs(get_dataset('digits', resolution=32, split='train').x[:40], tmp_path / 'grey_l', 'L')
    shapes = get_dataset('shapes', resolution=32, n=40).__getitems__(list(range(40)))[0]
    colour = write_pngs(shapes, tmp_path / 'colour')
    assert D._folder_grey_fraction(grey) == 1.0 and D._folder_grey_fraction(grey_l) == 1.0
    assert D._folder_grey_fraction(colour) == 0.0
    r = D.fid_report(grey, colour, digits_ext, n_boot=5, reps=1)
    assert [f.code for f in r.findings] == ['singular-covariance', 'singular-covariance', 'grey-vs-colour']
    r = D.fid_report(grey, grey_l, digits_ext, n_boot=5, reps=1)
    assert 'grey-vs-colour' not in [f.code for f in r.findings] and r.fid > 0


def test_reproducible_and_checked():
    "Same seed, same resamples; statistics of different dimensions are refused with the reason."
    rng = np.random.default_rng(1)
    fa, fb = rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 0.2
    assert np.array_equal(D.bootstrap_fid(fa, fb, 20, seed=3).samples, D.bootstrap_fid(fa, fb, 20, seed=3).samples)
    assert not np.array_equal(D.bootstrap_fid(fa, fb, 20, seed=3).samples, D.bootstrap_fid(fa, fb, 20, seed=4).samples)
    assert np.array_equal(D.bootstrap_kid(fa, fb, 20, seed=3).samples, D.bootstrap_kid(fa, fb, 20, seed=3).samples)
    with pytest.raises(ValueError, match='same feature extractor'):
        D.fid_report(fa, feature_stats(rng.normal(size=(50, 4))), n_boot=5)
    with pytest.raises(ValueError, match="labels must be"):
        D.fid_report(fa, fb, labels='true', n_boot=5)


def run_py(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-c', code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_report_in_a_fresh_process(tmp_path):
    "Everything the report needs is imported by the module itself (no notebook-only names), and figures need no pyplot."
    code = ("import numpy as np, json; import ganlab.fid_doctor as D\n"
            "g = np.random.default_rng(0); a, b = g.normal(size=(400, 8)), g.normal(size=(400, 8)) + 0.1\n"
            "b[:40] = b[40:80]\n"
            "r = D.fid_report(a, b, n_boot=20, reps=1, labels=(np.arange(400) % 4, np.arange(400) % 4), path='r.md')\n"
            "print(json.dumps(dict(codes=[f.code for f in r.findings], figs=sorted(r.figures), fid=r.fid)))\n")
    p = run_py(code, tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out['codes'] == ['duplicates'] and out['figs'] == ['bootstrap', 'fid_bias', 'per_class']
    text = (tmp_path / 'r.md').read_text()
    assert '| FID | {:.3f} |'.format(out['fid']) in text and '## Per-class FID' in text
    assert all((tmp_path / f'r_{k}.png').read_bytes()[:4] == b'\x89PNG' for k in out['figs'])


def test_cli_report_in_a_fresh_process(tmp_path):
    "`python -m ganlab.cli fid A B --report r.md`: exit status 0, the FID as the last line, the report and its figures."
    real = write_pngs(get_dataset('digits', resolution=32, split='test').x[:150], tmp_path / 'real', 'L')
    fake = write_pngs(get_dataset('digits', resolution=32, split='train').x[:150], tmp_path / 'fake', 'L')
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    p = subprocess.run([sys.executable, '-m', 'ganlab.cli', 'fid', str(real), str(fake), '--features', 'digits', '--report',
                        'out/r.md', '--resamples', '10'], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    fid = float(p.stdout.strip().splitlines()[-1])
    text = (tmp_path / 'out' / 'r.md').read_text()
    assert f'| FID | {fid:.3f} |' in text and 'FID∞ (1/N line)' in text and '| KID |' in text
    assert {q.name for q in (tmp_path / 'out').iterdir()} == {'r.md', 'r_fid_bias.png', 'r_bootstrap.png'}
