"""Hyperparameter search on CoNLL-2003: ftbook's `search` against `Trainer.hyperparameter_search`, the same space and budget, in one run.

    FTBOOK_DATA=../shared/data .venv/bin/python bench/tune_vs_trainer.py --json nbs/results/tune_vs_trainer.json
    .venv/bin/python bench/tune_vs_trainer.py --n-train 200 --trials 3      # a quick look

CoNLL-2003 comes from `ftbook.data.load_conll2003`: the folder FTBOOK_DATA names, else the Hugging Face hub.

Both search the fine-tuning of the packaged default encoder (all-MiniLM-L6-v2) for NER on the first `--n-train`
training sentences, scored on the first `--n-valid` validation sentences, with Optuna on both sides and the same
parts of it: the TPE sampler seeded with `--seed`, the median pruner (Optuna's defaults), `--trials` trials, and one
space: the learning rate on a log scale in [1e-5, 1e-3], the number of epochs in 1..3, the warmup share in
[0, 0.2]. Each trial is evaluated four times per epoch, and every evaluation goes to the pruner.

- ftbook:  `ftbook.tune.search` over `fit` with every other setting its default (a learning rate given applies to
           every weight, the head included, as Trainer's does); the trial's score is its best evaluation's F1
           (`ftbook.train.evaluate`: word level, every word read from the window that owns it).
- trainer: `Trainer.hyperparameter_search(backend='optuna')` in Trainer's best configuration on a CPU (fused AdamW,
           length-grouped batches, weight decay 0.01, batch 16; the settings searched as above), a `model_init`
           per trial; the trial's score is the F1 of its last evaluation (what Trainer reports), computed by
           seqeval on each word's first sub-word, as the `transformers` token-classification example does.

Reported per search: every trial (settings, state, score, seconds), the best score, and the wall time from the
search's start to the end of the trial that first reached it; then that time's ratio, written like `1.52x`.
"""
import argparse, json, sys, tempfile, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import optuna
from optuna.trial import TrialState
from transformers import AutoModelForTokenClassification, DataCollatorForTokenClassification, Trainer, TrainingArguments
from transformers.trainer_callback import PrinterCallback
from transformers.utils import logging as hf_logging

from ftbook.core import default_encoder_path, save_results, set_seed
from ftbook.data import LabelSet, TokenClassificationDataset, load_conll2003, load_tokenizer
from ftbook.models import TaskModel
from ftbook.train import TrainConfig, fit
from ftbook.tune import parse_space, search
from train_throughput import Plain      # bench/ is on the path when a script in it runs

SPACE = ['lr=1e-5:1e-3:log', 'epochs=1:3', 'warmup=0:0.2']

