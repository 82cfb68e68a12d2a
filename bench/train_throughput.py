"""Training throughput on CoNLL-2003: ftbook's `fit` against Hugging Face `Trainer` and the original guide's loop.

    FTBOOK_DATA=../shared/data .venv/bin/python bench/train_throughput.py --json nbs/results/train_throughput.json
    .venv/bin/python bench/train_throughput.py --runs ftbook,trainer_grouped --n-train 500
    python3 bench/train_throughput.py --runs ftbook,trainer_grouped --device cuda --precision bf16 --bs 256 --n-train 14041   # a GPU

CoNLL-2003 comes from `ftbook.data.load_conll2003`: the folder FTBOOK_DATA names, else the Hugging Face hub.

Every run fine-tunes the packaged default encoder (all-MiniLM-L6-v2) for NER on the first `--n-train` training
sentences, batch `--bs` (16), learning rate 5e-5, one epoch, seed 0, on `--device` in `--precision` (the CPU in
fp32 by default; on a GPU, bf16), and is scored by the same word-level evaluation (`ftbook.train.evaluate`) on the
first `--n-valid` validation sentences. Reported per run: real (non-pad) training tokens per second, its ratio to
Trainer with `group_by_length` and to the original loop, the model FLOP/s that implies, as a share of the device's
measured matmul peak in that precision (the model FLOP utilisation), and validation F1.

- ftbook:          `fit` (length-grouped batches, dynamic padding, fused AdamW, linear schedule)
- trainer:         `transformers.Trainer`, dynamic padding (DataCollatorForTokenClassification), random batches
- trainer_grouped: the same with `group_by_length=True`
- original:        the original guide's loop: every batch padded to 128, plain AdamW, a constant learning rate
"""
import argparse, sys, tempfile, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers import (AutoModelForTokenClassification, DataCollatorForTokenClassification, Trainer, TrainingArguments)
from transformers.utils import logging as hf_logging

from ftbook.core import default_encoder_path, save_results, set_seed
from ftbook.data import Collator, LabelSet, TokenClassificationDataset, load_conll2003, load_tokenizer
from ftbook.models import TaskModel
from ftbook.train import TrainConfig, evaluate, fit

def matmul_peak(device:str='cpu', precision:str='fp32', reps:int=10)->float:
    "Measured matmul FLOP/s on `device` in `precision` (n x n products: 2048 on a CPU, 8192 on a GPU)."
    n, dtype = (8192 if device.startswith('cuda') else 2048), {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}[precision]
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    for _ in range(3): a @ b
    sync(); t = time.perf_counter()
    for _ in range(reps): a @ b
    sync()
    return 2 * n**3 * reps / (time.perf_counter() - t)

def flops_per_token(model, mean_len:float)->float:
    "Training FLOPs per token: 6 x (weights used in matmuls) + attention scores and mixing (12 L d T)."
    cfg = model.config if hasattr(model, 'config') else model.encoder.config
    n = sum(p.numel() for name, p in model.named_parameters() if 'embeddings' not in name and p.dim() == 2)
    return 6 * n + 12 * cfg.num_hidden_layers * cfg.hidden_size * mean_len

class Plain(torch.utils.data.Dataset):
    "Items without ftbook's `index` field, for Trainer and the original loop."
    def __init__(self, ds): self.ds = ds
    def __len__(self): return len(self.ds)
    def __getitem__(self, i):
        it = self.ds[i]
        return {'input_ids': it['input_ids'], 'attention_mask': [1] * len(it['input_ids']), 'labels': it['labels']}

def hf_model(labels):
    set_seed(0)
    return AutoModelForTokenClassification.from_pretrained(default_encoder_path(), id2label=labels.id2label, label2id=dict(labels.label2id))

def score(hf, labels, valid, tmp):
    "Word-level F1 of a transformers model, through the same evaluation as ftbook's."
    hf.save_pretrained(tmp/'m')
    return evaluate(TaskModel.from_pretrained(tmp/'m'), valid, TrainConfig(progress=False))['f1']

def run_ftbook(train, valid, labels, tmp, a):
    set_seed(0)
    model = TaskModel.from_encoder(None, 'token', labels)
    # Trainer's defaults, so the hyperparameters are equal: no warmup, no weight decay, linear decay, clipping at 1
    r = fit(model, train, None, TrainConfig(epochs=1, bs=a.bs, lr=5e-5, warmup=0.0, weight_decay=0.0, seed=0, progress=False, log_every=50,
                                            device=a.device, precision=a.precision))
    return dict(seconds=r.state.seconds, tokens=r.state.tokens, f1=evaluate(r.model, valid, TrainConfig(progress=False, device=a.device))['f1'], model=model)

