"""The installed package carries what it needs: data cards inside the wheel, and the `ganlab` console script."""
import os, subprocess, sys, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def test_wheel_carries_data_cards(tmp_path):
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob('ganlab-*.whl'))
    site = tmp_path / 'site'
    with zipfile.ZipFile(wheel) as z: z.extractall(site)
    cards = sorted(p.name for p in (site / 'ganlab' / 'data_cards').glob('*.md'))
    assert len(cards) == 10
    code = ("import ganlab.data as d; c = d.card('digits'); print(d.cards_dir()); "
            "assert not d.card_problems(c); assert all(not d.card_problems(d.card(n)) for n in d.list_datasets())")
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, 'PYTHONPATH': str(site)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(site / 'ganlab' / 'data_cards')

def test_console_script_lists_datasets():
    r = subprocess.run(['ganlab', 'datasets'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [l.split()[0] for l in lines] == ['ring8', 'grid25', 'digits', 'stacked_digits', 'shapes',
                                             'mnist', 'fashion_mnist', 'cifar10', 'celeba', 'folder']
    assert '[download]' in lines[5] and '[download]' not in lines[2]

def test_unknown_command_fails_cleanly():
    r = subprocess.run(['ganlab', 'fly'], capture_output=True, text=True)
    assert r.returncode == 2 and 'invalid choice' in r.stderr

def test_only_the_widgets_module_imports_ipywidgets(tmp_path):
    "Training from the command line, the measures and the metrics run without ipywidgets; only `ganlab.widgets` needs it."
    out = str(tmp_path / 'pac')
    code = ("import sys\nfrom ganlab.cli import main\n"
            f"assert main(['train', '--model', 'pacgan', '--steps', '4', '--out', {out!r}, '--no-progress', '--no-eval']) == 0\n"
            "import ganlab.core, ganlab.data, ganlab.train, ganlab.sagan, ganlab.progan, ganlab.metrics, ganlab.diagnostics\n"
            "assert 'ipywidgets' not in sys.modules, sorted(m for m in sys.modules if m.startswith('ganlab'))\n"
            "import ganlab.widgets\nassert 'ipywidgets' in sys.modules")
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'pac' / 'samples.png').exists()
