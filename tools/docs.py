#!/usr/bin/env python3
"""Build the ganlab course site offline: every chapter executed in quick mode, rendered by Sphinx + MyST-NB.

    python tools/docs.py build _site     # build the site into _site/ (open _site/index.html)
    python tools/docs.py check _site     # check a built site again: links, local scripts, one page per chapter
    python tools/docs.py serve _site     # serve it on http://127.0.0.1:8000

`build` takes the executed notebooks that `tools/run_chapters.py` (the test command) saved in `_build/executed/`,
and runs the chapters whose saved copy is missing or out of date itself, exactly as the tests do. Each notebook
then goes through nbdev's documentation processors (`#| hide` cells dropped, `#| echo: false` inputs hidden,
a `show_doc` API entry after every exported definition), widget outputs become static snapshots of their final
state, and Sphinx renders the pages with MathJax served from the site. Any Sphinx warning, a broken internal
link, a script or stylesheet fetched from the network, or a chapter that fails to run fails the build.
"""
import argparse, base64, html, importlib, importlib.metadata, os, re, shutil, subprocess, sys, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
import run_chapters  # noqa: E402

BUILD = ROOT/'_build'
STAGE, STATIC = BUILD/'site_src', BUILD/'site_static'
WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json'

def is_chapter(nb: Path) -> bool: return nb.name[:2].isdigit()

# ---------------------------------------------------------------------------------------------- the pages
def _default_exp(nb) -> str | None:
    for c in nb.cells:
        if c.cell_type == 'code' and 'default_exp' in c.directives_: return c.directives_['default_exp'].split()[0]
    return None

def _api_markdown(obj, name: str) -> str:
    "The API entry of `obj`: what nbdev's `show_doc` gives (signature with docments, docstring), as Markdown."
    from nbdev.showdoc import MarkdownRenderer, show_doc
    body = MarkdownRenderer._repr_markdown_(show_doc(obj, name=name))   # without the link to a remote source file
    if isinstance(obj, type): body = body.replace('```python\ndef ', '```python\nclass ', 1)   # a class, not a function
    return f'<span id="{api_id(name)}"></span>\n\n### {name}\n\n{body.strip()}\n'

def api_id(name: str) -> str: return 'api-' + re.sub(r'[^\w.-]', '_', name)

_SOURCE_LINK = re.compile(r'^(---\s*\n)?\s*\[source\]\([^)]*\)\{[^}]*\}\s*\n', re.MULTILINE)
_HEADING = re.compile(r'^(#+) (\S+)\s*$', re.MULTILINE)

def _clean_api(md: str) -> str:
    "A `show_doc` output run in the notebook: drop the remote source link, add the anchor API links point to."
    md = _SOURCE_LINK.sub('', md)
    return _HEADING.sub(lambda m: f'<span id="{api_id(m[2])}"></span>\n\n{m[0]}', md, count=1)

def _lookup(name: str, mod: str | None):
    "The object `name` documents: from the notebook's module `mod`, else from the first ganlab module that has it."
    names = [f'ganlab.{mod}'] if mod else []
    names += [f'ganlab.{p.stem}' for p in sorted((ROOT/'ganlab').glob('[a-z]*.py')) if p.stem != mod]
    for i, m in enumerate(names):
        try: obj = importlib.import_module(m)
        except ImportError:
            if i == 0: raise
            continue
        try:
            for part in name.split('.'): obj = getattr(obj, part)
            return obj
        except AttributeError: continue
    raise LookupError(f'show_doc({name}): no exported object of that name in ganlab.{mod}; '
                      'run nbdev-export so the package matches the notebooks.')

