"""The documentation: every public name documented, the API pages current, and the offline preview built and checked:
one page per notebook, no broken internal link or anchor, every exported name on its API page, figures and widget
state present, and (in Debian's chromium) the home page and a chapter render with no error in the console."""
import base64, html, importlib, importlib.util, inspect, json, re, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin

import pytest
from fastcore.docments import docments


ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'

def _tool(name):
    spec = importlib.util.spec_from_file_location(f'tools_{name}', ROOT/'tools'/f'{name}.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod); return mod

preview_tool, api_tool, run_nbs = _tool('preview'), _tool('api_pages'), _tool('run_nbs')
VIEW, STATE = run_nbs.VIEW, run_nbs.STATE
PUBLIC = [(m, n) for m in api_tool.modules() for n in m.__all__]
NOTEBOOKS = sorted(str(p.relative_to(NBS)) for p in NBS.rglob('*.ipynb') if not any(q.startswith(('.', '_')) for q in p.relative_to(NBS).parts))

# ---------------------------------------------------------------- docstrings and API pages (no build needed)

def _undocumented(qual:str, f)->list[str]:
    "What `f` lacks: a one-line docstring of its own, a comment for each parameter."
    doc = (vars(f).get('__doc__') if inspect.isclass(f) else f.__doc__) or ''   # a class's own, not one inherited
    if inspect.isclass(f) and doc.startswith(f'{f.__name__}('): doc = ''       # what @dataclass writes when there is none
    probs = [] if doc.strip() else [f'{qual}: no docstring']
    if '\n' in doc.strip(): probs.append(f'{qual}: the docstring is not one line')
    try: sig = inspect.signature(f)
    except (TypeError, ValueError): return probs
    fields = getattr(f, '__pydantic_fields__', None) if inspect.isclass(f) else None   # a pydantic model: its fields' descriptions (/docs shows them)
    documented = {n: x.description for n, x in fields.items()} if fields else docments(f)
    for n, p in sig.parameters.items():
        if n in ('self', 'cls') or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD): continue
        if not documented.get(n): probs.append(f'{qual}: parameter `{n}` has no comment')
    return probs

def test_every_public_name_is_documented():
    probs = []
    for m, name in PUBLIC:
        o, qual = getattr(m, name), f'{m.__name__}.{name}'
        if inspect.isclass(o):
            probs += _undocumented(qual, o)
            for meth in api_tool.public_methods(o):
                v = inspect.getattr_static(o, meth)
                if isinstance(v, property): probs += [] if (v.__doc__ or '').strip() else [f'{qual}.{meth}: no docstring']
                else: probs += _undocumented(f'{qual}.{meth}', getattr(v, '__func__', v))
        elif callable(o): probs += _undocumented(qual, o)
        elif not api_tool.constant_doc(m, name)[0]: probs.append(f'{qual}: constant without a comment')
    assert not probs, '\n'.join(probs)
    assert len(PUBLIC) > 100

def test_undocumented_names_are_caught():
    def f(a:int, b=2):
        return a   # no docstring; `a` and `b` have no comments
    def g(a:int, # the a
         ): "Documented."
    def h():
        """Two
        lines."""
    class Base:
        "Documented."
    class Child(Base): pass
    assert len(_undocumented('f', f)) == 3 and _undocumented('g', g) == []
    assert _undocumented('h', h) == ['h: the docstring is not one line'] and _undocumented('Child', Child) == ['Child: no docstring']
    from pydantic import BaseModel, Field
    class Request(BaseModel):
        "Documented."
        text: str = Field(description='the text')
        n: int = 1
    assert _undocumented('Request', Request) == ['Request: parameter `n` has no comment']

def test_api_pages_are_current():
    assert api_tool.main(['--check']) == 0, 'run `make export` (tools/api_pages.py) and commit nbs/api/'

def test_sidebar_lists_every_notebook_once():
    listed = [nb for _, nb in preview_tool.book()]
    assert sorted(listed) == NOTEBOOKS and len(set(listed)) == len(listed)
    assert {s for s, _ in preview_tool.book()} == {'', 'Theory', 'Library chapters', 'Tutorials', 'Appendix', 'API'}

def test_saved_widget_state_matches_the_outputs():
    "Every widget a notebook's outputs show has its state saved, so static pages draw it (tools/run_nbs.py)."
    shown_somewhere = 0
    for rel in NOTEBOOKS:
        nb = json.loads((NBS/rel).read_text(encoding='utf-8'))
        shown = [o['data'][VIEW]['model_id'] for c in nb['cells'] for o in c.get('outputs', []) if VIEW in o.get('data', {})]
        state = nb['metadata'].get('widgets', {}).get(STATE, {}).get('state', {})
        missing = [i for i in shown if i not in state]
        assert not missing, f'{rel}: widgets {missing} have no saved state: python tools/run_nbs.py nbs/{rel}'
        shown_somewhere += len(shown)
    assert shown_somewhere >= 8

