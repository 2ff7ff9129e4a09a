#!/usr/bin/env python3
"""Generate README.md from nbs/index.ipynb (or check that it is up to date with --check).

nbdev's own `nbdev-readme` renders through Quarto; this does the same job for the README with no Quarto:
markdown cells are copied, code cells become fenced Python blocks, cells marked `#| hide` are left out,
and `#|` directive lines are dropped.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = '<!-- Generated from nbs/index.ipynb by tools/readme.py; edit the notebook, not this file. -->\n\n'

def _directives(src: str) -> set[str]:
    return {l[3:].strip().split()[0] for l in src.splitlines() if l.startswith('#| ') and l[3:].strip()}

def render(nb_path: Path) -> str:
    "README text from the notebook at `nb_path`."
    parts = []
    for cell in json.loads(nb_path.read_text(encoding='utf-8'))['cells']:
        src = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown': parts.append(src.strip())
        elif cell['cell_type'] == 'code':
            if 'hide' in _directives(src) or 'exporti' in _directives(src): continue
            code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
            if code: parts.append(f'```python\n{code}\n```')
    return HEADER + '\n\n'.join(p for p in parts if p) + '\n'

def main(argv):
    text, readme = render(ROOT/'nbs'/'index.ipynb'), ROOT/'README.md'
    if '--check' in argv:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            print('README.md differs from nbs/index.ipynb; run `python tools/readme.py` and commit the result.')
            return 1
        return 0
    readme.write_text(text, encoding='utf-8')
    return 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
