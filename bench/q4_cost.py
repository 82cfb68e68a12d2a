"""What the packaged decoder's 4-bit weights (Q4_1) cost the book's decoder tasks, estimated by rounding them once more.

    FTBOOK_DATA=../shared/data .venv/bin/python bench/q4_cost.py --json nbs/results/q4_cost.json   # about 20 minutes on 2 CPU cores

The packaged SmolLM2-135M-Instruct is the published model with every linear layer rounded to Q4_1 (blocks of 32
weights on a grid of 16 values, `min + k * step`, step = (max - min) / 15) and the embedding table to Q8_0 (blocks
of 32, step = max |w| / 127). The published bf16 weights are not on this machine, so the cost of that rounding
cannot be measured by comparison. It can be estimated: each weight is the original plus an error spread over
half a step either side, and the expected rise of a loss under small zero-mean weight noise grows with the
noise's variance (it is 1/2 sigma^2 tr(H) to second order; the gradient term averages out). Adding a second,
independent error of the same spread (uniform over one step of each block's own grid) doubles that variance,
so the loss it adds estimates what the first rounding already cost (Q4_1 and the embeddings' Q8_0 together, the
latter far the smaller); a third rounding checks that the rise is about linear in the number of roundings, which
the estimate assumes. Every step is read off the shipped weights, so a second extra rounding has the spread of
the first.

Measured, for the packaged model as shipped and with one more rounding (three noise seeds) and two more (one):
- the held-out loss of the answers of the two decoder tasks of the tutorials, without training: DialogSum
  summaries (the first `--n-test` test dialogues, first reference) and WNUT-16 entity lists (the 239 validation
  sentences, tutorial 14's prompt and answers);
- ROUGE-L of the zero-shot summaries of the first `--n-rouge` test dialogues (greedy, 64 new tokens);
- after fine-tuning: LoRA (rank 8, 1e-3, one epoch, batches of 8, seed 0) on the first `--n-train` DialogSum dev
  dialogues, from the shipped weights and from the weights rounded once more: the held-out loss and ROUGE-L.
"""
import argparse, statistics, sys, time, warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers.utils import logging as hf_logging

from ftbook.core import save_results, set_seed
from ftbook.data import default_ner_data
from ftbook.generation import (CausalLM, GenerationDataset, GenerationExample, entity_answer, generate, load_decoder_tokenizer,
                               load_dialogsum, text_scores)
from ftbook.tasks import forward_all
from ftbook.train import TrainConfig, fit

def grid_steps(model:CausalLM)->dict:
    "Each quantized weight's block step, read off the shipped weights: Q4_1 (linear layers) (max - min) / 15, Q8_0 (embeddings) max |w| / 127."
    steps = {}
    for name, p in model.hf.named_parameters():    # a tied embedding is listed once
        if p.dim() != 2: continue                    # norms are stored in fp32: not rounded
        blocks = p.detach().view(-1, 32)           # GGUF blocks run along a row: the input dimension of a torch Linear weight
        steps[name] = (blocks.amax(1, keepdim=True) - blocks.amin(1, keepdim=True)) / 15 if 'embed' not in name else \
                      blocks.abs().amax(1, keepdim=True) / 127
    return steps

def round_again(model:CausalLM, steps:dict, seed:int):
    "Add to every quantized weight an error uniform over one step of its block's grid (the steps of the shipped weights)."
    g, params = torch.Generator().manual_seed(seed), dict(model.hf.named_parameters())
    with torch.no_grad():
        for name, step in steps.items():
            blocks = params[name].data.view(-1, 32)
            blocks += (torch.rand(blocks.shape, generator=g) - 0.5) * step

