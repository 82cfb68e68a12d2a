"""Supervised fine-tuning of the packaged decoder with LoRA: ftbook's `fit` against TRL's `SFTTrainer`, in one run.

    .venv/bin/python bench/sft_throughput.py --json nbs/results/sft_throughput.json
    .venv/bin/python bench/sft_throughput.py --steps 10 --n-train 200      # a quick look

Both loops fine-tune the packaged SmolLM2-135M-Instruct (`ftbook.core.default_decoder_path`) with the same LoRA
configuration (rank 8, alpha 16, dropout 0.05, every linear layer but the output), on the same examples, with the
same batch size, learning rate (linear decay, no warmup), number of optimizer steps and seed, on the CPU, in
fp32, and put the loss on the answer's tokens only. The data: the first `--n-train` sentences of the packaged
WNUT-16 training split written as generation, the sentence as the prompt and its entities as the answer
(`ftbook.generation.entity_answer`), in SmolLM2's chat template. ftbook tokenizes each example with the template
(`GenerationDataset`); TRL receives exactly those strings (prompt with the generation prompt, answer with its end
token) as a plain prompt-completion dataset, so both train on the same tokens.

Reported per loop: real (non-pad) training tokens per second of training time, the ratio of ftbook's to TRL's
written like `1.30x`, and the final loss: the mean answer-token loss of the trained model on the first `--n-valid`
WNUT-16 validation sentences, computed for both by the same function (`ftbook.train.forward_all`), so that it
does not depend on which batches each loop happened to see last. Both loops log every 10 steps (TRL's default).

- ftbook: `fit` with its defaults for generation (length-grouped batches, dynamic padding, the LM head applied only
  where a label is predicted, fused AdamW)
- trl:    `SFTTrainer` (`completion_only_loss=True`, dynamic padding, its default random batches)
"""
import argparse, json, math, sys, tempfile, time, warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers.utils import logging as hf_logging

from ftbook.core import default_decoder_path, save_results, set_seed
from ftbook.data import default_ner_data
from ftbook.generation import CausalLM, GenerationDataset, GenerationExample, entity_answer, load_decoder_tokenizer
from ftbook.train import TrainConfig, fit, forward_all

LORA = dict(r=8, alpha=16.0, dropout=0.05, targets='all-linear')

def examples(n:int, split:int=0)->list[GenerationExample]:
    "The first `n` sentences of the packaged WNUT-16 training (split 0) or validation (split 1) data, written as generation."
    data = default_ner_data(seed=0)[split]
    return [GenerationExample(' '.join(s.words), entity_answer(s.words, s.tags), f'wnut:{i}') for i, s in enumerate(data[:n])]

def held_out_loss(model:CausalLM, valid:GenerationDataset)->float:
    "The mean answer-token loss of `model` on `valid` (the same function for both loops)."
    return forward_all(model, valid, None, bs=16)[1]

def run_ftbook(ex, tok, a, valid)->dict:
    ds = GenerationDataset(ex, tok, max_length=a.max_length)
    set_seed(0)
    model = CausalLM.from_base()
    cfg = TrainConfig(epochs=100, max_steps=a.steps, bs=a.bs, lr=a.lr, warmup=0.0, schedule='linear', weight_decay=0.0, lora=True,
                      lora_r=LORA['r'], lora_alpha=LORA['alpha'], lora_dropout=LORA['dropout'], lora_targets=LORA['targets'],
                      log_every=10, progress=False, seed=0)
    s = fit(model, ds, None, cfg).state
    return dict(tokens=s.tokens, seconds=s.seconds, tokens_per_s=s.tokens / s.seconds, steps=s.step, final_loss=held_out_loss(model, valid))

