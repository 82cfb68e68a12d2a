"""Build the offline preview of the docs site: the notebooks as nbdev processes them for Quarto, rendered to static
HTML by nbconvert, with their saved outputs, plots and widget state, in the book's order, into `_preview/`.

    python tools/preview.py            # build _preview/
    python tools/preview.py --serve    # build, then serve it on http://127.0.0.1:8000 (python -m http.server)

The real site is Quarto's (`nbdev-docs`, `nbdev-preview`); Quarto cannot be installed on the project's offline
machines, so this renders the same processed notebooks (`show_doc` for every exported name, hidden cells hidden,
`echo: false` honoured) without it. The page scripts (require.js, the widget manager, KaTeX, mermaid) come from the
npm registry at pinned versions and integrity hashes, cached in `.vendor/`; a page loads nothing from the network.
"""
import argparse, html, json, os, re, shutil, subprocess, sys, tarfile, time, warnings
from pathlib import Path
from urllib.parse import urldefrag

import yaml

ROOT = Path(__file__).resolve().parent.parent
NBS, VENDOR, OUT = ROOT/'nbs', ROOT/'.vendor', ROOT/'_preview'
TEMPLATES = Path(__file__).resolve().parent/'preview_template'

# npm package -> (version, integrity, {path under _static/: path inside the package's tarball, or a folder})
PACKAGES = {
    'requirejs': ('2.3.8', 'sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==',
                  {'require.js': 'package/require.js'}),
    '@jupyter-widgets/html-manager': ('1.0.15', 'sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==',
                  {'widgets': 'package/dist/'}),
    'katex': ('0.19.1', 'sha512-jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgRhKvr5614uRrEfA==',
              {'katex/katex.min.js': 'package/dist/katex.min.js', 'katex/katex.min.css': 'package/dist/katex.min.css',
               'katex/auto-render.min.js': 'package/dist/contrib/auto-render.min.js', 'katex/fonts': 'package/dist/fonts/'}),
    'mermaid': ('12.3.0', 'sha512-4113TdXeLAsMruJ79OpFL5O8+LTFXhQqZ260rF3tgUmiNAtRm4Uume04I+65PRN6yZ69J4f8rVYWW8zRk65UYw==',
                {'mermaid.min.js': 'package/dist/mermaid.min.js'}),
}

def _tarball(name:str)->Path:
    "The package's tarball from the npm registry, cached in .vendor/ and checked against its pinned integrity."
    version, integrity, _ = PACKAGES[name]
    dest = VENDOR/'npm'; dest.mkdir(parents=True, exist_ok=True)
    tgz = dest/f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not tgz.exists():
        try:
            r = subprocess.run(['npm', 'pack', f'{name}@{version}', '--json', '--pack-destination', str(dest)],
                               capture_output=True, text=True, check=True)
        except FileNotFoundError: sys.exit("npm is not installed: the preview's page scripts come from the npm registry (`npm pack`).")
        except subprocess.CalledProcessError as e: sys.exit(f"npm pack {name}@{version} failed (is the npm registry reachable?):\n{e.stderr[-2000:]}")
        got = json.loads(r.stdout)[0]
        if got['integrity'] != integrity:
            (dest/got['filename']).unlink(missing_ok=True)
            sys.exit(f"{name}@{version}: integrity {got['integrity']} is not the pinned {integrity}; refusing to use it.")
        (dest/got['filename']).rename(tgz)
    return tgz

def vendor(static:Path):
    "Copy the pinned page scripts into `static`."
    for name, (_, _, files) in PACKAGES.items():
        with tarfile.open(_tarball(name)) as tf:
            members = tf.getmembers()
            for target, inner in files.items():
                for m in members:
                    if not m.isfile(): continue
                    if inner.endswith('/'):
                        if not m.name.startswith(inner) or '/' in m.name[len(inner):] or m.name.endswith('.map'): continue
                        out = static/target/m.name[len(inner):]
                    elif m.name == inner: out = static/target
                    else: continue
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(tf.extractfile(m).read())
    # The widget manager's bundled CSS imports Google's fonts; a page must load nothing from the network.
    for js in (static/'widgets').glob('*.js'):
        txt = js.read_text(encoding='utf-8')
        js.write_text(re.sub(r'@import url\(https://fonts\.googleapis\.com/css[^)]*\);', '', txt), encoding='utf-8')
    shutil.copy(TEMPLATES/'preview.css', static/'preview.css'); shutil.copy(TEMPLATES/'preview.js', static/'preview.js')