def on_grid(model:CausalLM)->float:
    "The share of blocks of 32 weights of the linear layers that hold at most 16 distinct values (1.0 for Q4_1 weights)."
    w = model.hf.model.layers[0].mlp.down_proj.weight.detach().view(-1, 32)[:2000]
    return sum(len(torch.unique(b)) <= 16 for b in w) / len(w)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n-test', type=int, default=100); ap.add_argument('--n-rouge', type=int, default=40)
    ap.add_argument('--n-train', type=int, default=120); ap.add_argument('--json', type=Path)
    a = ap.parse_args(argv)
    hf_logging.disable_progress_bar(); hf_logging.set_verbosity_error(); warnings.filterwarnings('ignore')
    t0 = time.perf_counter()
    tok = load_decoder_tokenizer()
    corpus = load_dialogsum()
    summ = GenerationDataset(corpus['test'][:a.n_test], tok, max_length=2048)
    rouge_prompts, rouge_refs = summ.prompts[:a.n_rouge], [[e.completion, *e.references] for e in summ.examples[:a.n_rouge]]
    train_s, valid_s = default_ner_data(seed=0)
    types = sorted({t.split('-', 1)[1] for s in train_s for t in s.tags if t != 'O'})
    system = (f"List the named entities of the user's sentence, each as 'type: words', separated by '; ', or answer 'none'. "
              f"The types are: {', '.join(types)}.")
    ner = GenerationDataset([GenerationExample([dict(role='system', content=system), dict(role='user', content=' '.join(s.words))],
                                               entity_answer(s.words, s.tags), str(i)) for i, s in enumerate(valid_s)], tok)
    finetune = GenerationDataset(corpus['dev'][:a.n_train], tok, max_length=1024)

    def loss(model, ds)->float: return forward_all(model, ds, None, bs=16)[1]
    def rouge_l(model)->float:
        out = [tok.decode(x, skip_special_tokens=True) for x in generate(model, tok, rouge_prompts, max_new_tokens=64, bs=8)]
        return text_scores(rouge_refs, out, 'rouge')['rougeL']
    steps = grid_steps(CausalLM.from_base(None))
    def packaged(rounds:int, seed:int)->CausalLM:
        set_seed(0)
        model = CausalLM.from_base(None)
        for r in range(rounds): round_again(model, steps, seed * 10 + r)
        return model

    arms, grid = [], None
    for rounds, seed in ((0, 0), (1, 0), (1, 1), (1, 2), (2, 0)):
        model = packaged(rounds, seed)
        if rounds == 0: grid = on_grid(model)
        t = time.perf_counter()
        arms.append(dict(rounds=rounds, seed=seed, dialogsum_loss=loss(model, summ), wnut_loss=loss(model, ner), rougeL=rouge_l(model)))
        print(f"{rounds} more rounding(s), seed {seed}: " + ', '.join(f'{k} {v:.4f}' for k, v in arms[-1].items() if isinstance(v, float))
              + f" ({time.perf_counter() - t:.0f} s)", flush=True)
        del model
    tuned = []
    for rounds in (0, 1):
        model = packaged(rounds, 0)
        r = fit(model, finetune, None, TrainConfig(epochs=1, bs=8, lr=1e-3, warmup=0.1, lora=True, lora_r=8, seed=0, progress=False))
        tuned.append(dict(rounds=rounds, dialogsum_loss=loss(model, summ), rougeL=rouge_l(model), train_seconds=r.state.seconds))
        print(f"fine-tuned from {rounds} more rounding(s): " + ', '.join(f'{k} {v:.4f}' for k, v in tuned[-1].items() if isinstance(v, float)), flush=True)
        del model
    base, once = arms[0], [x for x in arms if x['rounds'] == 1]
    rise = {k: statistics.mean(x[k] for x in once) - base[k] for k in ('dialogsum_loss', 'wnut_loss', 'rougeL')}
    print('estimated cost of the rounding, Q4_1 and the embeddings\' Q8_0 (one more rounding, mean of 3 seeds): ' + ', '.join(f'{k} {v:+.4f}' for k, v in rise.items()))
    if a.json: save_results(a.json, command='bench/q4_cost.py ' + ' '.join(sys.argv[1:] if argv is None else argv),
                            n_test=len(summ), n_rouge=len(rouge_prompts), n_wnut=len(ner), n_train=len(finetune), blocks_on_grid=grid,
                            zero_shot=arms, fine_tuned=tuned, estimate=rise, seconds=time.perf_counter() - t0)

if __name__ == '__main__': main()
