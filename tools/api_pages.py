"""Write the API index `nbs/api/index.ipynb` from the package: every public name of every module, linked to
its documentation in its chapter (nbdev's convention: the chapters' `show_doc` output is the reference), and
the module constants, which have no `show_doc`, with their comment and source on the index itself.

    python tools/api_pages.py          # (re)write nbs/api/index.ipynb (and remove any other page there)
    python tools/api_pages.py --check  # exit 1 if nbs/api/ is not what the package gives

Generated, so that a name can never be missing; checked in, so that `nbdev-docs` and `nbdev-preview` render it
on a machine that has Quarto without running anything of ours first. tests/test_docs.py checks that every link
reaches its anchor."""
import dataclasses, ast, hashlib, importlib, inspect, json, pkgutil, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT/'nbs'/'api'
_SRC_NB = re.compile(r'File to edit: \.\./nbs/(\S+\.ipynb)')

def _cell_id(*parts): return hashlib.sha1('/'.join(parts).encode()).hexdigest()[:8]
def _md(text, *key): return dict(cell_type='markdown', id=_cell_id('md', *key), metadata={}, source=text)

def modules()->list:
    "The package's modules that export names, in the book's order (the number of the notebook each comes from)."
    import ftbook
    mods = [importlib.import_module(f'ftbook.{m.name}') for m in pkgutil.iter_modules(ftbook.__path__) if not m.name.startswith('_')]
    mods = [m for m in mods if getattr(m, '__all__', None)]
    return sorted(mods, key=lambda m: source_notebook(m))

def source_notebook(mod)->str:
    "The notebook (relative to nbs/) that `mod` is exported from."
    return _SRC_NB.search(Path(mod.__file__).read_text(encoding='utf-8')).group(1)

def public_methods(cls, mod=None)->list[str]:
    """Names of the public functions, class/static methods and properties `cls` itself defines, in source order;
    those patched in from functions that `mod` exports (documented there) are left out."""
    out, fields = [], {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    for k, v in vars(cls).items():
        if k.startswith('_') or k in fields: continue     # a dataclass field whose default is a function is not a method
        if mod is not None and k in getattr(mod, '__all__', ()) and getattr(v, '__func__', v) is getattr(mod, k): continue
        if isinstance(v, (staticmethod, classmethod)): v = v.__func__
        if inspect.isfunction(v) or isinstance(v, property): out.append(k)
    return out

def constant_doc(mod, name:str)->tuple[str, str]:
    "The comment that documents module constant `name` (on its first line, the lines above, or its last line) and its source."
    src = Path(mod.__file__).read_text(encoding='utf-8'); lines = src.splitlines()
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.Assign) and any(getattr(t, 'id', None) == name for t in n.targets))
    code = '\n'.join(lines[node.lineno - 1:node.end_lineno])
    def comment(line):
        m = re.search(r'#\s*(.+)$', line)
        return m.group(1).strip() if m and not m.group(0).startswith('#|') else ''
    doc = comment(lines[node.lineno - 1])
    if not doc:
        above, i = [], node.lineno - 2
        while i >= 0 and lines[i].lstrip().startswith('#') and not lines[i].startswith('# %%'): above.insert(0, lines[i].lstrip('# ').strip()); i -= 1
        doc = ' '.join(above)
    if not doc: doc = comment(lines[node.end_lineno - 1])
    return doc, code

def _title(nb_rel:str)->str:
    "The first heading of a notebook."
    nb = json.loads((ROOT/'nbs'/nb_rel).read_text(encoding='utf-8'))
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^# (.+)$', ''.join(c['source']), re.M)
            if m: return m.group(1).strip()
    return nb_rel

def _anchor(name:str)->str:
    "The id Quarto (and the offline preview) give the heading of `show_doc(name)`, or of `### name`."
    return re.sub(r'[^\w.\-]+', '', name.lower())

def index_page(mods)->dict:
    "The API index: each module with its chapter, every public name linked to its chapter's anchor; constants in full."
    rows, consts = [], []
    for m in mods:
        nb_rel, short = source_notebook(m), m.__name__.split('.', 1)[1]
        summary = (m.__doc__ or '').split('\n\n')[0].strip().split('. ')[0].rstrip('.')
        links = []
        for s in m.__all__:
            o = getattr(m, s)
            if inspect.isclass(o) or inspect.isfunction(o):
                # plain link text: nbdev would turn a `name` in backticks into a second link
                links.append(f'[{s}](../{nb_rel}#{_anchor(s)})')
                if inspect.isclass(o): links += [f'[{s}.{k}](../{nb_rel}#{_anchor(f"{s}.{k}")})' for k in public_methods(o, m)]
            else:
                links.append(f'[{s}](#{_anchor(s)})')
                doc, code = constant_doc(m, s)
                consts.append(f'### {s}\n\n`{m.__name__}`: *{doc}*\n\n```python\n{code}\n```')
        rows.append(f'## {m.__name__}\n\n{summary}. Chapter: [{_title(nb_rel)}](../{nb_rel}).\n\n' + ', '.join(links))
    text = ('# API reference\n\n> Every public name of the `ftbook` package, module by module, linked to where its chapter '
            'documents it (signature, docstring, parameters) beside worked examples.')
    cells = [_md(text, 'api-index'), _md('\n\n'.join(rows), 'api-index', 'modules'),
             _md('## Constants\n\nModule-level values, with the comment that documents them and their source.\n\n' + '\n\n'.join(consts),
                 'api-index', 'constants')]
    return dict(cells=cells, metadata=dict(kernelspec=dict(display_name='python3', language='python', name='python3')),
                nbformat=4, nbformat_minor=5)

def render()->dict[Path, str]:
    "Every API page as the text nbdev-clean would leave."
    mods = modules()
    nbs = {OUT/'index.ipynb': index_page(mods)}
    out = {}
    for p, nb in nbs.items():
        for c in nb['cells']: c['source'] = c['source'].splitlines(keepends=True)
        out[p] = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n'
    return out

def main(argv=None):
    check = '--check' in (argv if argv is not None else sys.argv[1:])
    pages = render()
    stale = [p for p, t in pages.items() if not p.exists() or p.read_text(encoding='utf-8') != t]
    extra = [p for p in OUT.glob('*.ipynb') if p not in pages] if OUT.exists() else []
    if check:
        for p in stale + extra: print(f"{p.relative_to(ROOT)} is not what the package gives: run `make export` (tools/api_pages.py).")
        return 1 if stale or extra else 0
    OUT.mkdir(exist_ok=True)
    for p in extra: p.unlink()
    for p in stale: p.write_text(pages[p], encoding='utf-8')
    print(f"nbs/api: {len(pages)} pages, {len(stale)} written, {len(extra)} removed")
    return 0

if __name__ == '__main__': sys.exit(main())
