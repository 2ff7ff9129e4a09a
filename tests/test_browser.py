"""Real-browser tests: JupyterLab and the docs site in headless Chromium (`pytest -m browser`).

Needs the `browser` extra (Playwright) and a Chromium (`apt-get install -y chromium`); the site tests need a
built site (`python tools/docs.py build _site`, or `GANLAB_SITE=DIR`). Screenshots land in `_build/screenshots/`.
"""
import os, time
from pathlib import Path
import pytest
from browser_harness import Lab, ROOT, browser, jupyterlab, missing, screenshot, write_notebook

pytestmark = pytest.mark.browser

@pytest.fixture(scope='module')
def chrome():
    if why := missing(): pytest.fail(f'browser tests cannot run: {why}')
    with browser() as b: yield b

@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "A JupyterLab server on a temporary folder; the kernels it starts train small, on the CPU."
    root = tmp_path_factory.mktemp('lab')
    keep = {k: os.environ.get(k) for k in ('GANLAB_QUICK', 'GANLAB_DEVICE', 'GANLAB_HOME')}
    os.environ.update(GANLAB_QUICK='1', GANLAB_DEVICE='cpu', GANLAB_HOME=str(root/'.ganlab-home'))
    try:
        with jupyterlab(root) as (base, token): yield base, token, root
    finally:
        for k, v in keep.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v

