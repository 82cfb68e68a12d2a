"""Write README.md from nbs/index.ipynb, without Quarto.

    python tools/readme.py          # write README.md
    python tools/readme.py --check  # exit 1 if README.md is not what index.ipynb gives

nbdev's own `nbdev-readme` needs Quarto, which the project's machines cannot install. This renders the
home page the simple way: markdown cells as they are, code cells (except `#| hide` ones) as Python blocks
followed by their text output.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = '<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, then `make export`. -->\n\n'

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _out(cell):
    "The text of a code cell's outputs"
    texts = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream': texts.append(''.join(o['text']))
        elif 'data' in o and 'text/plain' in o['data']:
            t = o['data']['text/plain']; texts.append(''.join(t) if isinstance(t, list) else t)
    return '\n'.join(t.rstrip('\n') for t in texts)

def render(nb_path: Path) -> str:
    "README text for the notebook at `nb_path`"
    nb, parts = json.loads(nb_path.read_text(encoding='utf-8')), []
    for cell in nb['cells']:
        src = _src(cell).strip('\n')
        if cell['cell_type'] == 'markdown': parts.append(src)
        elif cell['cell_type'] == 'code':
            lines = src.splitlines()
            if any(l.strip().replace(' ', '') == '#|hide' for l in lines): continue
            code = '\n'.join(l for l in lines if not l.lstrip().startswith('#|')).strip('\n')
            parts.append(f'```python\n{code}\n```')
            out = _out(cell)
            if out: parts.append(f'```\n{out}\n```')
    return HEADER + '\n\n'.join(parts) + '\n'

def main(argv):
    text, readme = render(ROOT/'nbs'/'index.ipynb'), ROOT/'README.md'
    if '--check' in argv:
        if readme.exists() and readme.read_text(encoding='utf-8') == text: return print('ok: README.md matches nbs/index.ipynb')
        sys.exit('README.md is out of step with nbs/index.ipynb: run `make export` (or python tools/readme.py) and commit it.')
    readme.write_text(text, encoding='utf-8')
    print(f'wrote {readme.relative_to(ROOT)}')

if __name__ == '__main__': main(sys.argv[1:])
