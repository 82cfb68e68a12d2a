"""Run a command and fail if it changed any file under PATH.

    python tools/unchanged.py PATH -- CMD [ARGS...]

`make test` uses it to check that the notebooks are the source of truth: `nbdev-export` must leave
`ftbook/` as committed, and `nbdev-clean` must leave `nbs/` as committed. It compares file contents
before and after (new and deleted files included), so it works with or without git and with
uncommitted work in progress.
"""
import difflib, subprocess, sys
from pathlib import Path

SKIP = {'__pycache__', '.ipynb_checkpoints', '_proc', '_docs', '.quarto'}

def snapshot(root: Path) -> dict:
    "Map each file under `root` (outside generated folders) to its bytes"
    return {p: p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file() and not SKIP & set(p.parts)}

def main(argv):
    if len(argv) < 3 or argv[1] != '--': sys.exit(__doc__)
    root, cmd = Path(argv[0]), argv[2:]
    before = snapshot(root)
    subprocess.run(cmd, check=True)
    after = snapshot(root)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if not changed: return print(f'ok: {" ".join(cmd)} left {root}/ unchanged')
    print(f'FAIL: `{" ".join(cmd)}` changed {len(changed)} file(s) under {root}/:')
    for p in changed:
        state = 'new' if p not in before else 'deleted' if p not in after else 'modified'
        print(f'  {state}: {p}')
        if state == 'modified' and p.suffix == '.py':
            diff = difflib.unified_diff(before[p].decode().splitlines(), after[p].decode().splitlines(), lineterm='', n=1)
            print('\n'.join('    ' + l for l in list(diff)[:40]))
    print('The notebooks in nbs/ are the source: edit them, run `make export`, and commit nbs/ and ftbook/ together.')
    sys.exit(1)

if __name__ == '__main__': main(sys.argv[1:])