def book()->list[tuple[str, str]]:
    "(section, notebook path relative to nbs/) in the sidebar's order; the section of top-level entries is ''."
    side = yaml.safe_load((NBS/'sidebar.yml').read_text(encoding='utf-8'))['website']['sidebar']['contents']
    out = []
    def walk(items, section):
        for it in items:
            if isinstance(it, str): out.append((section, it))
            elif isinstance(it, dict) and 'contents' in it: walk(it['contents'], it.get('section', section))
            elif isinstance(it, dict) and 'href' in it: out.append((section, it['href']))
    walk(side, '')
    return out

def _website()->dict: return yaml.safe_load((NBS/'nbdev.yml').read_text(encoding='utf-8'))['website']

def site_url()->str:
    "The published site's address: links nbdev writes to it become relative links in the preview."
    return _website()['site-url'].rstrip('/') + '/'

def process()->Path:
    "nbdev's processing of every notebook (what Quarto renders), into _proc/."
    from nbdev.serve import proc_nbs
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return Path(proc_nbs(path=str(NBS)))

def frontmatter(nb:dict)->dict:
    "The YAML of the processed notebook's leading raw cell."
    c = nb['cells'][0]
    if c['cell_type'] != 'raw': return {}
    return yaml.safe_load(''.join(c['source']).strip().strip('-')) or {}

def output_path(nb_rel:str, fm:dict)->str:
    "Where Quarto writes the page of `nb_rel` (its `output-file`, in the notebook's folder)."
    d = os.path.dirname(nb_rel)
    name = fm.get('output-file') or Path(nb_rel).with_suffix('.html').name
    return f'{d}/{name}' if d else name

_DIRECTIVE = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_MERMAID = re.compile(r'```\{mermaid\}\n(.*?)```', re.S)
_ATTR_LINK = re.compile(r'\[([^\]]*)\]\(([^)\s]*)\)\{([^}]*)\}')

_CELL_KEYS = {'cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count', 'attachments'}

def _src(c) -> str: return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

_LNONE = re.compile(r'(/blob/[^/]+/)([\w/]+\.py)#LNone(\)[^\n]*\n+#+ ([\w.]+))')

def show_doc_markdown(md:str)->str:
    "A `show_doc` output for the preview: its source link with the definition's line (nbdev 3.3 writes `#LNone`), no pandoc attributes."
    from nbdev.doclinks import _get_exps
    md = _LNONE.sub(lambda m: f"{m[1]}{m[2]}" + (f"#L{_get_exps(m[2]).get(m[4])}" if _get_exps(m[2]).get(m[4]) else '') + m[3], md)
    return _ATTR_LINK.sub(lambda m: f'[{m[1]}]({m[2]})', md)

def prepare(nb:dict)->tuple[dict, dict]:
    "The notebook as a page: frontmatter out, Quarto directives applied and removed, Quarto-only markdown translated."
    fm, cells = frontmatter(nb), []
    for c in nb['cells'][1 if nb['cells'] and nb['cells'][0]['cell_type'] == 'raw' else 0:]:
        s = _src(c)
        c.get('metadata', {}).pop('execution', None)   # nbdev's float timings are not valid nbformat; nbconvert rejects them
        for k in [k for k in c if k not in _CELL_KEYS]: del c[k]     # and its own marks (`has_sd`)
        if c['cell_type'] == 'markdown':
            if s.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            c['source'] = _MERMAID.sub(lambda m: '```mermaid\n' + html.escape(m.group(1), quote=False) + '```', s)
        elif c['cell_type'] == 'code':
            lines, dirs = s.split('\n'), {}
            while lines and _DIRECTIVE.match(lines[0]):
                k, v = _DIRECTIVE.match(lines.pop(0)).groups()
                try: v = yaml.safe_load(v)   # Quarto reads directive values as YAML
                except yaml.YAMLError: pass
                dirs[k] = str(v).strip() if v is not None else ''
            code = '\n'.join(lines).strip('\n')
            off = lambda k: dirs.get(k, '').lower() == 'false'
            if off('include') or (not code and not c.get('outputs')): continue
            tags = c.setdefault('metadata', {}).setdefault('tags', [])
            if off('echo') or not code: tags.append('remove_input')
            if off('output'): tags.append('remove_output')
            c['source'] = code
            c['outputs'] = [o for o in c.get('outputs', []) if (o.get('data') if o.get('output_type') in ('execute_result', 'display_data')
                            else o.get('output_type') != 'stream' or _src(dict(source=o.get('text', ''))).strip())]
            for o in c['outputs']:
                if 'image/png' in o.get('data', {}) and dirs.get('fig-alt'): o.setdefault('metadata', {})['alt'] = dirs['fig-alt']
                md = o.get('data', {}).get('text/markdown')
                if md is not None: o['data']['text/markdown'] = show_doc_markdown(''.join(md))
        else: continue
        cells.append(c)
    nb['cells'] = cells
    return nb, fm

