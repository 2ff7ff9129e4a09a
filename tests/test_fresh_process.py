"""Every public plotting and display function works outside its chapter: from a fresh process, and in a fresh kernel.

A chapter's non-exported cells can hide a missing import (a figure function that uses `plt` only because a test
cell imported it). Here each module is imported alone in a new interpreter, with the Agg backend, and each of its
plotting functions must produce a figure that renders to PNG. The widgets are then built in a new Jupyter kernel,
as a student would build them, and what the kernel sends to the front end is checked: a widget view whose image
children hold PNG bytes, and never the text `<Figure size ...>` that a bare matplotlib figure shows in a kernel
where pyplot's inline backend is not set up.
"""
import base64, os, subprocess, sys, textwrap

import pytest

PRELUDE = textwrap.dedent('''
    import io, sys
    from pathlib import Path
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    import torch
    from PIL import Image
    from ganlab.core import figure_png

    def png(b):
        "Assert `b` is a complete PNG image."
        assert isinstance(b, bytes) and b[:8] == b'\\x89PNG\\r\\n\\x1a\\n', b[:16]
        Image.open(io.BytesIO(b)).verify()

    def drew(fig):
        "Assert that something was drawn on `fig` and that it renders to PNG."
        assert fig.axes and any(a.has_data() or a.images or a.texts for a in fig.axes), 'nothing drawn'
        png(figure_png(fig))

    tmp = Path.cwd()
    torch.manual_seed(0)
    x, pts, centers = torch.rand(8, 3, 8, 8) * 2 - 1, torch.randn(50, 2), torch.zeros(1, 2)
''')

SNIPPETS = {
    'core': '''
        from ganlab import core
        drew(core.show_images(x).figure)
        drew(core.show_points(pts, centers, lim=core.points_limits(centers)).figure)
        drew(core.show_samples(x).figure); drew(core.show_samples(pts, centers=centers).figure)
        drew(core.plot_history([dict(step=1, loss_d=1.0), dict(step=2, loss_d=0.5)]).figure)
        png(core.images_png(x)); png(core.figure_png(Figure()))
        png(core.save_images(x, tmp / 'a.png').read_bytes())
        png(core.save_samples(pts, tmp / 'b.png', centers).read_bytes()); png(core.save_samples(x, tmp / 'c.png').read_bytes())
        png(core.save_figure(core.show_points(pts).figure, tmp / 'd.png').read_bytes())
    ''',
    'data': '''
        from ganlab.data import dataset_html, show_dataset
        n = len(plt.get_fignums())
        assert 'data:image/png;base64,iVBORw0KGgo' in dataset_html('ring8')
        show_dataset('digits', resolution=16)                  # outside IPython `display` prints; it must not raise
        assert len(plt.get_fignums()) == n, 'a figure was left open'
    ''',
    'diagnostics': '''
        from ganlab import diagnostics as dg
        drew(dg.show_closest_pairs(x, k=3).figure)
        drew(dg.show_histogram(torch.tensor([1., 0, 3])).figure); drew(dg.show_histogram(None).figure)
        assert 'ipywidgets' not in sys.modules, 'the measures must not need widgets'
    ''',
    'sagan': '''
        from ganlab.sagan import SAGANGenerator, attention_maps, show_attention
        imgs, maps = attention_maps(SAGANGenerator(16, nz=8, width=8, attn_res=8), n=2)
        drew(show_attention(imgs, maps, 1, 3, 4).figure)
    ''',
    'widgets': '''
        from ganlab import widgets as wd
        view = wd.FigureView()
        for fig in (wd.snapshot_figure(pts, torch.tensor([3., 0]), 'step 1', centers), wd.snapshot_figure(x, None),
                    wd.path_figure(pts[:8], centers), wd.neighbours_figure(x[:1], x[1:4], torch.ones(3)),
                    wd.neighbours_figure(pts[:1], pts[1:4], torch.ones(3)),
                    wd.LivePlots().update([dict(step=1, loss_d=1.0, loss_g=2.0)], torch.tensor([1., 2.])),
                    wd.LiveSamples(centers).update(pts, 'step 1')):
            drew(fig); png(bytes(view.show(fig).value))      # an Image widget keeps its value as a memoryview
        png(bytes(view.show_images(x).value))
        assert plt.get_fignums() == [], 'the widgets made pyplot figures'
    ''',
}


