"""Time to a good model on CoNLL-2003, WNUT-16 or SST-2: ftbook's `fit` (its defaults) against HF `Trainer` (its best configuration).

    FTBOOK_DATA=../shared/data .venv/bin/python bench/time_to_f1.py --json nbs/results/time_to_f1.json
    .venv/bin/python bench/time_to_f1.py --corpus wnut16 --json nbs/results/time_to_f1_wnut16.json   # corpora the defaults were not chosen on
    FTBOOK_DATA=../shared/data .venv/bin/python bench/time_to_f1.py --corpus sst2 --json nbs/results/time_to_f1_sst2.json
    .venv/bin/python bench/time_to_f1.py --n-train 500 --epochs 1      # a quick look
    .venv/bin/python bench/time_to_f1.py --runs ftbook --set lr=1e-4 --set warmup=0.05   # ftbook with other settings

CoNLL-2003 comes from `ftbook.data.load_conll2003` and SST-2 from `ftbook.data.load_sst2`: the folder FTBOOK_DATA
names, else the Hugging Face hub; WNUT-16 (`--corpus wnut16`) is the packaged corpus, `ftbook.data.default_ner_data`
(its training and held-out validation part).

Both fine-tune the packaged default encoder (all-MiniLM-L6-v2), for NER (CoNLL-2003, WNUT-16) or sentiment
classification (SST-2), on the first `--n-train` training examples for up to `--epochs` epochs and are evaluated every
quarter epoch on the first `--n-valid` validation examples by the same evaluation (`ftbook.train.evaluate`: word-level
entity F1 for NER, accuracy for SST-2; "F1" below means that score), its time excluded from the training time.

- ftbook:  `fit(model, train, valid, TrainConfig(epochs=..., eval_every=<a quarter epoch>, seed=0))`: every other
           setting is ftbook's default, whatever a user gets without asking (schedule, rates, batches): for this
           384-wide encoder, ELECTRA's small-model settings (`ENCODER_DEFAULTS`: peak rate 3e-4, layer decay 0.8)
           and the new head at its own rate, 1e-3.
- ftbook_previous: the same with the rates ftbook's defaults had before (`lr=5e-5, head_lr=1e-3`: the encoder at
           5e-5 in every layer, the head at 1e-3), to show what the change of defaults gives.
- ftbook_one_rate: the same with `lr=5e-5`, which (like Trainer's learning_rate) applies to every weight, the head
           included: what ftbook's loop alone gives, without the head's rate.
- trainer: `transformers.Trainer` in its best configuration on a CPU: fused AdamW (`optim='adamw_torch_fused'`),
           length-grouped batches, linear warmup over 10% of the steps and linear decay, weight decay 0.01, batch 16,
           learning rate 5e-5 (its default), dynamic padding.

The target is the best F1 Trainer reaches in those epochs minus `--margin` (0.01). Reported: each loop's training time
to first reach the target, and Trainer's time over ftbook's, written like `1.52x` on the last line.
"""
import argparse, json, math, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers import (AutoModelForSequenceClassification, AutoModelForTokenClassification, DataCollatorForTokenClassification,
                          DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments)
from transformers.utils import logging as hf_logging

from ftbook.core import default_encoder_path, save_results, set_seed
from ftbook.data import (LabelSet, TextClassificationDataset, TokenClassificationDataset, default_ner_data, load_conll2003, load_sst2,
                         load_tokenizer)
from ftbook.models import TaskModel
from ftbook.train import Callback, TrainConfig, evaluate, fit
from train_throughput import Plain      # bench/ is on the path when a script in it runs

# corpus -> (ftbook head, the score, transformers' model class, its collator)
KINDS = dict(conll2003=('token', 'f1', AutoModelForTokenClassification, DataCollatorForTokenClassification),
             wnut16=('token', 'f1', AutoModelForTokenClassification, DataCollatorForTokenClassification),
             sst2=('sequence', 'accuracy', AutoModelForSequenceClassification, DataCollatorWithPadding))

def datasets(corpus:str, n_train:int, n_valid:int):
    "The first `n_train` training and `n_valid` validation examples of `corpus`, tokenized, and their label set."
    tok = load_tokenizer()
    if corpus == 'sst2':
        d = load_sst2(); train, valid = d['train'][:n_train], d['dev'][:n_valid]
        labels = LabelSet.from_labels([e.label for e in train])
        return TextClassificationDataset(train, tok, labels), TextClassificationDataset(valid, tok, labels), labels
    if corpus == 'conll2003': d = load_conll2003(); train, valid = d['train'], d['valid']
    else: train, valid = default_ner_data(seed=0)
    train, valid = train[:n_train], valid[:n_valid]
    labels = LabelSet.from_tags(train)
    return TokenClassificationDataset(train, tok, labels), TokenClassificationDataset(valid, tok, labels), labels

def run_ftbook(train, valid, labels, epochs:int, every:int, tmp:Path, corpus:str, **settings)->list[dict]:
    "F1 against training seconds at every evaluation of `fit` with its defaults (and `settings`)."
    head, metric = KINDS[corpus][:2]
    curve = []
    class Record(Callback):
        def on_evaluate(self, state, metrics): curve.append(dict(step=state.step, seconds=state.seconds, f1=metrics[metric]))
    set_seed(0)
    model = TaskModel.from_encoder(None, head, labels)
    fit(model, train, valid, TrainConfig(epochs=epochs, eval_every=every, seed=0, progress=False, **settings), callbacks=[Record()])
    return curve

