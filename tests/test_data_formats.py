"""The torchvision-backed loaders, exercised on tiny files written in the real on-disk formats (no network)."""
import pickle, struct, urllib.error, urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.data import DataError, get_dataset, get_dataloader

def write_idx(path: Path, arr: np.ndarray):
    "Write `arr` (uint8) in the IDX format MNIST uses: magic (0x08 = ubyte, ndim), big-endian dims, then data."
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack('>BBBB', 0, 0, 0x08, arr.ndim) + struct.pack(f'>{arr.ndim}I', *arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())

def make_mnist(root: Path, folder='MNIST', n_train=12, n_test=5):
    for prefix, n in (('train', n_train), ('t10k', n_test)):
        imgs = np.zeros((n, 28, 28), np.uint8)
        labels = np.arange(n) % 10
        for i, y in enumerate(labels): imgs[i, 4:24, 4 + y:8 + y] = 255        # a bar whose position encodes the label
        write_idx(root / folder / 'raw' / f'{prefix}-images-idx3-ubyte', imgs)
        write_idx(root / folder / 'raw' / f'{prefix}-labels-idx1-ubyte', labels.astype(np.uint8))
    return root

@pytest.mark.parametrize('name,folder', [('mnist', 'MNIST'), ('fashion_mnist', 'FashionMNIST')])
def test_mnist_idx_files(tmp_path, name, folder):
    make_mnist(tmp_path, folder)
    ds = get_dataset(name, 32, root=tmp_path, download=False)
    assert len(ds) == 12 and ds.sample_shape == (1, 32, 32) and ds.num_classes == 10
    x, y = ds[3]
    assert y.item() == 3 and x.min() >= -1 and x.max() <= 1
    assert x.max() > 0.9 and x.min() < -0.9                  # the bar survived resizing and normalisation
    assert len(get_dataset(name, 16, split='test', root=tmp_path, download=False)) == 5
    xb, yb = next(iter(get_dataloader(ds, batch_size=4)))
    assert xb.shape == (4, 1, 32, 32) and yb.dtype == torch.long

def make_cifar(root: Path, per_batch=4):
    "CIFAR-10's python format: pickled dicts with 'data' (N, 3072) uint8 rows (R, G, B planes) and 'labels'."
    d = root / 'cifar-10-batches-py'; d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        data[0, :1024] = 255; data[0, 1024:] = 0                                   # first image of each batch: pure red
        with open(d / name, 'wb') as f: pickle.dump({'data': data, 'labels': list(range(per_batch))}, f, protocol=2)
    names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
    with open(d / 'batches.meta', 'wb') as f: pickle.dump({'label_names': names}, f, protocol=2)
    return root

def test_cifar10_pickled_batches(tmp_path):
    make_cifar(tmp_path)
    ds = get_dataset('cifar10', root=tmp_path, download=False)
    assert len(ds) == 20 and ds.sample_shape == (3, 32, 32) and ds.classes[0] == 'airplane'
    x, y = ds[0]
    assert y.item() == 0
    assert torch.allclose(x[:, 5, 5], torch.tensor([1., -1., -1.]))
    assert len(get_dataset('cifar10', 16, split='test', root=tmp_path, download=False)) == 4

def make_celeba(root: Path, n=4):
    d = root / 'celeba'; (d / 'img_align_celeba').mkdir(parents=True)
    names = [f'{i:06d}.jpg' for i in range(1, n + 1)]
    for i, nm in enumerate(names): Image.new('RGB', (178, 218), (40 * i, 100, 200)).save(d / 'img_align_celeba' / nm)
    attrs = ['5_o_Clock_Shadow', 'Smiling']
    (d / 'list_eval_partition.txt').write_text(''.join(f'{nm} {0 if i < n // 2 else 2}\n' for i, nm in enumerate(names)))  # half train, half test
    (d / 'identity_CelebA.txt').write_text(''.join(f'{nm} {i + 1}\n' for i, nm in enumerate(names)))
    (d / 'list_attr_celeba.txt').write_text(f'{n}\n' + ' '.join(attrs) + '\n' + ''.join(f'{nm} -1  1\n' for nm in names))
    (d / 'list_bbox_celeba.txt').write_text(f'{n}\nimage_id x_1 y_1 width height\n' + ''.join(f'{nm} 1 2 3 4\n' for nm in names))
    lm = 'lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y'
    (d / 'list_landmarks_align_celeba.txt').write_text(f'{n}\n{lm}\n' + ''.join(f'{nm} ' + ' '.join(['50'] * 10) + '\n' for nm in names))
    return root

