"""Run notebooks as `nbdev-test --save` does, and also save the state of their widgets in the notebook's metadata,
so that static pages (the docs preview, GitHub, nbviewer) draw the panels instead of printing their text repr.

    python tools/run_nbs.py nbs/07_widgets.ipynb            # cells flagged `slow`/`cuda` are skipped and keep their outputs
    python tools/run_nbs.py --flags slow nbs/02_data.ipynb  # also run the slow cells

Each notebook runs in a fresh process, so widget ids never mix between notebooks; `nbdev-clean` runs afterwards."""
import argparse, sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

VIEW, STATE = 'application/vnd.jupyter.widget-view+json', 'application/vnd.jupyter.widget-state+json'

def _refs(value, found:set):
    "Collect the `IPY_MODEL_<id>` references anywhere in a widget's state."
    if isinstance(value, str) and value.startswith('IPY_MODEL_'): found.add(value[len('IPY_MODEL_'):])
    elif isinstance(value, dict): [_refs(v, found) for v in value.values()]
    elif isinstance(value, (list, tuple)): [_refs(v, found) for v in value]

def widget_state(nb)->dict|None:
    "The saved-state metadata for the widgets `nb`'s outputs show, and every widget they reference; None if none."
    from ipywidgets import Widget
    shown = [o['data'][VIEW]['model_id'] for c in nb['cells'] for o in c.get('outputs', []) if VIEW in o.get('data', {})]
    if not shown: return None
    live = Widget.get_manager_state(drop_defaults=True)
    keep, todo = set(), list(shown)
    while todo:
        i = todo.pop()
        if i in keep or i not in live['state']: continue
        keep.add(i); found = set(); _refs(live['state'][i]['state'], found); todo.extend(found)
    missing = [i for i in shown if i not in keep]
    if missing: raise RuntimeError(f"widgets {missing} are shown but no longer alive: keep a reference to them in the notebook.")
    return {STATE: {**{k: v for k, v in live.items() if k != 'state'}, 'state': {i: live['state'][i] for i in sorted(keep)}}}

def run(fn:str, skip:list[str])->tuple[str, bool]:
    "Run one notebook in this (fresh) process; write its outputs and widget state back when every cell passed."
    import nbdev.test as T
    write = T.write_nb
    def write_with_widgets(nb, path):
        state = widget_state(nb)
        if state: nb['metadata']['widgets'] = state
        else: nb['metadata'].pop('widgets', None)
        write(nb, path)
    T.write_nb = write_with_widgets
    ok, secs = T.test_nb(fn, skip_flags=skip, save=True, basepath=Path.cwd(), cell_timeout=None)   # slow cells may run for long
    return fn, ok

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='+'); p.add_argument('--flags', default='', help='flags whose cells run too, e.g. "slow" or "slow cuda"')
    a = p.parse_args(argv)
    from nbdev.config import get_config
    from nbdev.clean import nbdev_clean
    skip = [f for f in get_config().tst_flags.split() if f not in a.flags.replace(',', ' ').split()]
    with ProcessPoolExecutor(2, mp_context=get_context('spawn'), max_tasks_per_child=1) as ex:
        results = list(ex.map(run, [str(Path(f).resolve()) for f in a.notebooks], [skip] * len(a.notebooks)))
    for fn, ok in results:
        print(f"{'saved ' if ok else 'FAILED'} {Path(fn).relative_to(Path.cwd())}")
        if ok: nbdev_clean(fname=fn)
    return 0 if all(ok for _, ok in results) else 1

if __name__ == '__main__': sys.exit(main())
