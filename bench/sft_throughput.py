"""Supervised fine-tuning of the packaged decoder with LoRA: ftbook's `fit` against TRL's `SFTTrainer`, padded and padding-free, in one run.

    .venv/bin/python bench/sft_throughput.py --json nbs/results/sft_throughput.json
    .venv/bin/python bench/sft_throughput.py --steps 10 --n-train 200 --runs ftbook,trl-padding-free   # a quick look

Every loop fine-tunes the packaged SmolLM2-135M-Instruct (`ftbook.core.default_decoder_path`) with the same LoRA
configuration (rank 8, alpha 16, dropout 0.05, every linear layer but the output), on the same examples, with the
same learning rate (linear decay, no warmup), number of optimizer steps and seed, in fp32 on the CPU (bf16 on a GPU),
and puts the loss on the answer's tokens only. The data: the first `--n-train` sentences of the packaged WNUT-16
training split written as generation, the sentence as the prompt and its entities as the answer
(`ftbook.generation.entity_answer`), in SmolLM2's chat template. ftbook tokenizes each example with the template
(`GenerationDataset`); TRL receives exactly those strings (prompt with the generation prompt, answer with its end
token) as a plain prompt-completion dataset, so every loop trains on the same tokens.

The loops (`--runs`, all by default), each in a process of its own so that its memory is its own:

- ftbook:                 `fit` with its defaults for generation (length-grouped batches, dynamic padding, the LM head
                          applied only where a label is predicted, fused AdamW), `--bs` examples per step
- ftbook-random:          the same with random batches (`group_by_length=False`), to tell the batch order's effect apart
- ftbook-padding-free:    `padding_free=True`: a step's examples end to end in one row, no padding, random batches
- ftbook-checkpointing:   the same as ftbook with `gradient_checkpointing=True` (memory against time)
- trl:                    `SFTTrainer`'s defaults (`completion_only_loss`, dynamic padding, random batches, and
                          `gradient_checkpointing=True`, which TRL turns on by default)
- trl-padding-free:       `padding_free=True` and no checkpointing: each step's `--bs` examples flattened into one row
- trl-packing:            `packing=True` (best-fit decreasing, which turns padding-free on) and no checkpointing: examples
                          packed into rows of `--bs` times the mean example length, one row per step, so that a step
                          holds as many tokens; TRL's fastest configuration

Reported per loop: real (non-pad) training tokens per second of training time; the peak memory that training added
(on the CPU the peak resident set, `VmHWM`, reset when training begins, less the resident set then; on a GPU
`max_memory_allocated` less the memory allocated then); the largest number of bytes that a step's forward pass left
for the backward pass (tensors saved by autograd, counted once per storage, the weights left out: what activation
checkpointing cuts); and the final loss, the mean answer-token loss of the trained model on the first `--n-valid`
WNUT-16 validation sentences, computed for every loop by the same function (`ftbook.tasks.forward_all`). Then
ftbook's fastest loop against TRL's fastest, written like `1.30x`, with both losses, and the fastest ftbook loop whose
held-out loss is as low as TRL's best (within 0.005) against TRL's fastest.
"""
import argparse, json, subprocess, sys, tempfile, time, warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers.utils import logging as hf_logging

from ftbook.core import default_decoder_path, save_results, set_seed
from ftbook.data import default_ner_data
from ftbook.generation import CausalLM, GenerationDataset, GenerationExample, entity_answer, load_decoder_tokenizer
from ftbook.tasks import forward_all
from ftbook.train import Callback, TrainConfig, fit

LORA = dict(r=8, alpha=16.0, dropout=0.05, targets='all-linear')
RUNS = ('ftbook', 'ftbook-random', 'ftbook-padding-free', 'ftbook-checkpointing', 'trl', 'trl-padding-free', 'trl-packing')
CUDA = torch.cuda.is_available()

def examples(n:int, split:int=0)->list[GenerationExample]:
    "The first `n` sentences of the packaged WNUT-16 training (split 0) or validation (split 1) data, written as generation."
    data = default_ner_data(seed=0)[split]
    return [GenerationExample(' '.join(s.words), entity_answer(s.words, s.tags), f'wnut:{i}') for i, s in enumerate(data[:n])]

class Memory:
    "The memory training adds: `start()` when it begins (the peak reset), `extra()` at its end (peak less the start)."
    def start(self):
        if CUDA: torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); self.base = torch.cuda.memory_allocated()
        else:
            Path('/proc/self/clear_refs').write_text('5')    # resets VmHWM, the peak resident set, to the resident set now
            self.base = self._status('VmRSS')
    def extra(self)->int:
        if CUDA: return torch.cuda.max_memory_allocated() - self.base
        return self._status('VmHWM') - self.base
    @staticmethod
    def _status(key:str)->int:
        line = next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith(key + ':'))
        return int(line.split()[1]) * 1024