def test_celeba_files(tmp_path):
    make_celeba(tmp_path)
    ds = get_dataset('celeba', 32, root=tmp_path, download=False)
    assert len(ds) == 2 and ds.sample_shape == (3, 32, 32) and ds.classes is None
    x, y = ds[1]
    assert y.item() == -1
    assert torch.allclose(x[:, 16, 16], torch.tensor([40, 100, 200]) / 127.5 - 1, atol=0.03)
    assert len(get_dataset('celeba', 32, split='test', root=tmp_path, download=False)) == 2
    assert len(get_dataset('celeba', 32, split='all', root=tmp_path, download=False)) == 4

def test_celeba_corrupt_image_is_named(tmp_path):
    make_celeba(tmp_path)
    (tmp_path / 'celeba' / 'img_align_celeba' / '000002.jpg').write_bytes(b'\xff\xd8 truncated')
    ds = get_dataset('celeba', 32, root=tmp_path, download=False)
    ds[0]
    with pytest.raises(DataError, match='000002.jpg'): ds[1]

def test_image_folder_flat_and_classes(tmp_path):
    for i in range(4): Image.new('L', (20, 50), 255 * (i % 2)).save(tmp_path / f'img{i}.png')
    ds = get_dataset('folder', 16, root=tmp_path)
    assert len(ds) == 4 and ds.classes is None and ds[0][1].item() == -1
    assert ds[1][0].shape == (3, 16, 16) and torch.allclose(ds[1][0], torch.ones(3, 16, 16))
    (tmp_path / 'sub').mkdir(); Image.new('RGB', (8, 8)).save(tmp_path / 'sub' / 'a.jpg')
    assert get_dataset('folder', 16, root=tmp_path).classes is None          # mixed flat + subfolder: unlabelled

def test_truncated_png_is_named(tmp_path):
    Image.new('RGB', (64, 64), (255, 0, 0)).save(tmp_path / 'ok.png')
    good = (tmp_path / 'ok.png').read_bytes()
    (tmp_path / 'cut.png').write_bytes(good[:len(good) // 2])
    ds = get_dataset('folder', 16, root=tmp_path)
    with pytest.raises(DataError, match=r'Cannot read image .*cut\.png'): [ds[i] for i in range(len(ds))]

@pytest.fixture
def no_network(monkeypatch):
    "Make every urllib request fail as it does on a machine without a network."
    def refuse(*a, **k): raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')
    monkeypatch.setattr(urllib.request, 'urlopen', refuse)

@pytest.mark.parametrize('name,expected', [
    ('mnist', 'MNIST/raw/train-images-idx3-ubyte.gz'),
    ('fashion_mnist', 'FashionMNIST/raw/train-labels-idx1-ubyte.gz'),
    ('cifar10', 'cifar-10-batches-py/data_batch_1'),
])
def test_download_without_network_explains_where_to_put_files(tmp_path, no_network, name, expected):
    with pytest.raises(DataError) as e: get_dataset(name, root=tmp_path)
    msg = str(e.value)
    assert 'download failed' in msg and 'name resolution' in msg
    assert str(tmp_path / expected) in msg and 'place them here' in msg

def test_celeba_download_impossible_explains(tmp_path, no_network):
    with pytest.raises(DataError) as e: get_dataset('celeba', root=tmp_path)
    msg = str(e.value)
    for f in ('img_align_celeba/', 'list_eval_partition.txt', 'identity_CelebA.txt'): assert str(tmp_path / 'celeba' / f) in msg
    assert 'gdown' in msg

def test_files_already_there_need_no_network(tmp_path, no_network):
    make_mnist(tmp_path)
    assert len(get_dataset('mnist', root=tmp_path)) == 12               # download=True, but nothing to fetch

def test_damaged_cifar_batch_says_damaged(tmp_path):
    make_cifar(tmp_path)
    (tmp_path / 'cifar-10-batches-py' / 'data_batch_3').write_bytes(b'\x80\x02garbage')
    with pytest.raises(DataError, match='files are there but damaged'): get_dataset('cifar10', root=tmp_path, download=False)

def test_damaged_mnist_file_says_damaged(tmp_path):
    make_mnist(tmp_path)
    p = tmp_path / 'MNIST' / 'raw' / 'train-images-idx3-ubyte'
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(DataError, match='files are there but damaged'): get_dataset('mnist', root=tmp_path, download=False)
