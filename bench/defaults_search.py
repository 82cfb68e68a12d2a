"""The search behind ftbook's default rates: `ftbook tune` over the encoder's rate, the head's rate, layer decay and warmup.

    FTBOOK_DATA=../shared/data .venv/bin/python bench/defaults_search.py --out /tmp/defaults --json nbs/results/defaults_search.json
    .venv/bin/python bench/defaults_search.py --out /tmp/defaults --json nbs/results/defaults_search.json --dump   # an existing study

The packaged encoder (all-MiniLM-L6-v2) is fine-tuned for NER on the first 2,000 sentences of CoNLL-2003's training
file for two epochs and validated every quarter epoch on training sentences 10,000 to 10,999, a held-out part of the
training file: the search never sees the validation sentences `bench/time_to_f1.py` measures on. The objective is
the best validation F1 of a trial (a short budget stands for "a good model soon"); Optuna's TPE sampler (seed 0)
and median pruner; 20 trials, or 30 minutes after which no new trial starts. The study stays in OUT/study.db, so
running the command again goes on where it stopped; `--dump` only writes its trials to the results file.
"""
import argparse, json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import optuna

from ftbook.core import save_results
from ftbook.data import load_conll2003
from ftbook.tune import STUDY

SPACE = ['lr=2e-5:4e-4:log', 'head_lr=3e-4:1e-2:log', 'layer_decay=0.6:1.0', 'warmup=0:0.2']

def write_conll(path:Path, sentences):
    path.write_text(''.join(''.join(f'{w} {t}\n' for w, t in zip(s.words, s.tags)) + '\n' for s in sentences), encoding='utf-8')

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', type=Path, required=True, help='the search folder (the study, the trials, the split files)')
    ap.add_argument('--trials', type=int, default=20); ap.add_argument('--timeout', type=float, default=30)
    ap.add_argument('--dump', action='store_true', help='write the results file from the study in --out without searching')
    ap.add_argument('--json', help='write the trials here')
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent/'ftbook'), 'tune', '--task', 'ner', '--train', str(a.out/'train.txt'),
               '--valid', str(a.out/'valid.txt'), '--output', str(a.out/'study'), *[x for s in SPACE for x in ('--tune', s)],
               '--epochs', '2', '--eval-every', '31', '--seed', '0', '--trials', str(a.trials), '--timeout', str(a.timeout), '--no-progress']
    if not a.dump:
        train = load_conll2003()['train']
        write_conll(a.out/'train.txt', train[:2000]); write_conll(a.out/'valid.txt', train[10000:11000])
        subprocess.run(command, check=True)
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{a.out/'study'/'study.db'}")
    trials = [dict(number=t.number, state=t.state.name, value=t.value, params=t.params,
                   seconds=(t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None) for t in study.trials]
    done = [t for t in trials if t['state'] == 'COMPLETE']
    for t in sorted(done, key=lambda t: -t['value']):
        print(f"trial {t['number']:2d}  F1 {t['value']:.4f}  " + '  '.join(f'{k}={v:.3g}' for k, v in sorted(t['params'].items())))
    print(f"{len(trials)} trials, {len(done)} complete, {len(trials) - len(done)} pruned")
    if a.json: save_results(a.json, command='bench/defaults_search.py ' + ' '.join(sys.argv[1:]), tune_command=' '.join(command[1:]).replace(str(a.out), 'OUT'),
                            space=SPACE, trials=trials)

if __name__ == '__main__': main()