def _widget_html(mid: str, state: dict, depth: int = 0) -> str:
    "Static HTML for widget `mid` as it was when its notebook finished: pictures, text and controls, inert."
    w = state.get(mid)
    if w is None or depth > 20: return ''
    name, s = w['model_name'], w['state']
    kids = [k.removeprefix('IPY_MODEL_') for k in s.get('children', [])]
    desc = html.escape(str(s.get('description', '') or ''))
    lab = f'<span class="w-desc">{desc}</span> ' if desc else ''
    if name in ('VBoxModel', 'HBoxModel', 'BoxModel', 'GridBoxModel', 'AccordionModel', 'TabModel', 'StackModel'):
        inner = ''.join(_widget_html(k, state, depth+1) for k in kids)
        return f'<div class="w-box w-{name[:-5].lower()}">{inner}</div>'
    if name == 'ImageModel':
        buf = next((b for b in w.get('buffers', []) if b.get('path') == ['value']), None)
        if not buf: return ''
        fmt = s.get('format', 'png')
        attrs = ''.join(f' {k}="{html.escape(str(s[k]))}"' for k in ('width', 'height') if s.get(k))
        if not attrs and (px := _png_width(buf['data'])) and px < 200:   # a strip of tiny samples: larger, crisp
            attrs = f' width="{3 * px}" style="image-rendering: pixelated"'
        return f'<img class="w-image" alt="widget picture" src="data:image/{fmt};base64,{buf["data"]}"{attrs}>'
    if name in ('HTMLModel', 'HTMLMathModel'): return f'<div class="w-html">{lab}{s.get("value", "")}</div>'
    if name == 'LabelModel': return f'<span class="w-label">{html.escape(str(s.get("value", "")))}</span>'
    if name == 'ButtonModel':
        return f'<button class="w-button" disabled>{desc or html.escape(str(s.get("tooltip", "")))}</button>'
    if name.endswith('SliderModel') or name in ('PlayModel',):
        v, lo, hi = s.get('value', 0), s.get('min', 0), s.get('max', 100)
        shown = ' – '.join(f'{x:.3g}' if isinstance(x, float) else str(x) for x in (v if isinstance(v, list) else [v]))
        if isinstance(v, list): v = v[0]
        return (f'<label class="w-slider">{lab}<input type="range" disabled min="{lo}" max="{hi}" '
                f'step="{s.get("step", 1)}" value="{v}"> <span>{html.escape(shown)}</span></label>')
    if name in ('DropdownModel', 'SelectModel', 'RadioButtonsModel', 'ToggleButtonsModel'):
        opts, i = s.get('_options_labels', []), s.get('index')
        cur = html.escape(str(opts[i])) if isinstance(i, int) and i < len(opts) else ''
        return f'<label class="w-choice">{lab}<select disabled><option>{cur}</option></select></label>'
    if name in ('CheckboxModel', 'ToggleButtonModel'):
        return f'<label class="w-check"><input type="checkbox" disabled{" checked" if s.get("value") else ""}> {desc}</label>'
    if name in ('TextModel', 'IntTextModel', 'FloatTextModel', 'BoundedIntTextModel', 'BoundedFloatTextModel'):
        return f'<label class="w-text">{lab}<input disabled value="{html.escape(str(s.get("value", "")))}"></label>'
    if name in ('FloatProgressModel', 'IntProgressModel'):
        return f'<label class="w-progress">{lab}<progress max="{s.get("max", 100)}" value="{s.get("value", 0)}"></progress></label>'
    if name == 'OutputModel':
        return f'<div class="w-output">{"".join(_output_html(o) for o in s.get("outputs", []))}</div>'
    return ''

def _png_width(b64: str) -> int | None:
    "The width of a base64 PNG, from its header."
    head = base64.b64decode(b64[:44])
    return int.from_bytes(head[16:20], 'big') if head[:8] == b'\x89PNG\r\n\x1a\n' else None

def _output_html(o: dict) -> str:
    d = o.get('data', {})
    if 'image/png' in d: return f'<img class="w-image" alt="output" src="data:image/png;base64,{"".join(d["image/png"]).strip()}">'
    if 'text/html' in d: return ''.join(d['text/html'])
    text = ''.join(o.get('text', '')) if o.get('output_type') == 'stream' else ''.join(d.get('text/plain', ''))
    return f'<pre>{html.escape(text)}</pre>' if text else ''

def _static_widgets(cell, state: dict) -> None:
    "Replace each widget output of `cell` by a static snapshot of the widget (it needs a kernel to move)."
    for o in cell.get('outputs', []):
        view = o.get('data', {}).get(WIDGET_VIEW)
        if not view: continue
        snap = _widget_html(view['model_id'], state)
        note = ('A snapshot of the widget as the chapter left it; run the notebook in JupyterLab to use it.' if snap else
                'An interactive widget: run the notebook in JupyterLab to use it.')
        o['data'] = {'text/html': f'<div class="widget-snapshot">{snap}<p class="w-note">{note}</p></div>'}

