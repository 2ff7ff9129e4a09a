#!/usr/bin/env python3
"""Run the chapters as `nbdev-test` does, and keep the executed notebooks for the docs site.

    python tools/run_chapters.py                      # every notebook in nbs/, in parallel
    python tools/run_chapters.py nbs/02_dcgan.ipynb   # one chapter
    python tools/run_chapters.py --stale              # only those whose saved run is out of date

Each notebook runs through nbdev's own `nbdev.test.test_nb`: the same cells are skipped (`tst_flags` in
pyproject.toml: `notest slow gpu`), `IN_TEST=1` is set (so `ganlab.core` trains in quick mode with one thread
per process), the same execnb shell runs the cells, and a notebook stops at its first error with the cell and
traceback shown. The one difference: a notebook that passes is written, with its outputs, to
`_build/executed/` (never over its source), together with `manifest.json`, which records a hash of the source
notebook and of the library it ran against. `tools/docs.py` renders the site from these files when their hashes
still match, so CI executes each chapter once.
"""
import argparse, hashlib, json, os, re, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = ROOT/'_build'/'executed'
WIDGET_STATE = 'application/vnd.jupyter.widget-state+json'

def library_hash(root: Path = ROOT) -> str:
    "A hash of what a chapter's outputs depend on besides its own notebook: the package and the data cards."
    h = hashlib.sha256()
    for p in sorted([*(root/'ganlab').rglob('*.py'), *(root/'data_cards').glob('*.md')]):
        if '__pycache__' in p.parts: continue
        h.update(p.relative_to(root).as_posix().encode()); h.update(p.read_bytes())
    return h.hexdigest()

def file_hash(p: Path) -> str: return hashlib.sha256(Path(p).read_bytes()).hexdigest()

def read_manifest(out: Path = EXECUTED) -> dict:
    f = Path(out)/'manifest.json'
    return json.loads(f.read_text()) if f.exists() else {}

def stale(nbs: list[Path], out: Path = EXECUTED) -> list[Path]:
    "The notebooks among `nbs` whose executed copy in `out` is missing or was made from other sources."
    man, lib = read_manifest(out), library_hash()
    def fresh(nb):
        rec = man.get(nb.name)
        return bool(rec) and (Path(out)/nb.name).exists() and rec['source'] == file_hash(nb) and rec['library'] == lib
    return [nb for nb in nbs if not fresh(nb)]

def test_flags() -> list[str]:
    "The flags whose cells the tests skip (`tst_flags` in pyproject.toml)."
    from nbdev.config import get_config
    f = get_config(ROOT).tst_flags
    return f.split() if isinstance(f, str) else list(f)

def _widget_ids(obj) -> set[str]:
    "The widget model ids a widget state refers to (its children, layout, style)."
    return set(re.findall(r'IPY_MODEL_([0-9a-f]{32})', json.dumps(obj)))

_widget_states: dict[str, dict] = {}   # model id -> the widget's state when a cell last ended with it open

def _remember_widgets(*_) -> None:
    "After each cell, keep the state of every open widget: a chapter may close its widgets before it ends."
    if 'ipywidgets' not in sys.modules: return
    from ipywidgets import Widget
    try: _widget_states.update(Widget.get_manager_state(drop_defaults=False)['state'])
    except Exception: pass   # a widget changing in a background thread: the next cell's end will catch it

def _add_widget_state(nb) -> None:
    "Store in `nb`'s metadata the last state of the widgets its outputs display, so the site can show them."
    shown = set()
    for c in nb.cells:
        for o in c.get('outputs', []):
            view = o.get('data', {}).get('application/vnd.jupyter.widget-view+json')
            if view: shown.add(view['model_id'])
    if not shown: return
    keep, todo = set(), set(shown)
    while todo:   # the displayed widgets and every widget they hold, transitively
        i = todo.pop()
        if i in keep or i not in _widget_states: continue
        keep.add(i); todo |= _widget_ids(_widget_states[i]['state']) - keep
    nb.metadata['widgets'] = {WIDGET_STATE: {'version_major': 2, 'version_minor': 0,
                                             'state': {i: _widget_states[i] for i in sorted(keep)}}}