@pytest.fixture
def page(chrome):
    ctx = chrome.new_context(viewport={'width': 1400, 'height': 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()

def drag_slider(page, slider, frac: float) -> None:
    "Drag the handle of an ipywidgets slider to `frac` of its track with the mouse."
    slider.scroll_into_view_if_needed()
    track = slider.locator('.noUi-base, .noUi-target').first.bounding_box()
    handle = slider.locator('.noUi-handle').first.bounding_box()
    page.mouse.move(handle['x'] + handle['width']/2, handle['y'] + handle['height']/2)
    page.mouse.down()
    page.mouse.move(track['x'] + frac*track['width'], track['y'] + track['height']/2, steps=8)
    page.mouse.up()

def shot_of(page, loc, name: str) -> None:
    "Scroll `loc` to the top of the notebook view, let it paint, and keep a screenshot."
    loc.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)
    screenshot(page, name)

def wait_changed(get, before, timeout: float = 60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        now = get()
        if now != before: return now
        time.sleep(0.25)
    raise AssertionError(f'nothing changed in {timeout} s')

# ------------------------------------------------------------------------------------ the harness itself
PLAIN_WIDGETS = [
"""import io
import ipywidgets as W
import matplotlib.pyplot as plt
from PIL import Image, ImageDraw

def picture(n):
    im = Image.new('RGB', (80, 40), 'white')
    ImageDraw.Draw(im).rectangle([0, 0, 8*n, 40], fill='navy')
    buf = io.BytesIO(); im.save(buf, 'png'); return buf.getvalue()

slider = W.IntSlider(value=0, min=0, max=10, description='bars')
image = W.Image(value=picture(0), format='png')
label = W.Label('clicked 0 times')
button = W.Button(description='Click me')
button.on_click(lambda b: setattr(label, 'value', f'clicked {int(label.value.split()[1]) + 1} times'))
slider.observe(lambda ch: setattr(image, 'value', picture(ch.new)), 'value')
W.VBox([slider, image, W.HBox([button, label])])""",
"""fig, ax = plt.subplots(figsize=(3, 2)); ax.plot([0, 1, 4]); plt.show()""",
]

def test_harness_runs_plain_widgets(lab, page, tmp_path):
    "The harness itself: a fresh kernel runs a widget notebook from the Run menu; a slider drag and a click reach it."
    base, token, root = lab
    write_notebook(root/'plain_widgets.ipynb', PLAIN_WIDGETS)
    nb = Lab(page, base, token).open('plain_widgets.ipynb')
    nb.run_all(120)
    out = nb.cell_outputs(0)
    assert out.locator('.jupyter-widgets').count() > 0, 'no widget view was rendered'
    assert nb.errors() == []
    assert nb.cell_outputs(1).locator('img').count() == 1, 'the matplotlib figure is not shown as a picture'
    img = out.locator('img').first
    src0 = img.get_attribute('src')
    drag_slider(page, out.locator('.widget-slider').first, 0.75)
    src1 = wait_changed(lambda: img.get_attribute('src'), src0)
    assert src1 != src0
    readout = out.locator('.widget-readout').first.inner_text()
    assert 5 <= int(readout) <= 10, readout
    out.locator('button', has_text='Click me').click()
    page.wait_for_function("() => document.body.innerText.includes('clicked 1 times')")
    screenshot(page, 'lab-plain-widgets')

BROKEN = [
"""from matplotlib.figure import Figure
fig = Figure(figsize=(3, 2)); fig.add_subplot().plot([0, 1])
fig   # a bare Figure: IPython shows its text, not the picture, unless inline plotting has been set up""",
"""import ipywidgets as W
from traitlets import Unicode
class Missing(W.DOMWidget):
    _model_name, _model_module = Unicode('MissingModel').tag(sync=True), Unicode('no-such-widget-module').tag(sync=True)
    _view_name, _view_module = Unicode('MissingView').tag(sync=True), Unicode('no-such-widget-module').tag(sync=True)
Missing()""",
]

def test_harness_sees_what_a_student_would_call_broken(lab, page):
    "The checks can fail: a figure shown as text and a widget whose front end is missing are both reported."
    base, token, root = lab
    write_notebook(root/'broken.ipynb', BROKEN)
    nb = Lab(page, base, token).open('broken.ipynb')
    nb.run_all(120)
    page.wait_for_timeout(2000)   # let the widget manager give up on the missing module
    problems = nb.errors()
    assert any('figure shown as text' in p for p in problems), problems
    assert any('failed to render (Error displaying widget)' in p for p in problems), problems
    assert len(problems) == 2, problems
    screenshot(page, 'lab-broken-on-purpose')

# ------------------------------------------------------------------------------------ the docs site
SITE = Path(os.environ.get('GANLAB_SITE', ROOT/'_site'))
EXECUTED = ROOT/'_build'/'executed'

def site_pages() -> list[str]:
    "The pages the site must have: one per notebook in nbs/."
    return sorted(p.stem for p in (ROOT/'nbs').glob('*.ipynb'))

def figures_in_run(name: str) -> int:
    "How many pictures the chapter's executed notebook shows (0 when the run is not at hand)."
    import json
    f = EXECUTED/f'{name}.ipynb'
    if not f.exists(): return 0
    cells = json.loads(f.read_text(encoding='utf-8'))['cells']
    return sum('image/png' in o.get('data', {}) for c in cells for o in c.get('outputs', []))

@pytest.fixture(scope='module')
def site():
    "The built site, served on 127.0.0.1 for the duration."
    import functools, http.server, threading
    if not (SITE/'index.html').exists():
        pytest.fail(f'no built site in {SITE}: run `python tools/docs.py build _site` first (or set GANLAB_SITE)')
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(SITE)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}'
    finally: srv.shutdown(); srv.server_close()

PAGE_STATE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const art = document.querySelector('article') || document.body;
  const imgs = Array.from(art.querySelectorAll('img'));
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const prose = art.cloneNode(true);
  prose.querySelectorAll('pre, code, .highlight, script, mjx-container').forEach(e => e.remove());
  return {
    images: imgs.length,
    broken: imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute('src').slice(0, 80)),
    math_sources: art.querySelectorAll('.math').length,
    math_rendered: art.querySelectorAll('mjx-container').length,
    math_errors: art.querySelectorAll('mjx-merror').length,
    raw_tex: ['$$', '\\\\[', '\\\\('].filter(s => prose.textContent.includes(s)),
    figure_text: prose.textContent.includes('<Figure size'),
  };
}"""

def test_site_pages_show_figures_and_math(site, page):
    "Every page of the site loads its pictures and renders its math with the site's own MathJax."
    failed_requests = []
    page.on('requestfailed', lambda r: failed_requests.append(r.url))
    page.on('request', lambda r: None if r.url.startswith((site, 'data:')) else failed_requests.append('outside: ' + r.url))
    problems = []
    for name in site_pages():
        resp = page.goto(f'{site}/{name}.html', wait_until='load')
        if resp is None or resp.status != 200: problems.append(f'{name}: no page ({resp and resp.status})'); continue
        st = page.evaluate(PAGE_STATE)
        want = figures_in_run(name)
        if st['broken']: problems.append(f'{name}: pictures that did not load: {st["broken"]}')
        if st['images'] < want: problems.append(f'{name}: {st["images"]} pictures on the page, the run made {want}')
        if st['math_rendered'] < st['math_sources']:
            problems.append(f'{name}: {st["math_sources"]} formulas, {st["math_rendered"]} rendered by MathJax')
        if st['math_errors']: problems.append(f'{name}: {st["math_errors"]} formulas MathJax could not read')
        if st['raw_tex']: problems.append(f'{name}: raw TeX delimiters left in the prose: {st["raw_tex"]}')
        if st['figure_text']: problems.append(f'{name}: a figure shown as text (<Figure size ...>)')
        screenshot(page, f'site-{name}')
    assert problems == [], '\n'.join(problems)
    assert failed_requests == [], f'requests that failed or left the site: {failed_requests[:10]}'

def test_site_search_and_navigation(site, page):
    "The search page finds a chapter's term, and the sidebar lists every chapter."
    page.goto(f'{site}/index.html')
    nav = page.locator('nav.bd-docs-nav a').all_inner_texts()
    chapters = [n for n in site_pages() if n[:2].isdigit()]
    assert len(nav) >= len(chapters), nav
    page.goto(f'{site}/search.html?q=discriminator')
    page.wait_for_selector('#search-results li, .search li', timeout=30_000)
    assert page.locator('#search-results li, .search li').count() > 0
    screenshot(page, 'site-search')

# ------------------------------------------------------------------------------------ ganlab's widgets
GANLAB_WIDGETS = [
"""import time, tempfile
from pathlib import Path
import torch
from ganlab.core import seed_everything
from ganlab.data import get_dataset
from ganlab.train import Trainer, DataSpec, Checkpoint, build_model
from ganlab.sagan import SAGANGenerator
from ganlab.widgets import Dashboard, Explorer, AttentionExplorer