def pandoc_id(text:str)->str:
    "Pandoc's identifier for a heading (what Quarto uses, and what nbdev's links point to)."
    t = html.unescape(re.sub(r'<[^>]+>', '', text)).strip().lower()
    t = re.sub(r'[^\w\s.-]', '', t); t = re.sub(r'\s+', '-', t)
    t = re.sub(r'^[^a-z]+', '', t)
    return t or 'section'

_SOURCE_LINK = re.compile(r'<p><a href="([^"]*/blob/[^"]*)">source</a></p>')
_HEADING = re.compile(r'<h([1-6])([^>]*?) id="([^"]*)"([^>]*)>(.*?)</h\1>', re.S)
_HREF = re.compile(r'(\b(?:href|src))="([^"]*)"')

def fix_ids(page:str)->str:
    "Heading ids as pandoc makes them, deduplicated, with their anchor links."
    seen = {}
    def sub(m):
        level, pre, _, post, inner = m.groups()
        inner = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', '', inner)
        hid = pandoc_id(inner); n = seen.get(hid, 0); seen[hid] = n + 1
        if n: hid = f'{hid}-{n}'
        return f'<h{level}{pre} id="{hid}"{post}>{inner}<a class="anchor-link" href="#{hid}">¶</a></h{level}>'
    return _HEADING.sub(sub, page)

def fix_links(page:str, here:str, pages:dict[str, str], site:str)->str:
    "Links to notebooks and to the published site become relative links between preview pages."
    here_dir = os.path.dirname(here)
    def sub(m):
        attr, url = m.groups()
        target, frag = urldefrag(html.unescape(url))
        if target.startswith(site): target = target[len(site):] or 'index.html'
        elif re.match(r'^[a-z]+:', target) or target.startswith('/') or not target: return m.group(0)
        else:
            target = os.path.normpath(os.path.join(here_dir, target)).replace(os.sep, '/')
            if target.endswith('.ipynb'): target = pages.get(target, target)
        if target.endswith('.html.md'): target = target[:-3]
        rel = os.path.relpath(target, here_dir or '.').replace(os.sep, '/')
        return f'{attr}="{html.escape(rel + ("#" + frag if frag else ""))}"'
    return _HREF.sub(sub, page)

def inline(text:str)->str:
    "Plain text with `code` spans, as HTML."
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(text, quote=False))

def root_of(page:str)->str:
    "The relative path from `page` back to the preview's root: '' or '../'-style, ending in '/'."
    return os.path.relpath('.', os.path.dirname(page) or '.').replace(os.sep, '/') + '/'

def nav(entries:list[dict], here:str)->str:
    "The sidebar: the book's sections and pages, the current one marked."
    base = root_of(here)
    out, section = [], None
    for e in entries:
        if e['section'] != section:
            if section is not None and section != '': out.append('</ul></li>')
            section = e['section']
            if section: out.append(f'<li class="ftb-section"><span>{html.escape(section)}</span><ul>')
        cur = ' class="ftb-current" aria-current="page"' if e['page'] == here else ''
        out.append(f'<li><a href="{base}{e["page"]}"{cur}>{inline(e["title"])}</a></li>')
    if section: out.append('</ul></li>')
    return '<ul class="ftb-nav">' + ''.join(out) + '</ul>'

def topnav(here:str, pages:dict[str, str])->str:
    "The top bar's links, from the navbar of nbs/_quarto.yml."
    base = root_of(here)
    items = yaml.safe_load((NBS/'_quarto.yml').read_text(encoding='utf-8'))['website']['navbar'].get('left', [])
    links = [f'<li><a href="{base}{pages.get(i["href"], i["href"])}">{html.escape(i["text"])}</a></li>' for i in items]
    return '<ul class="ftb-topnav">' + ''.join(links) + '</ul>'

def search_entries(page:str, url:str, title:str)->list[dict]:
    "One search entry per section of a page: its heading, its address and its text."
    body = re.sub(r'<(script|style)\b.*?</\1>', ' ', page, flags=re.S)
    body = body.split('<main', 1)[-1]
    parts = re.split(r'(<h[1-3][^>]* id="[^"]*"[^>]*>.*?</h[1-3]>)', body, flags=re.S)
    out, head, anchor = [], title, ''
    for p in parts:
        m = re.match(r'<h[1-3][^>]* id="([^"]*)"[^>]*>(.*?)</h[1-3]>', p, re.S)
        if m: anchor, head = m.group(1), html.unescape(re.sub(r'<[^>]+>|¶', '', m.group(2))).strip(); continue
        text = re.sub(r'\s+', ' ', html.unescape(re.sub(r'<[^>]+>', ' ', p))).strip()
        if text: out.append(dict(url=url + (f'#{anchor}' if anchor else ''), page=title, section=head, text=text[:2000]))
    return out

