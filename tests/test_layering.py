"""The layering rule: a module imports only modules of notebooks that come earlier in the course, never later ones
(not even lazily inside a function), and there is no import cycle. The model registry reaches later chapters through
entry points, not imports, so it needs no exception here."""
import ast, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB, NBS = ROOT / 'ganlab', ROOT / 'nbs'

def module_order() -> dict[str, int]:
    "Each exported module → the position of the notebook that exports it (notebooks in file-name order)."
    order = {}
    for i, nb in enumerate(sorted(NBS.glob('*.ipynb'))):
        for c in json.loads(nb.read_text())['cells']:
            m = re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(c['source']), re.M)
            if c['cell_type'] == 'code' and m: order[m[1]] = i
    return order

def ganlab_imports(path: Path) -> set[str]:
    "Every ganlab module `path` imports, at any depth (top level, inside functions, importlib string literals)."
    tree, found = ast.parse(path.read_text()), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1: base = node.module or ''
            elif node.module and node.module.split('.')[0] == 'ganlab': base = node.module[len('ganlab.'):] if '.' in node.module else ''
            else: continue
            if base: found.add(base.split('.')[0])
            else: found |= {a.name for a in node.names}     # `from . import x` / `from ganlab import x`
        elif isinstance(node, ast.Import):
            found |= {a.name.split('.')[1] for a in node.names if a.name.startswith('ganlab.')}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r'ganlab\.\w+', node.value):
            found.add(node.value.split('.')[1])
    return found

def import_graph() -> dict[str, set[str]]:
    order = module_order()
    return {p.stem: {m for m in ganlab_imports(p) if m in order and m != p.stem}
            for p in LIB.glob('*.py') if p.stem in order}

def test_every_module_comes_from_a_notebook():
    order = module_order()
    stray = [p.stem for p in LIB.glob('*.py') if p.stem not in order and p.stem not in ('__init__', '_modidx')]
    assert not stray, f"modules without a notebook: {stray}"

def test_no_upward_import():
    order, graph = module_order(), import_graph()
    upward = [f"{m} imports {d}" for m, deps in graph.items() for d in deps if order[d] > order[m]]
    assert not upward, "imports of later chapters: " + '; '.join(upward)

def test_no_import_cycle():
    graph, state, cycles = import_graph(), {}, []
    def visit(m, path):
        state[m] = 'open'
        for d in graph[m]:
            if state.get(d) == 'open': cycles.append(' → '.join(path + [d]))
            elif d not in state: visit(d, path + [d])
        state[m] = 'done'
    for m in graph:
        if m not in state: visit(m, [m])
    assert not cycles, f"import cycles: {cycles}"

def test_the_checks_can_fail(tmp_path):
    "The import scanner sees lazy imports and importlib strings, so an upward import cannot hide in a function."
    p = tmp_path / 'm.py'
    p.write_text("def f():\n    from ganlab.metrics import fid\n    import importlib; importlib.import_module('ganlab.wgan')\n"
                 "from .core import budget\nfrom . import data\n")
    assert ganlab_imports(p) == {'metrics', 'wgan', 'core', 'data'}