def run_trl(ex, tok, a, valid)->dict:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer
    ds = GenerationDataset(ex, tok, max_length=a.max_length)     # the same tokens: the template's strings, cut where ftbook cuts
    rows = []
    for it, p in zip(ds.items, ds.prompts):
        rows.append(dict(prompt=tok.decode(p), completion=tok.decode(it['input_ids'][len(p):])))
    data = Dataset.from_list(rows)
    class Clock(TrainerCallback):
        "Training time between the first and the last step (no set-up), and the tokens of those steps."
        def __init__(self): self.t = None
        def on_step_begin(self, args, state, control, **kw):
            if self.t is None: self.t = time.perf_counter()
    set_seed(0)
    model = AutoModelForCausalLM.from_pretrained(default_decoder_path(), dtype=torch.float32)
    with tempfile.TemporaryDirectory() as out:
        cfg = SFTConfig(output_dir=out, per_device_train_batch_size=a.bs, max_steps=a.steps, learning_rate=a.lr, warmup_steps=0,
                        lr_scheduler_type='linear', weight_decay=0.0, logging_steps=10, save_strategy='no', report_to=[], seed=0,
                        use_cpu=True, completion_only_loss=True, max_length=a.max_length, packing=False, dataloader_num_workers=0,
                        disable_tqdm=True)
        peft = LoraConfig(r=LORA['r'], lora_alpha=LORA['alpha'], lora_dropout=LORA['dropout'], target_modules=LORA['targets'],
                          task_type='CAUSAL_LM')
        clock = Clock()
        tr = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok, peft_config=peft, callbacks=[clock])
        ids = [len(x) for x in tr.train_dataset['input_ids']]
        tokens_seen = []
        orig = tr.training_step
        def counted(model, inputs, *args, **kw):
            tokens_seen.append(int(inputs['attention_mask'].sum()) if 'attention_mask' in inputs else int(inputs['input_ids'].numel()))
            return orig(model, inputs, *args, **kw)
        tr.training_step = counted
        tr.train()
        seconds = time.perf_counter() - clock.t
    assert sum(ids) == sum(ds.lengths), (sum(ids), sum(ds.lengths))      # both tokenized the examples alike
    return dict(tokens=sum(tokens_seen), seconds=seconds, tokens_per_s=sum(tokens_seen) / seconds, steps=len(tokens_seen),
                final_loss=held_out_loss(CausalLM(tr.model), valid))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=30, help='optimizer steps of each loop (default: 30)')
    p.add_argument('--n-train', type=int, default=400, help='WNUT-16 training sentences (default: 400)')
    p.add_argument('--bs', type=int, default=8, help='batch size (default: 8)')
    p.add_argument('--lr', type=float, default=2e-4, help='peak learning rate (default: 2e-4)')
    p.add_argument('--max-length', type=int, default=256, help='tokens per example (default: 256)')
    p.add_argument('--n-valid', type=int, default=100, help='WNUT-16 validation sentences scored at the end (default: 100)')
    p.add_argument('--runs', default='ftbook,trl', help='loops to run, comma-separated (default: ftbook,trl)')
    p.add_argument('--json', type=Path, help='write the results here')
    a = p.parse_args()
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar(); warnings.filterwarnings('ignore')
    torch.manual_seed(0)
    tok, ex = load_decoder_tokenizer(), examples(a.n_train)
    valid = GenerationDataset(examples(a.n_valid, split=1), tok, max_length=a.max_length)
    results, t0 = {}, time.perf_counter()
    for name in a.runs.split(','):
        results[name] = r = {'ftbook': run_ftbook, 'trl': run_trl}[name](ex, tok, a, valid)
        print(f"{name:>7}: {r['steps']} steps, {r['tokens']:,} real tokens in {r['seconds']:.1f} s = {r['tokens_per_s']:,.0f} tokens/s, "
              f"held-out loss {r['final_loss']:.4f}", flush=True)
    if {'ftbook', 'trl'} <= set(results):
        f, t = results['ftbook'], results['trl']
        print(f"ftbook / TRL tokens/s: {f['tokens_per_s'] / t['tokens_per_s']:.2f}x; held-out loss {f['final_loss']:.4f} vs "
              f"{t['final_loss']:.4f} ({100 * (f['final_loss'] / t['final_loss'] - 1):+.1f}%)")
    if a.json:
        save_results(a.json, settings=vars(a) | {'json': str(a.json), 'lora': LORA}, results=results, seconds=time.perf_counter() - t0)
        print(f"written {a.json}")

if __name__ == '__main__':
    main()
