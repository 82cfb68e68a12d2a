"""Time to a good model on CoNLL-2003 (or WNUT-16): ftbook's `fit` (its defaults) against HF `Trainer` (its best configuration).

    FTBOOK_DATA=../shared/data .venv/bin/python bench/time_to_f1.py --json nbs/results/time_to_f1.json
    .venv/bin/python bench/time_to_f1.py --corpus wnut16 --json nbs/results/time_to_f1_wnut16.json   # a corpus the defaults were not chosen on
    .venv/bin/python bench/time_to_f1.py --n-train 500 --epochs 1      # a quick look

CoNLL-2003 comes from `ftbook.data.load_conll2003`: the folder FTBOOK_DATA names, else the Hugging Face hub; WNUT-16
(`--corpus wnut16`) is the packaged corpus, `ftbook.data.default_ner_data` (its training and held-out validation part).

Both fine-tune the packaged default encoder (all-MiniLM-L6-v2) for NER on the first `--n-train` training sentences
for up to `--epochs` epochs and are evaluated every quarter epoch on the first `--n-valid` validation sentences by the
same word-level evaluation (`ftbook.train.evaluate`), the evaluation's time excluded from the training time.

- ftbook:  `fit(model, train, valid, TrainConfig(epochs=..., eval_every=<a quarter epoch>, seed=0))`: every other
           setting is ftbook's default, whatever a user gets without asking (schedule, rates, batches): the encoder
           at 5e-5 and the new head at its own rate, 1e-3.
- ftbook_one_rate: the same with `lr=5e-5`, which (like Trainer's learning_rate) applies to every weight, the head
           included: what ftbook's loop alone gives, without the head's rate.
- trainer: `transformers.Trainer` in its best configuration on a CPU: fused AdamW (`optim='adamw_torch_fused'`),
           length-grouped batches, linear warmup over 10% of the steps and linear decay, weight decay 0.01, batch 16,
           learning rate 5e-5 (its default), dynamic padding.

The target is the best F1 Trainer reaches in those epochs minus `--margin` (0.01). Reported: each loop's training time
to first reach the target, and Trainer's time over ftbook's, written like `1.52x` on the last line.
"""
import argparse, math, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers import DataCollatorForTokenClassification, Trainer, TrainerCallback, TrainingArguments
from transformers.utils import logging as hf_logging

from ftbook.core import save_results, set_seed
from ftbook.data import LabelSet, TokenClassificationDataset, default_ner_data, load_conll2003, load_tokenizer
from ftbook.models import TaskModel
from ftbook.train import Callback, TrainConfig, fit
from train_throughput import Plain, hf_model, score      # bench/ is on the path when a script in it runs

def run_ftbook(train, valid, labels, epochs:int, every:int, tmp:Path, **settings)->list[dict]:
    "F1 against training seconds at every evaluation of `fit` with its defaults (and `settings`)."
    curve = []
    class Record(Callback):
        def on_evaluate(self, state, metrics): curve.append(dict(step=state.step, seconds=state.seconds, f1=metrics['f1']))
    set_seed(0)
    model = TaskModel.from_encoder(None, 'token', labels)
    fit(model, train, valid, TrainConfig(epochs=epochs, eval_every=every, seed=0, progress=False, **settings), callbacks=[Record()])
    return curve

def run_trainer(train, valid, labels, epochs:int, every:int, tmp:Path)->list[dict]:
    "F1 against training seconds (evaluations excluded) every `every` steps of Trainer's best configuration."
    hf, curve, clock = hf_model(labels), [], {}
    def record(step:int): curve.append(dict(step=step, seconds=clock['train'], f1=score(hf, labels, valid, tmp)))
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
    Trainer(model=hf, args=args, train_dataset=Plain(train), data_collator=DataCollatorForTokenClassification(train.tokenizer),
            callbacks=[Record()]).train()
    return curve

def time_to(curve:list[dict], target:float)->float|None:
    "Training seconds at the first evaluation after a training step with F1 at least `target` (None: never)."
    return next((p['seconds'] for p in curve if p['step'] > 0 and p['f1'] >= target), None)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n-train', type=int, default=2000); ap.add_argument('--n-valid', type=int, default=1000)
    ap.add_argument('--epochs', type=int, default=4); ap.add_argument('--margin', type=float, default=0.01)
    ap.add_argument('--runs', default='ftbook,ftbook_one_rate,trainer')
    ap.add_argument('--corpus', choices=['conll2003', 'wnut16'], default='conll2003')
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    start = time.perf_counter()
    tok = load_tokenizer()
    if a.corpus == 'conll2003': corpus = load_conll2003(); train_s, valid_s = corpus['train'], corpus['valid']
    else: train_s, valid_s = default_ner_data(seed=0)
    train_s, valid_s = train_s[:a.n_train], valid_s[:a.n_valid]
    labels = LabelSet.from_tags(train_s)
    train, valid = TokenClassificationDataset(train_s, tok, labels), TokenClassificationDataset(valid_s, tok, labels)
    every = max(1, round(math.ceil(len(train) / 16) / 4))     # a quarter epoch of batches of 16
    print(f"{a.corpus}: {len(train)} training sentences, {len(valid)} validation sentences; up to {a.epochs} epochs, "
          f"an evaluation every {every} steps", flush=True)
    runners = dict(ftbook=run_ftbook, ftbook_one_rate=lambda *x: run_ftbook(*x, lr=5e-5), trainer=run_trainer)
    curves = {}
    with tempfile.TemporaryDirectory() as d:
        for name in a.runs.split(','):
            curves[name] = runners[name](train, valid, labels, a.epochs, every, Path(d))
            print(f"  {name:15s} " + '  '.join(f"{p['seconds']:.0f}s:{p['f1']:.3f}" for p in curves[name]), flush=True)
    ref = 'trainer' if 'trainer' in curves else next(iter(curves))
    target = max(p['f1'] for p in curves[ref]) - a.margin
    times = {n: time_to(c, target) for n, c in curves.items()}
    print(f"\ntarget F1 {target:.4f} ({ref}'s best {target + a.margin:.4f} minus {a.margin})")
    print("| loop | best F1 | seconds to target |\n|---|---|---|")
    for n, c in curves.items():
        print(f"| {n} | {max(p['f1'] for p in c):.4f} | {'never' if times[n] is None else f'{times[n]:.1f}'} |")
    if a.json: save_results(a.json, command='bench/time_to_f1.py ' + ' '.join(sys.argv[1:]), corpus=a.corpus, n_train=len(train), n_valid=len(valid),
                            epochs=a.epochs, eval_every=every, margin=a.margin, target=target, curves=curves, times=times,
                            seconds=time.perf_counter() - start)
    if times.get('ftbook') is not None and times.get('trainer') is not None: print(f"\nftbook reaches F1 {target:.4f} {times['trainer'] / times['ftbook']:.2f}x sooner than Trainer")
    else: print(f"\nratio: none (a loop never reached the target: {times})")

if __name__ == '__main__': main()
