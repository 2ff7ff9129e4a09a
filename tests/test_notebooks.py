"""Habits every chapter keeps: short exported cells, and notebooks that nbdev's docs pipeline can process."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / 'nbs').glob('*.ipynb'))
MAX_EXPORTED_LINES = 60

def exported_cells(nb: Path):
    for i, c in enumerate(json.loads(nb.read_text())['cells']):
        src = ''.join(c['source'])
        if c['cell_type'] == 'code' and re.search(r'^#\|\s*export', src, re.M): yield i, src

def test_exported_cells_are_short():
    long = [f"{nb.name} cell {i} ({len(src.splitlines())} lines)" for nb in NBS for i, src in exported_cells(nb)
            if len(src.splitlines()) > MAX_EXPORTED_LINES]
    assert not long, f"exported cells over {MAX_EXPORTED_LINES} lines (split them, e.g. with fastcore's @patch): {long}"

def test_every_chapter_passes_nbdev_proc_nbs(tmp_path):
    "The first stage of nbdev's docs pipeline re-runs import and show_doc cells out of context: each must stand alone."
    shutil.copytree(ROOT / 'nbs', tmp_path / 'nbs', ignore=shutil.ignore_patterns('runs', '_out', '.ipynb_checkpoints'))
    shutil.copy(ROOT / 'pyproject.toml', tmp_path / 'pyproject.toml')
    exe = Path(sys.executable).with_name('nbdev-proc-nbs')
    r = subprocess.run([str(exe), '--force', '--n-workers', '1'], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and 'Error' not in out and 'Traceback' not in out, out[-3000:]
    done = {p.name for p in (tmp_path / '_proc').rglob('*.ipynb')}
    assert {nb.name for nb in NBS} <= done, f"not processed: {sorted({nb.name for nb in NBS} - done)}"