def _present(nb, mod: str | None, state: dict):
    "A processor: turn nbdev directives into MyST-NB cell tags, fill in API entries and widget snapshots."
    def proc(cell):
        if cell.cell_type != 'code': return
        d, tags = cell.directives_, set(cell.metadata.get('tags', []))
        if getattr(cell, 'has_sd', False) or cell.source.lstrip().startswith('show_doc('):
            tags |= {'remove-input', 'api'}
            if getattr(cell, 'has_sd', False):
                name = cell.source.strip()[len('show_doc('):-1]
                cell.outputs = [dict(output_type='display_data', metadata={},
                                     data={'text/markdown': _api_markdown(_lookup(name, mod), name)})]
            else:
                for o in cell.get('outputs', []):
                    md = o.get('data', {}).get('text/markdown')
                    if md: o['data']['text/markdown'] = _clean_api(''.join(md))
        if 'export' in d or 'exports' in d: tags.add('exported')
        for flag in run_chapters.test_flags():   # not run by the tests: no output (docs/_static/ganlab.css says why)
            if flag in d: tags |= {'skipped', f'skipped-{flag}'}
        if str(d.get('echo')).lower() == 'false': tags.add('remove-input')
        if str(d.get('output')).lower() == 'false': tags.add('remove-output')
        if str(d.get('include')).lower() == 'false': tags.add('remove-cell')
        cap = str(d['fig-cap']).strip().strip('"\'') if 'fig-cap' in d else None
        if cap: cell.metadata.setdefault('mystnb', {})['figure'] = {'caption': cap}
        if any('image/png' in o.get('data', {}) for o in cell.get('outputs', [])):
            cell.metadata.setdefault('mystnb', {})['image'] = {'alt': cap or 'A figure the cell above drew when the chapter ran'}
        _static_widgets(cell, state)
        if tags: cell.metadata['tags'] = sorted(tags)
        cell.source = '\n'.join(l for l in cell.source.splitlines() if not re.match(r'\s*#\|', l)).strip()
        if not cell.source and not cell.get('outputs'): cell.source = None   # nothing left to show
    return proc

def process(src: Path):
    "The executed notebook `src` ready for Sphinx (nbdev's doc processors, then ours), and its module's name."
    from fastcore.nbio import read_nb
    from nbdev import processors as P
    from nbdev.process import NBProcessor
    nb = read_nb(src)
    state = nb.metadata.get('widgets', {}).get(run_chapters.WIDGET_STATE, {}).get('state', {})
    nbp = NBProcessor(nb=nb, rm_directives=False)
    mod = _default_exp(nbp.nb)
    nbp.procs = [P.populate_language, P.add_show_docs, P.strip_ansi, P.hide_line, P.filter_stream_,
                 P.rm_header_dash, P.clean_magics, P.hide_, _present(nbp.nb, mod, state)]
    nbp.procs = [p(nbp.nb) if isinstance(p, type) else p for p in nbp.procs]
    nbp.process()
    _api_in_order(nb)
    nb.metadata.pop('widgets', None)
    return nb, mod

def _api_in_order(nb) -> None:
    "nbdev inserts the API entries of a cell's definitions last-first; put each run of them back in source order."
    cells, i = nb.cells, 0
    while i < len(cells):
        j = i
        while j < len(cells) and getattr(cells[j], 'has_sd', False): j += 1
        if j > i + 1: cells[i:j] = cells[i:j][::-1]
        i = max(j, i + 1)

def _toctree(caption: str, entries: list[str]) -> str:
    return '```{toctree}\n:hidden:\n:maxdepth: 1\n:caption: ' + caption + '\n\n' + '\n'.join(entries) + '\n```\n'

def _title(nb, default: str) -> str:
    "The notebook's title: its first `# heading`."
    for c in nb.cells:
        if c.cell_type == 'markdown' and (m := re.search(r'^# (.+)$', c.source, re.MULTILINE)): return m[1].strip()
    return default

def _link_chapters(nb, names: set[str]) -> None:
    "In the index page, turn `NN_name` table entries into links to the chapter's page."
    for c in nb.cells:
        if c.cell_type == 'markdown':
            c.source = re.sub(r'`(\d\d_\w+)`', lambda m: f'[`{m[1]}`]({m[1]}.ipynb)' if m[1] in names else m[0], c.source)