def build(out:Path=OUT, quiet:bool=False)->dict:
    "Build the preview into `out`; returns what was built (pages, book order, seconds)."
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    t0 = time.time()
    proc = process()
    order = book()
    found = sorted(str(p.relative_to(proc)) for p in proc.rglob('*.ipynb'))
    listed = [nb for _, nb in order]
    order += [('Other pages', nb) for nb in found if nb not in listed]   # pages the sidebar forgot still render
    missing = [nb for nb in listed if nb not in found]
    if missing: sys.exit(f"nbs/sidebar.yml lists notebooks that do not exist: {missing}")
    if out.exists(): shutil.rmtree(out)
    (out/'_static').mkdir(parents=True)
    vendor(out/'_static')

    notebooks, pages, entries = {}, {}, []
    for section, rel in order:
        nb, fm = prepare(json.loads((proc/rel).read_text(encoding='utf-8')))
        page = output_path(rel, fm)
        notebooks[rel], pages[rel] = (nb, fm), page
        entries.append(dict(section=section, nb=rel, page=page, title=fm.get('title', rel)))

    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {'remove_input'}
    c.TagRemovePreprocessor.remove_all_outputs_tags = {'remove_output'}
    exporter = HTMLExporter(config=c, template_name='lab', extra_template_paths=[str(TEMPLATES)], template_file='book.html.j2',
                            exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    site, search = site_url(), []
    repo, branch = _website()['repo-url'].rstrip('/'), _website().get('repo-branch', 'main')
    for i, e in enumerate(entries):
        nb, fm = notebooks[e['nb']]
        base = root_of(e['page'])
        prev_, next_ = (entries[i - 1] if i else None), (entries[i + 1] if i + 1 < len(entries) else None)
        res = dict(base=base, topnav=topnav(e['page'], pages), page_title=fm.get('title', e['nb']), description=fm.get('description', ''), nav=nav(entries, e['page']),
                   section=e['section'], source_nb=f"nbs/{e['nb']}", source_url=f"{repo}/blob/{branch}/nbs/{e['nb']}",
                   page_title_html=inline(fm.get('title', e['nb'])), description_html=inline(fm.get('description', '')),
                   prev=dict(href=base + prev_['page'], title=inline(prev_['title'])) if prev_ else None,
                   next=dict(href=base + next_['page'], title=inline(next_['title'])) if next_ else None,
                   widget_renderer_url=f'{base}_static/widgets/embed-amd.js')
        exporter.widget_renderer_url = res['widget_renderer_url']   # nbconvert takes it from the trait, not the resources
        node = nbformat.reads(json.dumps(nb), as_version=4)   # joins the multi-line strings of the file format
        node.metadata['title'] = res['page_title']
        body, _ = exporter.from_notebook_node(node, resources=res)
        body = _SOURCE_LINK.sub(r'<p class="ftb-srclink"><a href="\1" target="_blank" rel="noopener">source</a></p>', body)
        body = fix_links(fix_ids(body), e['page'], pages, site)
        dest = out/e['page']; dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(body, encoding='utf-8')
        search += search_entries(body, e['page'], e['title'])
        if not quiet: print(f"  {e['nb']:45} -> {e['page']}")
    (out/'_static'/'search.js').write_text('window.FTB_SEARCH = ' + json.dumps(search, ensure_ascii=False) + ';\n', encoding='utf-8')
    (out/'.nojekyll').touch()
    info = dict(pages=entries, seconds=round(time.time() - t0, 1), out=str(out))
    (out/'_static'/'build.json').write_text(json.dumps(info, indent=1), encoding='utf-8')
    return info

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', type=Path, default=OUT, help='folder to write (replaced)')
    p.add_argument('--serve', action='store_true', help='serve the preview on 127.0.0.1 after building it')
    p.add_argument('--port', type=int, default=8000)
    a = p.parse_args(argv)
    info = build(a.out)
    print(f"offline preview (no Quarto): {len(info['pages'])} pages in {a.out} ({info['seconds']} s)")
    if a.serve:
        print(f"serving http://127.0.0.1:{a.port}/ (Ctrl-C stops)")
        os.execv(sys.executable, [sys.executable, '-m', 'http.server', '-b', '127.0.0.1', '-d', str(a.out), str(a.port)])
    return 0

if __name__ == '__main__': sys.exit(main())