def test_widget_state_keeps_the_shown_widgets_and_what_they_reference():
    import ipywidgets as W
    box = W.VBox([W.IntSlider(3), W.HTML('<b>hi</b>')]); other = W.Text('not shown')
    nb = {'cells': [{'cell_type': 'code', 'outputs': [{'output_type': 'display_data', 'data': {VIEW: {'model_id': box.model_id}}}]}]}
    state = run_nbs.widget_state(nb)[STATE]['state']
    kids = {c.model_id for c in box.children} | {box.layout.model_id, box.children[0].style.model_id}
    assert box.model_id in state and kids <= set(state) and other.model_id not in state
    assert state[box.children[0].model_id]['state']['value'] == 3
    assert run_nbs.widget_state({'cells': []}) is None

# ---------------------------------------------------------------- the offline preview

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    if shutil.which('npm') is None and not (ROOT/'.vendor'/'npm').exists():
        pytest.skip('npm is not installed: the preview vendors its page scripts from the npm registry')
    out = tmp_path_factory.mktemp('preview')/'site'
    info = preview_tool.build(out, quiet=True)
    return out, info

def _pages(out:Path)->dict[str, str]:
    return {str(p.relative_to(out)): p.read_text(encoding='utf-8') for p in out.rglob('*.html')}

def test_one_page_per_notebook(site):
    out, info = site
    assert sorted(e['nb'] for e in info['pages']) == NOTEBOOKS
    pages = _pages(out)
    assert sorted(pages) == sorted(e['page'] for e in info['pages'])
    for e in info['pages']:
        page = pages[e['page']]
        assert f'<h1 class="ftb-title">' in page and 'class="jp-Cell' in page, e['page']
        assert 'ftb-current' in page and 'ftb-nav' in page                 # the book's navigation, this page marked
    assert info['pages'][0]['page'] == 'index.html'

_URL = re.compile(r'\b(href|src)="([^"]*)"')

def test_no_broken_internal_links(site):
    out, _ = site
    pages = _pages(out)
    ids = {p: set(re.findall(r'\bid="([^"]+)"', t)) for p, t in pages.items()}
    broken, checked = [], 0
    for p, text in pages.items():
        for attr, url in _URL.findall(text):
            url = html.unescape(url)
            if re.match(r'^(https?|data|mailto|javascript):', url) or url.startswith('//'): continue
            if url.startswith('https://ftbook.github.io'): broken.append(f'{p}: {url} points at the published site'); continue
            target, frag = urldefrag(url)
            dest = (out/p).parent/unquote(target) if target else out/p
            rel = str(dest.resolve().relative_to(out.resolve())) if dest.resolve().is_relative_to(out.resolve()) else None
            checked += 1
            if rel is None or not dest.exists(): broken.append(f'{p}: {url} (no such file)')
            elif frag and rel.endswith('.html') and unquote(frag) not in ids[rel]: broken.append(f'{p}: {url} (no such anchor)')
    assert not broken, f'{len(broken)} broken links:\n' + '\n'.join(broken[:40])
    assert checked > 500

def test_every_public_name_has_its_anchor(site):
    "nbdev's convention: a function, class or method is documented by a show_doc in its chapter; a constant on the API index."
    out, info = site
    page_of = {e['nb']: e['page'] for e in info['pages']}
    ids = {p: set(re.findall(r'\bid="([^"]+)"', (out/p).read_text(encoding='utf-8'))) for p in set(page_of.values())}
    missing = []
    for m, name in PUBLIC:
        o = getattr(m, name)
        page = page_of[api_tool.source_notebook(m)] if inspect.isclass(o) or inspect.isfunction(o) else page_of['api/index.ipynb']
        wanted = [name] + ([f'{name}.{k}' for k in api_tool.public_methods(o, m)] if inspect.isclass(o) else [])
        missing += [f'{page}: {w}' for w in wanted if preview_tool.pandoc_id(w) not in ids[page]]
    assert not missing, missing
    index = (out/page_of['api/index.ipynb']).read_text(encoding='utf-8')
    assert index.count('href="../') >= len(PUBLIC) // 2                  # the index links into the chapters
    text = html.unescape(re.sub(r'<[^>]+>', '', (out/page_of['02_data.ipynb']).read_text(encoding='utf-8')))
    assert 'a CoNLL-style file' in text                                  # the parameter comments, from show_doc

def _image_outputs(nb:dict)->int:
    return sum('image/png' in o.get('data', {}) for c in nb['cells'] for o in c.get('outputs', []))

def test_images_present(site):
    out, info = site
    with_figures = 0
    for e in info['pages']:
        page = (out/e['page']).read_text(encoding='utf-8')
        pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
        for b in pngs: assert base64.b64decode(b)[:8] == b'\x89PNG\r\n\x1a\n'
        want = _image_outputs(json.loads((NBS/e['nb']).read_text(encoding='utf-8')))
        assert len(pngs) >= want, f"{e['page']}: {len(pngs)} images, the notebook has {want}"
        for img in re.findall(r'<img [^>]*>', page):   # every figure says what it shows (`#| fig-alt:` on its cell)
            alt = re.search(r'\balt="([^"]*)"', img)
            assert alt and len(alt.group(1)) > 20 and 'No description' not in alt.group(1), f"{e['page']}: {img[:120]}"
        with_figures += want > 0
    assert with_figures >= 5