def stage(executed: Path, nbs: list[Path]) -> dict[str, str]:
    "Write the processed pages, the index's chapter list and the local MathJax into `_build/`; map modules to pages."
    from fastcore.nbio import mk_cell, write_nb
    if STAGE.exists(): shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    chapters = [p.stem for p in nbs if is_chapter(p)]
    extras = [p.stem for p in nbs if not is_chapter(p) and p.stem != 'index']
    modules = {}
    pages, titles = {}, {}
    for p in nbs:
        pages[p.stem], mod = process(executed/p.name)
        titles[p.stem] = _title(pages[p.stem], p.stem)
        if mod: modules[f'ganlab.{mod}'] = f'{p.stem}.html'
    for name, nb in pages.items():
        if name == 'index':   # the chapter list in the sidebar, numbered as the notebooks are
            _link_chapters(nb, set(chapters))
            toc = _toctree('Chapters', [f'{c[:2]} · {titles[c]} <{c}>' for c in chapters])
            if extras: toc += _toctree('More', [f'{titles[e]} <{e}>' for e in extras])
            nb.cells.append(mk_cell(toc, 'markdown'))
        write_nb(nb, STAGE/f'{name}.ipynb')
    _copy_mathjax(STATIC/'mathjax')
    return modules

def _copy_mathjax(dest: Path) -> None:
    "MathJax 3 (TeX input, CommonHTML output, its fonts) from the sphinx-mathjax-offline package: no CDN."
    try: files = importlib.metadata.files('sphinx-mathjax-offline') or []
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit('MathJax is missing: install the docs extra, pip install -e ".[docs]".') from None
    want = [f for f in files if f.name == 'tex-chtml-full.js' or 'fonts/woff-v2/' in f.as_posix()]
    if not want: raise SystemExit('sphinx-mathjax-offline has no tex-chtml-full.js; reinstall the docs extra.')
    for f in want:
        rel = f.as_posix().split('static/mathjax/', 1)[1]
        (dest/rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f.locate(), dest/rel)

_CODE = re.compile(r'<code class="docutils literal notranslate"><span class="pre">([A-Za-z_][\w.]*)(\([^<]*\))?</span></code>')
_SKIP_HTML = re.compile(r'(<a\b.*?</a>|<pre\b.*?</pre>|<h[1-6]\b.*?</h[1-6]>|<p class="rubric".*?</p>)', re.S)

def linkify(out: Path, modules: dict[str, str]) -> int:
    "Link each `name` in the pages' prose to its API entry (nbdev's backtick links, kept inside the site)."
    targets = dict(modules)
    pages = sorted(Path(out).glob('*.html'))
    for f in pages:
        for m in re.finditer(r'<span id="api-([\w.-]+)"></span>', f.read_text(encoding='utf-8')):
            targets.setdefault(m[1], f'{f.name}#api-{m[1]}')
    n = 0
    def repl(m):
        nonlocal n
        url = targets.get(m[1]) or targets.get(m[1].removeprefix('ganlab.').split('.', 1)[-1] if m[1].count('.') > 1 else '')
        if not url: return m[0]
        n += 1
        return f'<a class="reference internal api-link" href="{url}">{m[0]}</a>'
    for f in pages:
        parts = _SKIP_HTML.split(f.read_text(encoding='utf-8'))
        parts[::2] = [_CODE.sub(repl, p) for p in parts[::2]]
        f.write_text(''.join(parts), encoding='utf-8')
    return n

