"""Drive JupyterLab and the docs site in a real browser: Debian's Chromium through Playwright.

`jupyterlab(root)` starts a JupyterLab server on 127.0.0.1 (a free port, a token, a private config) and stops it
afterwards; `Lab` opens notebooks through the real user interface, runs them from the Run menu and reads the DOM.
Screenshots go to `_build/screenshots/` (kept as test artefacts; set `GANLAB_SCREENSHOTS` to change the place).
"""
from __future__ import annotations
import contextlib, json, os, secrets, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get('GANLAB_SCREENSHOTS', ROOT/'_build'/'screenshots'))
CHROMIUM_PATHS = ('/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome')
WIDGET_ERRORS = ('Error displaying widget', 'Loading widget...', 'Failed to load model class')

def chromium() -> str | None:
    "The Chromium to drive: `$GANLAB_CHROMIUM`, else Debian's."
    cands = [os.environ.get('GANLAB_CHROMIUM'), *CHROMIUM_PATHS]
    return next((c for c in cands if c and Path(c).exists()), None)

def missing() -> str | None:
    "Why the browser tests cannot run here (None when they can)."
    try: import playwright  # noqa: F401
    except ImportError: return 'Playwright is not installed: pip install -e ".[browser]"'
    if not chromium(): return 'no Chromium: apt-get install -y chromium (or set GANLAB_CHROMIUM to a Chrome/Chromium binary)'
    return None

def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def write_notebook(path: Path, cells: list[str]) -> Path:
    "A notebook of code `cells`, with the python3 kernel named so JupyterLab starts it without asking."
    nb = {'cells': [{'cell_type': 'code', 'execution_count': None, 'id': f'c{i:07d}', 'metadata': {}, 'outputs': [],
                     'source': src} for i, src in enumerate(cells)],
          'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
                       'language_info': {'name': 'python'}},
          'nbformat': 4, 'nbformat_minor': 5}
    path.write_text(json.dumps(nb, indent=1) + '\n', encoding='utf-8')
    return path

@contextlib.contextmanager
def jupyterlab(root: Path, timeout: float = 90):
    "A JupyterLab server serving `root` on 127.0.0.1 for the duration: yields (base_url, token)."
    root = Path(root); port, token = free_port(), secrets.token_hex(16)
    home = root/'.lab'; home.mkdir(exist_ok=True)
    settings = home/'settings'/'@jupyterlab'/'apputils-extension'; settings.mkdir(parents=True, exist_ok=True)
    (settings/'notification.jupyterlab-settings').write_text(json.dumps({'fetchNews': 'false', 'checkForUpdates': False}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home/'config'), JUPYTERLAB_SETTINGS_DIR=str(home/'settings'),
               JUPYTERLAB_WORKSPACES_DIR=str(home/'workspaces'), JUPYTER_RUNTIME_DIR=str(home/'runtime'),
               OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'), PYTHONUNBUFFERED='1')
    env.pop('IN_TEST', None)   # the notebook behaves as it does for a student; quick mode comes from GANLAB_QUICK
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', '--ServerApp.ip=127.0.0.1',
           f'--ServerApp.port={port}', '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}',
           f'--ServerApp.root_dir={root}', '--ServerApp.open_browser=False', '--LabApp.news_url=',
           '--ServerApp.disable_check_xsrf=False', '--MappingKernelManager.cull_idle_timeout=0']
    log = open(home/'server.log', 'w')
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    try:
        t0 = time.time()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f'JupyterLab exited with code {proc.returncode}:\n{(home/"server.log").read_text()[-3000:]}')
            try:
                with urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=2) as r:
                    if r.status == 200: break
            except OSError: pass
            if time.time() - t0 > timeout:
                raise TimeoutError(f'JupyterLab did not answer on {base} in {timeout} s:\n{(home/"server.log").read_text()[-3000:]}')
            time.sleep(0.5)
        yield base, token
    finally:
        with contextlib.suppress(ProcessLookupError): os.killpg(proc.pid, signal.SIGTERM)
        try: proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError): os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()

@contextlib.contextmanager
def browser():
    "A headless Chromium driven by Playwright."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'])
        try: yield b
        finally: b.close()

def screenshot(page, name: str, full_page: bool = False) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    p = SHOTS/f'{name}.png'
    page.screenshot(path=str(p), full_page=full_page)
    return p

class Lab:
    "One JupyterLab tab: open a notebook, run it from the menus, read what the cells show."
    def __init__(self, page, base: str, token: str):
        self.page, self.base, self.token = page, base, token
        page.set_default_timeout(60_000)

    def open(self, path: str) -> Lab:
        "Open the notebook at `path` (relative to the server's root) and wait until its fresh kernel is idle."
        self.page.goto(f'{self.base}/lab/tree/{path}?token={self.token}&reset')
        self.page.wait_for_selector('.jp-NotebookPanel .jp-Notebook .jp-Cell', state='visible')
        self.wait_idle(120)
        return self

    def kernel_status(self) -> str:
        "The kernel status JupyterLab shows for the open notebook ('idle', 'busy', 'starting', ...)."
        return self.page.evaluate("""() => {
            const el = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator')
                || document.querySelector('.jp-Notebook-ExecutionIndicator');
            return el ? (el.getAttribute('data-status') || 'unknown') : 'unknown';
        }""")

    def wait_idle(self, timeout: float = 300) -> None:
        "Wait until the kernel is idle and no cell shows the running prompt `[*]`."
        t0, seen_idle = time.time(), 0
        while time.time() - t0 < timeout:
            running = self.page.locator('.jp-Cell .jp-InputPrompt', has_text='[*]').count()
            if self.kernel_status() == 'idle' and running == 0:
                seen_idle += 1
                if seen_idle >= 3: return
            else: seen_idle = 0
            if self.kernel_status() == 'dead': raise RuntimeError('the kernel died')
            time.sleep(0.5)
        raise TimeoutError(f'the notebook was still busy after {timeout} s (kernel: {self.kernel_status()})')

    def menu(self, top: str, item: str) -> None:
        "Click `item` in the menu bar's `top` menu, as a user would."
        self.page.locator('#jp-menu-panel .lm-MenuBar-itemLabel', has_text=top).first.click()
        self.page.locator('.lm-Menu:visible .lm-Menu-itemLabel', has_text=item).first.click()

    def run_all(self, timeout: float = 300) -> None:
        "Run ▸ Run All Cells, then wait for the kernel to finish."
        self.menu('Run', 'Run All Cells')
        time.sleep(1)
        self.wait_idle(timeout)

    def cell_outputs(self, i: int):
        return self.page.locator('.jp-Notebook .jp-Cell').nth(i).locator('.jp-OutputArea')

    def errors(self) -> list[str]:
        "What reads as a failure in the outputs: tracebacks, widgets that did not render, figures shown as text."
        out = []
        for t in self.page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts():
            if 'Traceback' in t or 'Error' in t: out.append(t[:2000])
        for t in self.page.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"], .jp-OutputArea-output.jp-mod-error').all_inner_texts():
            out.append(t[:2000])
        text = self.page.locator('.jp-Notebook').inner_text()
        out += [f'the page shows {w!r}' for w in WIDGET_ERRORS if w in text]
        if n := self.page.locator('.jp-Notebook .jupyter-widgets-error-widget').count():
            out.append(f'{n} widget(s) failed to render (Error displaying widget)')
        for t in self.page.locator('.jp-OutputArea-output pre').all_inner_texts():
            if '<Figure size' in t: out.append(f'a figure shown as text instead of a picture: {t.strip()[:200]}')
        return out