@pytest.mark.parametrize('name', list(SNIPPETS))
def test_plotting_functions_from_a_fresh_process(name, tmp_path):
    code = PRELUDE + textwrap.dedent(SNIPPETS[name])
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'MPLBACKEND': 'Agg'})
    assert 'NameError' not in r.stderr, r.stderr
    assert r.returncode == 0, r.stderr


def test_budgets_are_registered_by_their_modules():
    "A budget a module uses is registered when the module is imported, not by a chapter's test cell."
    code = ("from ganlab.core import budget; import ganlab.diagnostics\n"
            "b = budget('collapse-experiment', quick=True); assert (b.steps, b.batch_size) == (750, 128), b\n"
            "assert budget('collapse-experiment', quick=False).steps == 10_000\n"
            "assert budget('ring-converged', quick=True).steps == 2000   # borrowed from ganlab.wgan")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


# ---- the widgets in a fresh Jupyter kernel -------------------------------------------------------------------

KERNEL_CELLS = {
    'AttentionExplorer': '''
        import torch
        from ganlab.sagan import SAGANGenerator
        from ganlab.widgets import AttentionExplorer
        torch.manual_seed(0)
        AttentionExplorer(SAGANGenerator(16, nz=8, width=8, attn_res=8), n=2)''',
    'Dashboard': '''
        from ganlab.data import get_dataset
        from ganlab.train import Trainer, SampleGrid, DataSpec, build_model
        from ganlab.widgets import Dashboard
        grid = get_dataset('grid25')
        trainer = Trainer.from_recipe(build_model('dcgan', DataSpec.of(grid)), grid, callbacks=[SampleGrid(every=5, n=64)],
                                      device='cpu', steps=10, batch_size=64, log_every=5)
        dash = Dashboard(every=0.0)
        dash.run(trainer)
        dash''',
    'Explorer': '''
        from ganlab.widgets import Explorer
        Explorer.from_trainer(trainer, n=64)''',
}
WIDGET_VIEW, WIDGET_STATE = 'application/vnd.jupyter.widget-view+json', 'application/vnd.jupyter.widget-state+json'


def _images_under(model_id: str, state: dict) -> list[bytes]:
    "The PNG values of every image widget below `model_id` in a saved widget state."
    model = state[model_id]
    found = []
    if model['model_name'] == 'ImageModel':
        found += [base64.b64decode(b['data']) for b in model.get('buffers', []) if b['path'] == ['value']]
    for child in model['state'].get('children', []):
        found += _images_under(child.removeprefix('IPY_MODEL_'), state)
    return found


def _texts(outputs: list) -> list[str]:
    return [''.join(o['data']['text/plain']) for o in outputs if 'text/plain' in o.get('data', {})]


def test_widgets_show_png_in_a_fresh_kernel(tmp_path):
    nbformat = pytest.importorskip('nbformat')
    nbclient = pytest.importorskip('nbclient')
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(src).strip()) for src in KERNEL_CELLS.values()]
    nbclient.NotebookClient(nb, timeout=300, kernel_name='python3', store_widget_state=True,
                            resources={'metadata': {'path': str(tmp_path)}}).execute()
    state = nb.metadata['widgets'][WIDGET_STATE]['state']
    for name, cell in zip(KERNEL_CELLS, nb.cells):
        shown = [o for o in cell.outputs if WIDGET_VIEW in o.get('data', {})]
        assert len(shown) == 1, (name, cell.outputs)
        pngs = _images_under(shown[0]['data'][WIDGET_VIEW]['model_id'], state)
        assert pngs and all(p[:4] == b'\x89PNG' for p in pngs), (name, [p[:8] for p in pngs])
        assert not [t for t in _texts(cell.outputs) if t.startswith('<Figure')], (name, _texts(cell.outputs))
    outputs_in_widgets = [o for m in state.values() if m['model_name'] == 'OutputModel' for o in m['state'].get('outputs', [])]
    assert not [t for t in _texts(outputs_in_widgets) if t.startswith('<Figure')]