def quarter(ds, bs:int=16)->int: return max(1, len(ds) // bs // 4)

def trials_of(study:optuna.Study, t0:float|None=None)->list[dict]:
    return [dict(number=t.number, state=t.state.name.lower(), settings=t.params, value=t.value,
                 seconds=(t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None,
                 ended=(t.datetime_complete.timestamp() - t0) if t.datetime_complete and t0 else None) for t in study.trials]

def best_and_time(rows:list[dict])->tuple[float, float]:
    "The best score and the search time at which the trial that first reached it ended."
    done = [r for r in rows if r['state'] == 'complete']
    best = max(r['value'] for r in done)
    return best, min(r['ended'] for r in done if r['value'] == best)

def run_ftbook(train, valid, labels, a, tmp:Path)->dict:
    def one(settings, folder, callbacks):
        set_seed(a.seed)
        model = TaskModel.from_encoder(None, 'token', labels)
        return fit(model, train, valid, TrainConfig(eval_every=quarter(train), seed=a.seed, progress=False, **settings), callbacks).metrics
    t0 = time.time()
    study = search(tmp/'ftbook', parse_space(SPACE), one, 'f1', trials=a.trials, seed=a.seed)
    rows = trials_of(study, t0)
    return dict(trials=rows, seconds=time.time() - t0)

def run_trainer(train, valid, labels, a, tmp:Path)->dict:
    from seqeval.metrics import f1_score
    names = labels.id2label
    def metrics(p):
        pred, gold = np.argmax(p.predictions, -1), p.label_ids
        keep = [[(names[int(g)], names[int(q)]) for g, q in zip(gs, qs) if g != -100] for gs, qs in zip(gold, pred)]
        return {'f1': f1_score([[g for g, _ in s] for s in keep], [[q for _, q in s] for s in keep])}
    def model_init(trial=None):
        set_seed(a.seed)
        return AutoModelForTokenClassification.from_pretrained(default_encoder_path(), id2label=labels.id2label, label2id=dict(labels.label2id))
    args = TrainingArguments(output_dir=str(tmp/'trainer'), per_device_train_batch_size=16, per_device_eval_batch_size=64,
                             optim='adamw_torch_fused', train_sampling_strategy='group_by_length', lr_scheduler_type='linear',
                             weight_decay=0.01, seed=a.seed, report_to=[], save_strategy='no', eval_strategy='steps',
                             eval_steps=quarter(train), logging_strategy='no', dataloader_num_workers=0, use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model_init=model_init, args=args, train_dataset=Plain(train), eval_dataset=Plain(valid),
                      data_collator=DataCollatorForTokenClassification(train.tokenizer), compute_metrics=metrics)
    trainer.remove_callback(PrinterCallback)      # no printed dict per evaluation
    space = lambda trial: dict(learning_rate=trial.suggest_float('lr', 1e-5, 1e-3, log=True),
                               num_train_epochs=trial.suggest_int('epochs', 1, 3), warmup_steps=trial.suggest_float('warmup', 0.0, 0.2))
    t0, storage = time.time(), f"sqlite:///{tmp/'trainer.db'}"
    trainer.hyperparameter_search(hp_space=space, n_trials=a.trials, direction='maximize', backend='optuna',
                                  compute_objective=lambda m: m['eval_f1'], sampler=optuna.samplers.TPESampler(seed=a.seed),
                                  pruner=optuna.pruners.MedianPruner(), storage=storage, study_name='trainer')
    study = optuna.load_study(study_name='trainer', storage=storage)
    return dict(trials=trials_of(study, t0), seconds=time.time() - t0)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n-train', type=int, default=1000, help='CoNLL-2003 training sentences (default: 1000)')
    p.add_argument('--n-valid', type=int, default=500, help='CoNLL-2003 validation sentences (default: 500)')
    p.add_argument('--trials', type=int, default=8, help='trials of each search (default: 8)')
    p.add_argument('--seed', type=int, default=0, help="seeds the samplers and the trials' training (default: 0)")
    p.add_argument('--runs', default='ftbook,trainer', help='searches to run, comma-separated (default: ftbook,trainer)')
    p.add_argument('--json', type=Path, help='write the results here')
    a = p.parse_args()
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar(); optuna.logging.set_verbosity(optuna.logging.WARNING)
    conll, tok = load_conll2003(), load_tokenizer()
    labels = LabelSet.from_tags(conll['train'][:a.n_train])
    train = TokenClassificationDataset(conll['train'][:a.n_train], tok, labels)
    valid = TokenClassificationDataset(conll['valid'][:a.n_valid], tok, labels)
    results, t0 = {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        for name in a.runs.split(','):
            results[name] = r = {'ftbook': run_ftbook, 'trainer': run_trainer}[name](train, valid, labels, a, Path(d))
            for t in r['trials']:
                print(f"{name:>8} trial {t['number']}: {t['state']:<8} " + ', '.join(f'{k}={v:.3g}' for k, v in t['settings'].items())
                      + (f"  F1 {t['value']:.4f}" if t['value'] is not None else '') + (f"  {t['seconds']:.0f} s" if t['seconds'] else ''))
            r['best'], r['time_to_best'] = best_and_time(r['trials'])
            print(f"{name:>8}: best F1 {r['best']:.4f}, reached after {r['time_to_best']:.0f} s of a {r['seconds']:.0f} s search", flush=True)
    if {'ftbook', 'trainer'} <= set(results):
        f, t = results['ftbook'], results['trainer']
        print(f"best F1 {f['best']:.4f} (ftbook) vs {t['best']:.4f} (Trainer); time to it: Trainer / ftbook = "
              f"{t['time_to_best'] / f['time_to_best']:.2f}x; whole search: {t['seconds'] / f['seconds']:.2f}x")
    if a.json:
        save_results(a.json, settings=vars(a) | {'json': str(a.json), 'space': SPACE}, results=results, seconds=time.perf_counter() - t0)
        print(f"written {a.json}")

if __name__ == '__main__':
    main()