grid = get_dataset('grid25')
def points_trainer(steps, callbacks=(), seed=0):
    seed_everything(seed)
    return Trainer.from_recipe(build_model('dcgan', DataSpec.of(grid)), grid, callbacks=callbacks, device='cpu',
                               run_info=dict(model='dcgan', data='grid25', dim=2), steps=steps, batch_size=128,
                               log_every=20, seed=seed)""",
"""dash = Dashboard(every=0.3)
dash.start(points_trainer(steps=100_000))   # long enough to be stopped by hand
dash""",
"""run_dir = Path(tempfile.mkdtemp())
points_trainer(steps=80, callbacks=[Checkpoint(run_dir, every=20, keep=10)]).fit()
explorer = Explorer.from_checkpoints(run_dir, data=grid, n=256)
explorer""",
"""from ganlab.train import train_run
digits = get_dataset('digits', resolution=16, split='train')
train_run('dcgan', data='digits', resolution=16, steps=60, batch_size=32, progress=False, device='cpu',
          model_kwargs=dict(width=8, nz=16), callbacks=[Checkpoint(run_dir/'digits', every=20, keep=10)])
images = Explorer.from_checkpoints(run_dir/'digits', data=digits, n=16)
images""",
"""torch.manual_seed(0)
attention = AttentionExplorer(SAGANGenerator(16, nz=16, width=8, attn_res=8), n=4, seed=3)
attention""",
"""print(f'explorer at snapshot {explorer.time.value}; {attention.ax_att.get_title()} '
      f'(query x={attention.x.value}, y={attention.y.value}); dashboard stopped: {dash.stopped}')""",
]

def slider(page, out, description: str):
    "The slider in `out` labelled exactly `description`."
    import re
    label = page.locator('.widget-label', has_text=re.compile(f'^{re.escape(description)}$'))
    return out.locator('.widget-slider').filter(has=label).first

def _status(out) -> str: return out.locator('.widget-html').first.inner_text()

def _step(text: str) -> int:
    import re
    m = re.search(r'step (\d+)', text)
    return int(m[1]) if m else -1

def wait_text(get, pred, what: str, timeout: float = 60) -> str:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred(v := get()): return v
        time.sleep(0.2)
    raise AssertionError(f'{what}: still {get()!r} after {timeout} s')

def test_ganlab_widgets_in_jupyterlab(lab, page):
    "Dashboard (pause, resume, stop), Explorer (training-time slider), AttentionExplorer (query pixel), in a fresh kernel."
    base, token, root = lab
    write_notebook(root/'ganlab_widgets.ipynb', GANLAB_WIDGETS)
    nb = Lab(page, base, token).open('ganlab_widgets.ipynb')
    nb.run_all(300)
    assert nb.errors() == []
    for i in (1, 2, 3, 4): assert nb.cell_outputs(i).locator('.jupyter-widgets').count() > 0, f'cell {i} shows no widget'
    # --- the dashboard trains in a background thread (the kernel is idle); its buttons reach the run
    dash = nb.cell_outputs(1)
    wait_text(lambda: _status(dash), lambda s: _step(s) > 0 and 'training from' not in s, 'the dashboard never showed a step', 240)
    samples = dash.locator('img').first
    src = samples.get_attribute('src')
    wait_changed(lambda: samples.get_attribute('src'), src, 60)               # the live view redraws
    dash.locator('button', has_text='pause').click()
    paused = wait_text(lambda: _status(dash), lambda s: 'paused at step' in s, 'pause did not pause')
    time.sleep(2)
    assert _status(dash) == paused, 'the run went on while paused'
    shot_of(page, dash, 'lab-dashboard-paused')
    dash.locator('button', has_text='resume').click()
    wait_text(lambda: _status(dash), lambda s: 'paused' not in s and _step(s) > _step(paused), 'resume did not resume')
    dash.locator('button', has_text='stop').click()
    stopped = wait_text(lambda: _status(dash), lambda s: 'stopped at step' in s, 'stop did not stop')
    assert _step(stopped) > _step(paused)
    assert dash.locator('button[disabled]').count() >= 2, 'pause and stop should be disabled after a stop'
    # --- the explorer: drag the training-time slider back to the first snapshot; the picture changes
    ex = nb.cell_outputs(2)
    ex.locator('.jupyter-widgets').first.wait_for()
    pic = ex.locator('img').first
    before, caption = pic.get_attribute('src'), ex.locator('.widget-html').first.inner_text()
    drag_slider(page, slider(page, ex, 'snapshot'), 0.0)
    wait_text(lambda: ex.locator('.widget-html').first.inner_text(), lambda s: 'snapshot 1 of' in s,
              'the explorer did not move to the first snapshot')
    assert pic.get_attribute('src') != before and caption.startswith('snapshot 4 of 4')
    shot_of(page, ex, 'lab-explorer')
    # --- the explorer over image checkpoints: its pictures load
    imgs = nb.cell_outputs(3).locator('img')
    assert imgs.count() >= 3 and all(imgs.nth(i).evaluate('i => i.naturalWidth > 0') for i in range(imgs.count()))
    shot_of(page, nb.cell_outputs(3), 'lab-explorer-images')
    # --- the attention explorer: move the query pixel; the attention picture changes
    att = nb.cell_outputs(4)
    pic = att.locator('img').first
    before = pic.get_attribute('src')
    drag_slider(page, slider(page, att, 'x'), 0.0)
    wait_changed(lambda: pic.get_attribute('src'), before)
    before = pic.get_attribute('src')
    drag_slider(page, slider(page, att, 'y'), 1.0)
    wait_changed(lambda: pic.get_attribute('src'), before)
    nb.wait_idle(60)
    # --- the kernel saw every interaction: run the last cell again (click it, Shift+Enter) and read what it prints
    check = page.locator('.jp-Notebook .jp-Cell').nth(5)
    check.locator('.jp-InputArea-editor').click()
    page.keyboard.press('Shift+Enter')
    nb.wait_idle(60)
    wait_text(lambda: nb.cell_outputs(5).inner_text(), lambda s: 'query x=0, y=15' in s, 'the kernel never saw the drags', 30)
    text = nb.cell_outputs(5).inner_text()
    assert 'explorer at snapshot 0;' in text and 'where (0, 15) looks' in text and 'dashboard stopped: True' in text, text
    shot_of(page, att, 'lab-attention-explorer')
    assert nb.errors() == []

# ------------------------------------------------------------------------------------ a student's assignment
def test_student_notebook_in_jupyterlab(lab, page):
    "A released chapter-05 assignment opens in JupyterLab with the chapter's prose and blanked exercise bodies."
    import json, shutil, subprocess, sys
    from ganlab.course import make_course, list_exercises
    base, token, root = lab
    course = root/'course'
    make_course(['05_wgan_gp'], course)
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get('PATH', ''))
    r = subprocess.run([str(Path(bin_dir)/'nbgrader'), 'generate_assignment', '05_wgan_gp'], cwd=course, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    shutil.copy(course/'release'/'05_wgan_gp'/'05_wgan_gp.ipynb', root/'student_05.ipynb')
    released = json.loads((root/'student_05.ipynb').read_text())
    blanks = sum(''.join(c['source']).count('raise NotImplementedError()') for c in released['cells'])
    assert blanks >= len(list_exercises('05_wgan_gp')), blanks
    settings = root/'.lab'/'settings'/'@jupyterlab'/'notebook-extension'
    settings.mkdir(parents=True, exist_ok=True)   # render every cell, so the whole notebook is in the DOM
    (settings/'tracker.jupyterlab-settings').write_text(json.dumps({'windowingMode': 'none'}))
    Lab(page, base, token).open('student_05.ipynb')
    page.wait_for_function("() => document.querySelectorAll('.jp-Cell').length > 20", timeout=60_000)
    text = page.locator('.jp-NotebookPanel').first.inner_text()
    assert 'Wasserstein' in text and 'gradient penalty' in text.lower(), text[:500]
    assert text.count('raise NotImplementedError()') == blanks, (text.count('raise NotImplementedError()'), blanks)
    assert 'BEGIN SOLUTION' not in text and 'BEGIN HIDDEN TESTS' not in text and '#| exercise' not in text
    page.locator('.jp-Cell', has_text='raise NotImplementedError()').first.scroll_into_view_if_needed()
    screenshot(page, 'lab-student-notebook-05')