def count_saved(module:torch.nn.Module)->list[int]:
    "Wrap `module.forward` so that each call records the bytes autograd saves for the backward pass (weights excluded)."
    weights = {p.untyped_storage().data_ptr() for p in module.parameters()}
    sizes, forward = [], module.forward
    def counted(*args, **kw):
        saved = {}
        def pack(t):
            ptr = t.untyped_storage().data_ptr()
            if ptr not in weights: saved[ptr] = t.untyped_storage().nbytes()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t): out = forward(*args, **kw)
        if torch.is_grad_enabled(): sizes.append(sum(saved.values()))
        return out
    module.forward = counted
    return sizes

def held_out_loss(model:CausalLM, valid:GenerationDataset)->float:
    "The mean answer-token loss of `model` on `valid` (the same function for every loop)."
    return forward_all(model, valid, None, bs=16)[1]

def run_ftbook(name, ex, tok, a, valid)->dict:
    ds = GenerationDataset(ex, tok, max_length=a.max_length)
    set_seed(0)
    model = CausalLM.from_base()
    cfg = TrainConfig(epochs=100, max_steps=a.steps, bs=a.bs, lr=a.lr, warmup=0.0, schedule='linear', weight_decay=0.0, lora=True,
                      lora_r=LORA['r'], lora_alpha=LORA['alpha'], lora_dropout=LORA['dropout'], lora_targets=LORA['targets'],
                      padding_free=name == 'ftbook-padding-free', gradient_checkpointing=name == 'ftbook-checkpointing',
                      group_by_length=name != 'ftbook-random', log_every=10, progress=False, seed=0)
    mem = Memory()
    class Start(Callback):
        def on_train_begin(self, state): mem.start()
    saved = count_saved(model)
    s = fit(model, ds, None, cfg, callbacks=[Start()]).state
    extra = mem.extra()
    model.forward = type(model).forward.__get__(model)
    return dict(tokens=s.tokens, seconds=s.seconds, tokens_per_s=s.tokens / s.seconds, steps=s.step, memory_bytes=extra,
                saved_bytes=max(saved), final_loss=held_out_loss(model, valid))

def run_trl(name, ex, tok, a, valid)->dict:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer
    ds = GenerationDataset(ex, tok, max_length=a.max_length)     # the same tokens: the template's strings, cut where ftbook cuts
    rows = [dict(prompt=tok.decode(p), completion=tok.decode(it['input_ids'][len(p):])) for it, p in zip(ds.items, ds.prompts)]
    data = Dataset.from_list(rows)
    mem = Memory()
    class Clock(TrainerCallback):
        "Training time between the first and the last step (no set-up), and the memory added meanwhile."
        def __init__(self): self.t = None
        def on_step_begin(self, args, state, control, **kw):
            if self.t is None: mem.start(); self.t = time.perf_counter()
    set_seed(0)
    model = AutoModelForCausalLM.from_pretrained(default_decoder_path(), dtype=torch.bfloat16 if CUDA else torch.float32)
    packed_length = round(a.bs * sum(ds.lengths) / len(ds.lengths))    # a packed row holds a padded step's tokens
    shape = {'trl': dict(per_device_train_batch_size=a.bs, max_length=a.max_length),
             'trl-padding-free': dict(per_device_train_batch_size=a.bs, padding_free=True, max_length=None,  # examples are cut already
                                      gradient_checkpointing=False),
             'trl-packing': dict(per_device_train_batch_size=1, packing=True, packing_strategy='bfd',
                                 max_length=max(packed_length, max(ds.lengths)), gradient_checkpointing=False)}[name]
    with tempfile.TemporaryDirectory() as out:
        cfg = SFTConfig(output_dir=out, max_steps=a.steps, learning_rate=a.lr, warmup_steps=0, lr_scheduler_type='linear',
                        weight_decay=0.0, logging_steps=10, save_strategy='no', report_to=[], seed=0, use_cpu=not CUDA, bf16=CUDA,
                        completion_only_loss=True, dataloader_num_workers=0, disable_tqdm=True, **shape)
        peft = LoraConfig(r=LORA['r'], lora_alpha=LORA['alpha'], lora_dropout=LORA['dropout'], target_modules=LORA['targets'],
                          task_type='CAUSAL_LM')
        clock = Clock()
        tr = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok, peft_config=peft, callbacks=[clock])
        ids = [len(x) for x in tr.train_dataset['input_ids']] if name != 'trl-packing' else None
        tokens_seen = []
        orig = tr.training_step
        def counted(model, inputs, *args, **kw):
            # padding-free rows have no padding (TRL pads them only on Neuron); the pad token is SmolLM2's end of turn
            tokens_seen.append(int(inputs['attention_mask'].sum()) if 'attention_mask' in inputs else inputs['input_ids'].numel())
            return orig(model, inputs, *args, **kw)
        tr.training_step = counted
        saved = count_saved(tr.model)
        tr.train()
        if CUDA: torch.cuda.synchronize()
        seconds, extra = time.perf_counter() - clock.t, mem.extra()
    if ids is not None: assert sum(ids) == sum(ds.lengths), (sum(ids), sum(ds.lengths))      # both tokenized the examples alike
    tr.model.forward = type(tr.model).forward.__get__(tr.model)
    tuned = CausalLM(tr.model.float())
    return dict(tokens=sum(tokens_seen), seconds=seconds, tokens_per_s=sum(tokens_seen) / seconds, steps=len(tokens_seen),
                memory_bytes=extra, saved_bytes=max(saved), final_loss=held_out_loss(tuned, valid), **({'packed_length': shape['max_length']}
                                                                              if name == 'trl-packing' else {}))