def _run_one(fn: Path, out: str, **kwargs):
    "Run one notebook with nbdev's `test_nb`; on success write it, outputs and widget states included, to `out`."
    import nbdev.test as nbtest
    from fastcore.nbio import write_nb
    def _save(nb, _src):   # `test_nb(save=True)` would write over the source: send the notebook to `out` instead
        _add_widget_state(nb)
        dest = Path(out)/Path(fn).name
        tmp = dest.with_suffix('.ipynb.tmp')
        write_nb(nb, tmp); os.replace(tmp, dest)
    class Shell(nbtest.CaptureShell):   # the same shell, which also remembers widget states after each cell
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.events.register('post_run_cell', _remember_widgets)
    assert hasattr(nbtest, 'write_nb') and hasattr(nbtest, 'CaptureShell'), \
        'nbdev.test no longer uses write_nb and CaptureShell: update tools/run_chapters.py'
    shell = nbtest.CaptureShell
    _widget_states.clear()
    nbtest.write_nb, nbtest.CaptureShell = _save, Shell
    try: return nbtest.test_nb(fn, save=True, **kwargs)
    finally: nbtest.write_nb, nbtest.CaptureShell = write_nb, shell

def _worker():
    "`_run_one` from the importable module: a worker runs several notebooks, and IPython replaces `__main__` in it."
    if __name__ != '__main__': return _run_one
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run_chapters
    return run_chapters._run_one

def notebooks(paths: list[str] | None = None) -> list[Path]:
    "The notebooks to run: `paths` (files or folders), else every notebook in the nbdev `nbs_path`."
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    from nbdev.test import _keep_file
    if not paths: paths = [str(get_config(ROOT).nbs_path)]
    files = []
    for p in map(Path, paths):
        if not p.exists(): raise SystemExit(f'{p} does not exist; give a notebook or a folder of notebooks.')
        files += [p] if p.is_file() else nbglob(p, as_path=True)
    return sorted({Path(f).absolute() for f in files if _keep_file(Path(f), '.notest')}, key=lambda f: f.name)

def run(files: list[Path], out: Path = EXECUTED, flags: str = '', n_workers: int | None = None,
        timing: bool = False) -> bool:
    "Run `files` in parallel as `nbdev-test` does, save the passing ones to `out`; True when all pass."
    from fastcore.basics import num_cpus
    from fastcore.foundation import working_directory
    from fastcore.parallel import parallel
    from nbdev.config import get_config, import_obj
    from nbdev.test import nb_test_cells
    cfg = get_config(ROOT)
    skip_flags = test_flags()
    force_flags = flags.split()
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    if not files: print('No notebooks to run.'); return True
    lib = library_hash()
    hashes = {f.name: file_hash(f) for f in files}   # hashed before the run: an edit during it makes the copy stale
    if n_workers is None: n_workers = 0 if len(files) == 1 else min(num_cpus(), 8)
    with working_directory(cfg.nbs_path if cfg.nbs_path.exists() else os.getcwd()):
        if setup := cfg.get('test_setup'): import_obj(setup)([c for f in files for c in nb_test_cells(f, skip_flags, force_flags)])
        results = parallel(_worker(), files, out=str(out), skip_flags=skip_flags, force_flags=force_flags,
                           n_workers=n_workers, basepath=cfg.config_path, pause=0.01,
                           cell_timeout=cfg.cell_timeout or None, cell_timing_min=cfg.get('cell_timing_min'))
    man = read_manifest(out)
    for f, (ok, secs) in zip(files, results):
        if ok: man[f.name] = dict(source=hashes[f.name], library=lib, seconds=round(secs, 1), quick=True)
        else: man.pop(f.name, None)
    (out/'manifest.json').write_text(json.dumps(man, indent=1, sort_keys=True) + '\n')
    failed = [f.name for f, (ok, _) in zip(files, results) if not ok]
    if timing:
        for f, (_, t) in sorted(zip(files, results), key=lambda o: -o[1][1]): print(f'{f.name}: {int(t)} secs')
    if failed:
        sys.stderr.write('\nnbdev Tests Failed On The Following Notebooks:\n' + '='*50 + '\n\t' + '\n\t'.join(failed) + '\n')
        return False
    print('Success.')
    return True

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('path', nargs='*', help='notebooks or folders (default: the nbs folder)')
    ap.add_argument('--path', dest='path_opt', action='append', default=[], help='as nbdev-test --path')
    ap.add_argument('--flags', default='', help='space-separated test flags to run that are normally skipped')
    ap.add_argument('--n_workers', '--n-workers', type=int, default=None, help='parallel notebooks (default: CPUs, at most 8)')
    ap.add_argument('--out', default=str(EXECUTED), help='where executed notebooks go (default _build/executed)')
    ap.add_argument('--stale', action='store_true', help='run only notebooks whose executed copy is out of date')
    ap.add_argument('--timing', action='store_true', help='print each notebook\'s run time')
    a = ap.parse_args(argv)
    files = notebooks(a.path + a.path_opt)
    if a.stale: files = stale(files, Path(a.out))
    t0 = time.time()
    ok = run(files, Path(a.out), flags=a.flags, n_workers=a.n_workers, timing=a.timing)
    if a.timing: print(f'total: {time.time()-t0:.0f} s')
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