def test_widget_state_and_local_scripts(site):
    out, _ = site
    page = (out/'theory.html').read_text(encoding='utf-8')
    state = json.loads(re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', page, re.S).group(1))
    views = re.findall(r'<script type="application/vnd.jupyter.widget-view\+json">(.*?)</script>', page, re.S)
    assert views and all(json.loads(v)['model_id'] in state['state'] for v in views)
    for p, text in _pages(out).items():
        assert not re.search(r'(src|href)="https?://(cdn|unpkg|cdnjs)', text), f'{p} loads from a CDN'
    for f in ['require.js', 'widgets/embed-amd.js', 'katex/katex.min.js', 'mermaid.min.js', 'search.js']: assert (out/'_static'/f).stat().st_size > 1000

def test_directives_honoured(site):
    "Hidden cells stay hidden; `echo: false` cells show their output only; exported code is not repeated."
    out, _ = site
    text = (out/'data.html').read_text(encoding='utf-8')
    code = [html.unescape(re.sub(r'<[^>]+>', '', c)) for c in re.findall(r'<pre>(.*?)</pre>', text, re.S)]
    assert len(code) > 20
    assert not [c for c in code if 'from fastcore.test import' in c or c.lstrip().startswith('#|') or 'nbdev_export' in c]
    assert any(c.startswith('def read_conll(') for c in code)                     # show_doc's signature...
    assert not any(c.startswith('@dataclass\nclass TaggedSentence') for c in code)  # ...not the exported cell
    assert '<pre class="mermaid">' in text

# ---------------------------------------------------------------- in a browser

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
try: from playwright.sync_api import sync_playwright
except ImportError: sync_playwright = None

@pytest.mark.skipif(CHROMIUM is None, reason='no chromium on PATH (apt-get install chromium)')
@pytest.mark.skipif(sync_playwright is None, reason='playwright is not installed (pip install playwright)')
def test_preview_in_chromium(site, tmp_path):
    out, _ = site
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, '-m', 'http.server', '-b', '127.0.0.1', '-d', str(out), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f'http://127.0.0.1:{port}'
    try:
        for _ in range(50):
            try: urllib.request.urlopen(url, timeout=1); break
            except Exception: time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--no-first-run',
                                        '--disable-background-networking', '--disable-component-update', '--disable-sync'])
            for name, ready in [('index.html', '.ftb-nav'), ('theory.html', '.widget-slider'), ('data.html', 'pre.mermaid svg')]:
                page = browser.new_page(viewport={'width': 1400, 'height': 1000})
                errors, outside = [], []
                page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
                page.on('pageerror', lambda e: errors.append(str(e)))
                page.on('request', lambda r: outside.append(r.url) if not r.url.startswith((url, 'data:', 'blob:')) else None)
                page.goto(f'{url}/{name}')
                page.wait_for_selector(ready, timeout=30_000)
                page.wait_for_load_state('networkidle')
                if name == 'theory.html':
                    assert page.locator('.katex').count() > 20                       # the maths, rendered
                    assert page.locator('.jupyter-widgets .widget-dropdown').count() >= 2
                page.screenshot(path=str(tmp_path/f"{name.replace('.html', '')}.png"))
                assert not errors, f'{name}: console errors {errors}'
                assert not outside, f'{name}: requests outside the preview {outside}'
                assert (tmp_path/f"{name.replace('.html', '')}.png").stat().st_size > 20_000
                page.close()
            # the search box finds a section of another page
            page = browser.new_page(); page.goto(f'{url}/index.html')
            page.fill('#ftb-search', 'LengthGroupedSampler padding')
            page.wait_for_selector('#ftb-results a', timeout=5_000)
            first = page.locator('#ftb-results a').first
            href = first.get_attribute('href')
            first.click(); page.wait_for_load_state()
            assert page.url == urljoin(f'{url}/index.html', href) and 'LengthGroupedSampler' in page.inner_text('main')
            browser.close()
    finally:
        server.terminate(); server.wait(10)

@pytest.mark.skipif(shutil.which('make') is None, reason='no make')
def test_make_docs_without_quarto_builds_the_preview_and_says_so():
    import os
    path = os.pathsep.join(d for d in os.environ['PATH'].split(os.pathsep) if not (Path(d)/'quarto').exists())
    r = subprocess.run(['make', '-s', 'docs'], cwd=ROOT, env={**os.environ, 'PATH': path}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert 'quarto is not on PATH: building the offline preview into _preview/' in r.stdout
    assert re.search(rf'offline preview \(no Quarto\): {len(NOTEBOOKS)} pages in ', r.stdout)
    assert (ROOT/'_preview'/'index.html').exists()