# ---------------------------------------------------------------------------------------------- checks
class _Page(HTMLParser):
    "The ids, links and loaded resources of one HTML page."
    def __init__(self):
        super().__init__(); self.ids, self.links, self.loads = set(), [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        if tag == 'a' and a.get('href'): self.links.append(a['href'])
        if tag in ('script', 'img', 'iframe', 'source') and a.get('src'): self.loads.append((tag, a['src']))
        if tag == 'link' and a.get('href') and 'stylesheet' in (a.get('rel') or '') + (a.get('as') or ''):
            self.loads.append((tag, a['href']))
        if tag == 'link' and a.get('rel') == 'preload' and a.get('href'): self.loads.append((tag, a['href']))

def check_site(out: Path, nbs: list[Path]) -> list[str]:
    "Problems in the built site `out`: missing pages, broken internal links or resources, anything from the network."
    out, problems, pages = Path(out), [], {}
    for p in nbs:
        if not (out/f'{p.stem}.html').exists(): problems.append(f'{p.stem}.html: no page for {p.name}')
    for f in out.rglob('*.html'):
        if f.relative_to(out).parts[0] in ('_static', '_sources'): continue   # theme templates, not pages
        pg = _Page(); pg.feed(f.read_text(encoding='utf-8', errors='replace')); pages[f.resolve()] = pg
    for f, pg in pages.items():
        rel = f.relative_to(out.resolve())
        for tag, url in pg.loads:
            u = urlsplit(url)
            if u.scheme in ('http', 'https') or url.startswith('//'):
                problems.append(f'{rel}: <{tag}> loads {url} from the network; serve it from the site')
            elif not u.scheme and u.path and not (f.parent/unquote(u.path)).exists():
                problems.append(f'{rel}: <{tag}> {url} is missing')
        for url in pg.links:
            u = urlsplit(url)
            if u.scheme or url.startswith('//'): continue
            target = (f.parent/unquote(u.path)).resolve() if u.path else f
            if not target.exists(): problems.append(f'{rel}: broken link {url}'); continue
            if u.fragment and target.suffix == '.html' and target in pages and unquote(u.fragment) not in pages[target].ids:
                problems.append(f'{rel}: link {url} names an anchor its page lacks')
    return problems

# ---------------------------------------------------------------------------------------------- commands
def build(out: Path, n_workers: int | None = None) -> int:
    "Run what is stale, stage the pages, render them with Sphinx into `out`, check the result; 0 when all is well."
    t0, out = time.time(), Path(out).resolve()
    if out.exists() and any(out.iterdir()) and (not (out/'.buildinfo').exists() or out in (ROOT, *ROOT.parents)):
        print(f'== {out} is not empty and is not a site this command built: give a new or empty folder'); return 1
    nbs = run_chapters.notebooks()
    todo = run_chapters.stale(nbs)
    if todo:
        print(f'== running {len(todo)} notebook(s) whose saved run is out of date: {", ".join(p.name for p in todo)}')
        if not run_chapters.run(todo, n_workers=n_workers): print('== a chapter failed: no site built'); return 1
    else: print('== every chapter has a fresh executed copy in _build/executed/')
    t1 = time.time()
    modules = stage(run_chapters.EXECUTED, nbs)
    if out.exists(): shutil.rmtree(out)
    env = dict(os.environ, GANLAB_DOCS_STATIC=str(STATIC))
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-E', '-W', '--keep-going', '-q', '-c', str(ROOT/'docs'),
           '-d', str(BUILD/'doctrees'), str(STAGE), str(out)]
    if subprocess.run(cmd, env=env).returncode: print('== Sphinx reported problems (above): site not built'); return 1
    (out/'.nojekyll').touch()
    for p in nbs:   # the page's download button gives the chapter itself, ready to run in JupyterLab
        shutil.copyfile(p, out/'_sources'/p.name)
    linkify(out, modules)
    problems = check_site(out, nbs)
    for p in problems: print('  ', p)
    if problems: print(f'== {len(problems)} problem(s) in the built site'); return 1
    size = sum(f.stat().st_size for f in out.rglob('*') if f.is_file())
    print(f'== site built in {out} ({len(nbs)} pages, {size/2**20:.1f} MiB): chapters run {t1-t0:.0f} s, '
          f'rendering {time.time()-t1:.0f} s')
    return 0

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('command', choices=['build', 'check', 'serve'])
    ap.add_argument('out', nargs='?', default='_site', help='the site folder (default _site)')
    ap.add_argument('--n_workers', '--n-workers', type=int, default=None, help='chapters run in parallel')
    ap.add_argument('--port', type=int, default=8000)
    a = ap.parse_args(argv)
    out = Path(a.out).resolve()   # relative to where the command runs; the build itself runs from the repository
    os.chdir(ROOT)
    if a.command == 'build': return build(out, a.n_workers)
    if a.command == 'check':
        problems = check_site(out, run_chapters.notebooks())
        for p in problems: print('  ', p)
        return 1 if problems else 0
    import functools, http.server
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    print(f'serving {a.out} on http://127.0.0.1:{a.port}/ (Ctrl-C stops)')
    http.server.ThreadingHTTPServer(('127.0.0.1', a.port), handler).serve_forever()
    return 0

if __name__ == '__main__': sys.exit(main())
