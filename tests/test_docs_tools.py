"""The docs-site tooling on small inputs: the site checker, API links, widget snapshots, the executed-notebook cache."""
import json, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
import docs, run_chapters  # noqa: E402

def page(body: str, head: str = '') -> str:
    return f'<html><head>{head}</head><body>{body}</body></html>'

def test_check_site_finds_broken_links_and_network_loads(tmp_path):
    (tmp_path/'_static').mkdir(); (tmp_path/'_static'/'app.js').write_text('')
    (tmp_path/'a.html').write_text(page('<h2 id="top">A</h2><a href="b.html#there">ok</a><a href="https://example.org">out</a>',
                                        '<script src="_static/app.js"></script>'))
    (tmp_path/'b.html').write_text(page('<p id="there">B</p><a href="a.html#top">back</a>'))
    nbs = [Path('a.ipynb'), Path('b.ipynb')]
    assert docs.check_site(tmp_path, nbs) == []          # an external link is fine; only loads must stay local
    (tmp_path/'b.html').write_text(page('<a href="c.html">gone</a><a href="a.html#nowhere">x</a><img src="_images/no.png">',
                                        '<script src="https://cdn.example.org/mathjax.js"></script>'))
    problems = docs.check_site(tmp_path, nbs + [Path('c.ipynb')])
    assert any('no page for c.ipynb' in p for p in problems)
    assert any('broken link c.html' in p for p in problems)
    assert any('names an anchor its page lacks' in p for p in problems)
    assert any('from the network' in p for p in problems)
    assert any('_images/no.png is missing' in p for p in problems)
    assert len(problems) == 6, problems              # ... and the link to a.html#there, now missing, from a.html

def test_linkify_points_code_names_at_their_api_entry(tmp_path):
    code = '<code class="docutils literal notranslate"><span class="pre">{}</span></code>'
    (tmp_path/'00_core.html').write_text(page('<span id="api-budget"></span><p class="rubric">budget</p>'))
    (tmp_path/'02_x.html').write_text(page(f'<p>{code.format("budget(name)")} and {code.format("other")} and '
                                           f'{code.format("ganlab.core")}</p><pre>{code.format("budget")}</pre>'))
    n = docs.linkify(tmp_path, {'ganlab.core': '00_core.html'})
    html = (tmp_path/'02_x.html').read_text()
    assert n == 2 and '<a class="reference internal api-link" href="00_core.html#api-budget">' in html
    assert 'href="00_core.html"' in html and html.count('<a ') == 2          # nothing linked inside <pre>
    assert docs.check_site(tmp_path, []) == []

def test_widget_snapshot_shows_the_widgets_last_state():
    W = pytest.importorskip('ipywidgets')
    import io
    from PIL import Image
    buf = io.BytesIO(); Image.new('RGB', (40, 20), 'navy').save(buf, 'png')
    s, img, b = W.IntSlider(3, 0, 9, description='step'), W.Image(value=buf.getvalue(), format='png'), W.Button(description='stop')
    box = W.VBox([W.HBox([s, b]), img])
    s.value = 7
    state = W.Widget.get_manager_state(drop_defaults=False)['state']
    snap = docs._widget_html(box.model_id, state)
    assert 'type="range"' in snap and 'value="7"' in snap and '<span class="w-desc">step</span>' in snap
    assert '<button class="w-button" disabled>stop</button>' in snap
    assert 'src="data:image/png;base64,iVBORw0KGgo' in snap and 'width="120"' in snap   # a tiny picture, shown 3x
    assert docs._widget_html('no-such-model', state) == ''
    for w in (s, img, b, box): w.close()

def test_executed_copy_goes_stale_when_its_source_changes(tmp_path):
    src = tmp_path/'00_x.ipynb'
    src.write_text(json.dumps({'cells': [], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}))
    out = tmp_path/'executed'; out.mkdir()
    assert run_chapters.stale([src], out) == [src]                       # never run
    (out/src.name).write_text(src.read_text())
    man = {src.name: dict(source=run_chapters.file_hash(src), library=run_chapters.library_hash())}
    (out/'manifest.json').write_text(json.dumps(man))
    assert run_chapters.stale([src], out) == []                          # run, and nothing changed since
    src.write_text(src.read_text().replace('"cells": []', '"cells": [ ]'))
    assert run_chapters.stale([src], out) == [src]                       # the chapter changed
    man[src.name] = dict(source=run_chapters.file_hash(src), library='an older library')
    (out/'manifest.json').write_text(json.dumps(man))
    assert run_chapters.stale([src], out) == [src]                       # the library it ran against changed

def _cell(src, outputs=None, kind='code'):
    c = {'cell_type': kind, 'id': f'{abs(hash(src)) % 16**8:08x}', 'metadata': {}, 'source': src}
    if kind == 'code': c.update(execution_count=None, outputs=outputs or [])
    return c

def test_a_chapter_becomes_a_page(tmp_path):
    "nbdev's directives as the site shows them: hidden cells go, API entries follow exports, skipped cells are marked."
    png = {'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': 'iVBORw0KGgo=', 'text/plain': '<Figure>'}}
    text = {'output_type': 'stream', 'name': 'stdout', 'text': 'shown\n'}
    nb = {'cells': [_cell('#| default_exp core'), _cell('# Core\n\n> A summary', kind='markdown'),
                    _cell('#| export\ndef seed_everything(seed=0): pass'),
                    _cell('#| hide\nsecret = 1'),
                    _cell('#| echo: false\nprint("shown")', [text]),
                    _cell('#| gpu\ntrain_big()'),
                    _cell('#| fig-cap: "Loss against step"\nplot()', [png])],
          'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    (tmp_path/'00_core.ipynb').write_text(json.dumps(nb))
    out, mod = docs.process(tmp_path/'00_core.ipynb')
    assert mod == 'core'
    srcs = [c.source for c in out.cells]
    assert not any('secret' in s for s in srcs) and not any('#|' in s for s in srcs)
    i = srcs.index('def seed_everything(seed=0): pass')
    assert out.cells[i].metadata['tags'] == ['exported']
    api = out.cells[i + 1]
    assert api.metadata['tags'] == ['api', 'remove-input']
    md = api.outputs[0]['data']['text/markdown']
    assert '<span id="api-seed_everything"></span>' in md and '### seed_everything' in md and 'def seed_everything(' in md
    assert 'remove-input' in out.cells[srcs.index('print("shown")')].metadata['tags']
    assert out.cells[srcs.index('train_big()')].metadata['tags'] == ['skipped', 'skipped-gpu']
    fig = out.cells[srcs.index('plot()')].metadata['mystnb']
    assert fig['figure'] == {'caption': 'Loss against step'} and fig['image'] == {'alt': 'Loss against step'}