def child(name:str, a)->dict:
    "One loop, in this process."
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar(); warnings.filterwarnings('ignore')
    torch.manual_seed(0)
    tok, ex = load_decoder_tokenizer(), examples(a.n_train)
    valid = GenerationDataset(examples(a.n_valid, split=1), tok, max_length=a.max_length)
    return (run_ftbook if name.startswith('ftbook') else run_trl)(name, ex, tok, a, valid)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=30, help='optimizer steps of each loop (default: 30)')
    p.add_argument('--n-train', type=int, default=400, help='WNUT-16 training sentences (default: 400)')
    p.add_argument('--bs', type=int, default=8, help='examples per step (default: 8)')
    p.add_argument('--lr', type=float, default=2e-4, help='peak learning rate (default: 2e-4)')
    p.add_argument('--max-length', type=int, default=256, help='tokens per example (default: 256)')
    p.add_argument('--n-valid', type=int, default=100, help='WNUT-16 validation sentences scored at the end (default: 100)')
    p.add_argument('--runs', default=','.join(RUNS), help=f'loops to run, comma-separated, of {", ".join(RUNS)} (default: all)')
    p.add_argument('--json', type=Path, help='write the results here')
    p.add_argument('--child', choices=RUNS, help=argparse.SUPPRESS)      # run one loop here and print its result as JSON
    a = p.parse_args()
    if a.child: print('RESULT ' + json.dumps(child(a.child, a)), flush=True); return
    names = a.runs.split(',')
    if bad := [n for n in names if n not in RUNS]: p.error(f"--runs: unknown {', '.join(bad)}; the loops are {', '.join(RUNS)}")
    results, t0 = {}, time.perf_counter()
    for name in names:
        args = [sys.executable, __file__, '--child', name] + [f'--{k.replace("_", "-")}={v}' for k, v in vars(a).items()
                                                               if k not in ('child', 'json', 'runs')]
        done = subprocess.run(args, capture_output=True, text=True)
        line = next((l for l in done.stdout.splitlines() if l.startswith('RESULT ')), None)
        if line is None: sys.exit(f"{name} failed (exit status {done.returncode}):\n{done.stderr[-4000:]}")
        results[name] = r = json.loads(line[len('RESULT '):])
        print(f"{name:>20}: {r['steps']} steps, {r['tokens']:,} real tokens in {r['seconds']:.1f} s = {r['tokens_per_s']:,.0f} tokens/s, "
              f"{r['memory_bytes'] / 2**20:,.0f} MiB added, {r['saved_bytes'] / 2**20:,.0f} MiB kept for backward, "
              f"held-out loss {r['final_loss']:.4f}", flush=True)
    ours = [n for n in results if n.startswith('ftbook') and n != 'ftbook-checkpointing']
    theirs = [n for n in results if n.startswith('trl')]
    if ours and theirs:
        f, t = max(ours, key=lambda n: results[n]['tokens_per_s']), max(theirs, key=lambda n: results[n]['tokens_per_s'])
        rf, rt = results[f], results[t]
        print(f"fastest: {f} / {t} tokens/s: {rf['tokens_per_s'] / rt['tokens_per_s']:.2f}x; held-out loss {rf['final_loss']:.4f} vs "
              f"{rt['final_loss']:.4f} ({100 * (rf['final_loss'] / rt['final_loss'] - 1):+.1f}%)")
        low = min(results[n]['final_loss'] for n in theirs) + 0.005      # as low a loss as TRL's best, within 0.005
        fair = [n for n in ours if results[n]['final_loss'] <= low]
        if fair:
            g = max(fair, key=lambda n: results[n]['tokens_per_s'])
            print(f"at TRL's held-out loss: {g} / {t} tokens/s: {results[g]['tokens_per_s'] / rt['tokens_per_s']:.2f}x; held-out loss "
                  f"{results[g]['final_loss']:.4f} vs {rt['final_loss']:.4f}")
    if a.json:
        from importlib.metadata import PackageNotFoundError, version
        def installed(name):
            try: return version(name)
            except PackageNotFoundError: return None     # the GPU check carries no TRL: its run is ftbook's alone
        save_results(a.json, settings=vars(a) | {'json': str(a.json), 'lora': LORA}, versions={n: installed(n) for n in ('trl', 'peft')},
                     results=results, seconds=time.perf_counter() - t0)
        print(f"written {a.json}")

if __name__ == '__main__':
    main()