def run_trainer(train, valid, labels, epochs:int, every:int, tmp:Path, corpus:str)->list[dict]:
    "F1 against training seconds (evaluations excluded) every `every` steps of Trainer's best configuration."
    _, metric, auto, collator = KINDS[corpus]
    set_seed(0)
    hf = auto.from_pretrained(default_encoder_path(), id2label=labels.id2label, label2id=dict(labels.label2id))
    curve, clock = [], {}
    def score()->float:      # through the same evaluation as ftbook's
        hf.save_pretrained(tmp/'m')
        return evaluate(TaskModel.from_pretrained(tmp/'m'), valid, TrainConfig(progress=False))[metric]
    def record(step:int): curve.append(dict(step=step, seconds=clock['train'], f1=score()))
    class Record(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            clock['train'] = 0.0; hf.eval(); record(0); hf.train(); clock['t'] = time.perf_counter()
        def on_step_end(self, args, state, control, **kw):
            if state.global_step % every and state.global_step != state.max_steps: return
            clock['train'] += time.perf_counter() - clock['t']
            record(state.global_step)
            clock['t'] = time.perf_counter()
    args = TrainingArguments(output_dir=str(tmp/'trainer'), per_device_train_batch_size=16, learning_rate=5e-5, num_train_epochs=epochs,
                             optim='adamw_torch_fused', train_sampling_strategy='group_by_length', warmup_steps=0.1,
                             lr_scheduler_type='linear', weight_decay=0.01, seed=0, report_to=[], save_strategy='no',
                             eval_strategy='no', logging_strategy='no', dataloader_num_workers=0, use_cpu=True, disable_tqdm=True)
    Trainer(model=hf, args=args, train_dataset=Plain(train), data_collator=collator(train.tokenizer),
            callbacks=[Record()]).train()
    return curve

def time_to(curve:list[dict], target:float)->float|None:
    "Training seconds at the first evaluation after a training step with F1 at least `target` (None: never)."
    return next((p['seconds'] for p in curve if p['step'] > 0 and p['f1'] >= target), None)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n-train', type=int, default=2000); ap.add_argument('--n-valid', type=int, default=1000)
    ap.add_argument('--epochs', type=int, default=4); ap.add_argument('--margin', type=float, default=0.01)
    ap.add_argument('--runs', default='ftbook,ftbook_previous,ftbook_one_rate,trainer')
    ap.add_argument('--corpus', choices=list(KINDS), default='conll2003')
    ap.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                    help="a TrainConfig setting for the ftbook run instead of its default, e.g. --set lr=1e-4 (a JSON value)")
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    start = time.perf_counter()
    settings = {k: json.loads(v) for k, v in (s.split('=', 1) for s in a.set)}
    train, valid, labels = datasets(a.corpus, a.n_train, a.n_valid)
    every = max(1, round(math.ceil(len(train) / 16) / 4))     # a quarter epoch of batches of 16
    print(f"{a.corpus}: {len(train)} training examples, {len(valid)} validation examples; up to {a.epochs} epochs, "
          f"an evaluation every {every} steps" + (f"; ftbook with {settings}" if settings else ''), flush=True)
    runners = dict(ftbook=lambda *x: run_ftbook(*x, **settings), ftbook_previous=lambda *x: run_ftbook(*x, lr=5e-5, head_lr=1e-3),
                   ftbook_one_rate=lambda *x: run_ftbook(*x, lr=5e-5), trainer=run_trainer)
    curves = {}
    with tempfile.TemporaryDirectory() as d:
        for name in a.runs.split(','):
            curves[name] = runners[name](train, valid, labels, a.epochs, every, Path(d), a.corpus)
            print(f"  {name:15s} " + '  '.join(f"{p['seconds']:.0f}s:{p['f1']:.3f}" for p in curves[name]), flush=True)
    ref = 'trainer' if 'trainer' in curves else next(iter(curves))
    target = max(p['f1'] for p in curves[ref]) - a.margin
    times = {n: time_to(c, target) for n, c in curves.items()}
    print(f"\ntarget F1 {target:.4f} ({ref}'s best {target + a.margin:.4f} minus {a.margin})")
    print("| loop | best F1 | seconds to target |\n|---|---|---|")
    for n, c in curves.items():
        print(f"| {n} | {max(p['f1'] for p in c):.4f} | {'never' if times[n] is None else f'{times[n]:.1f}'} |")
    if a.json: save_results(a.json, command='bench/time_to_f1.py ' + ' '.join(sys.argv[1:]), corpus=a.corpus, n_train=len(train), n_valid=len(valid),
                            epochs=a.epochs, eval_every=every, margin=a.margin, settings=settings,
                            metric=KINDS[a.corpus][1], target=target, curves=curves, times=times,
                            seconds=time.perf_counter() - start)
    if times.get('ftbook') is not None and times.get('trainer') is not None: print(f"\nftbook reaches F1 {target:.4f} {times['trainer'] / times['ftbook']:.2f}x sooner than Trainer")
    else: print(f"\nratio: none (a loop never reached the target: {times})")

if __name__ == '__main__': main()