def run_trainer(train, valid, labels, tmp, a, grouped:bool):
    model, tok = hf_model(labels), train.tokenizer
    args = TrainingArguments(output_dir=str(tmp/'trainer'), per_device_train_batch_size=a.bs, learning_rate=5e-5, num_train_epochs=1,
                             seed=0, report_to=[], save_strategy='no', eval_strategy='no', logging_strategy='no',
                             train_sampling_strategy='group_by_length' if grouped else 'random', dataloader_num_workers=0,
                             use_cpu=a.device == 'cpu', bf16=a.precision == 'bf16', fp16=a.precision == 'fp16', disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=Plain(train), data_collator=DataCollatorForTokenClassification(tok))
    t = time.perf_counter(); trainer.train(); seconds = time.perf_counter() - t
    model.cpu()
    return dict(seconds=seconds, tokens=sum(train.lengths), f1=score(model, labels, valid, tmp), model=model)

def run_original(train, valid, labels, tmp, a):
    "The original guide's loop: fixed padding to 128, random batches, plain AdamW at a constant rate (fp32)."
    model = hf_model(labels).to(a.device); model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    loader = torch.utils.data.DataLoader(Plain(train), batch_size=a.bs, shuffle=True, generator=torch.Generator().manual_seed(0),
                                         collate_fn=Collator(train.tokenizer.pad_token_id, pad_to_multiple_of=128))
    t = time.perf_counter()
    for b in loader:
        loss = model(**{k: b[k].to(a.device) for k in ('input_ids', 'attention_mask', 'labels')}).loss
        loss.backward(); opt.step(); opt.zero_grad()
    if a.device.startswith('cuda'): torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    return dict(seconds=seconds, tokens=sum(train.lengths), f1=score(model.cpu(), labels, valid, tmp), model=model)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n-train', type=int, default=2000); ap.add_argument('--n-valid', type=int, default=1000)
    ap.add_argument('--runs', default='ftbook,trainer,trainer_grouped,original')
    ap.add_argument('--bs', type=int, default=16, help='batch size (default: 16)')
    ap.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (default: cpu)")
    ap.add_argument('--precision', choices=['fp32', 'bf16', 'fp16'], default='fp32', help='training precision (default: fp32)')
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    start = time.perf_counter()
    conll = load_conll2003()
    tok = load_tokenizer()
    train_s, valid_s = conll['train'][:a.n_train], conll['valid'][:a.n_valid]
    labels = LabelSet.from_tags(train_s)
    train, valid = TokenClassificationDataset(train_s, tok, labels), TokenClassificationDataset(valid_s, tok, labels)
    peak = matmul_peak(a.device, a.precision)
    where = torch.cuda.get_device_name() if a.device.startswith('cuda') else f'{torch.get_num_threads()} CPU threads'
    print(f'{len(train_s)} training sentences, {sum(train.lengths):,} real tokens (mean {sum(train.lengths) / len(train):.1f}); '
          f'torch {torch.__version__}, {where}; {a.precision} matmul peak {peak / 1e9:,.0f} GFLOP/s; batch size {a.bs}')
    runners = dict(ftbook=run_ftbook, trainer=lambda *x: run_trainer(*x, grouped=False),
                   trainer_grouped=lambda *x: run_trainer(*x, grouped=True), original=run_original)
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for name in a.runs.split(','):
            r = runners[name](train, valid, labels, Path(d), a)
            fpt = flops_per_token(r.pop('model'), sum(train.lengths) / len(train))
            r['tokens_per_s'] = r['tokens'] / r['seconds']
            r['flops_per_s'] = r['tokens_per_s'] * fpt
            r['peak_share'] = r['flops_per_s'] / peak
            results[name] = r
            print(f"  {name:16s} {r['tokens_per_s']:8,.0f} real tokens/s  {r['seconds']:6.1f} s  F1 {r['f1']:.4f}", flush=True)
    print(f"\n| run | real tokens/s | vs trainer_grouped | vs original | model GFLOP/s | share of {a.precision} peak | valid F1 |\n|---|---|---|---|---|---|---|")
    for name, r in results.items():
        ratio = lambda ref: f"{r['tokens_per_s'] / results[ref]['tokens_per_s']:.2f}x" if ref in results else '—'   # not run: no ratio
        print(f"| {name} | {r['tokens_per_s']:,.0f} | {ratio('trainer_grouped')} | {ratio('original')} | {r['flops_per_s'] / 1e9:.1f} | "
              f"{r['peak_share']:.1%} | {r['f1']:.4f} |")
    if a.json: save_results(a.json, command='bench/train_throughput.py ' + ' '.join(sys.argv[1:]), n_train=a.n_train, n_valid=a.n_valid,
                            bs=a.bs, device=a.device, precision=a.precision, peak_flops=peak, runs=results, seconds=time.perf_counter() - start)

if __name__ == '__main__': main()
