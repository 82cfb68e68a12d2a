"""The first-step trap: one AdamW step moves every weight of a pretrained decoder by the full learning rate.

    .venv/bin/python bench/first_step.py --json nbs/results/first_step.json     # about a minute on 2 CPU cores

Adam divides the first moment by the square root of the second, both bias-corrected, so at its first step the
update of each weight is lr * g / (|g| + eps): the sign of its gradient times the learning rate, however small
the gradient. One step at 1e-5 with no warmup therefore moves all 134.5 M weights of the packaged SmolLM2 by about
1e-5 at once, in the direction of one batch's gradient. The script measures what that does to the model's answers
to a few factual questions, against the two protections a fine-tuning recipe has:

- warmup: a linear warmup over 100 steps to 1e-5 takes its first step at 0 (transformers' schedule) and its
  second at 1e-7;
- LoRA: the pretrained weights do not move at all; the adapters' B matrices start at zero, so one step at LoRA's
  rate (1e-3) changes the model only through the product of A and B (the merged weights are compared).

Each arm starts from the packaged weights, takes exactly one optimizer step (`fit` with `max_steps=1`, no weight
decay, batch 1) on one help-desk conversation of the generation chapter (`nbs/data/help_desk_train.jsonl`), and
answers the questions greedily. Reported: each answer, how many changed, the share of pretrained weights that moved
by within 10% of the learning rate, and the mean KL divergence of the next-token distribution at the first answer
position, from the packaged model to the stepped one.
"""
import argparse, sys, time, warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers.utils import logging as hf_logging

from ftbook.core import save_results, set_seed
from ftbook.generation import CausalLM, GenerationDataset, GenerationExample, generate, load_decoder_tokenizer, read_generation
from ftbook.models import merged_copy
from ftbook.train import TrainConfig, fit

QUESTIONS = ['What is the capital of France?', 'Who wrote the play Hamlet?', 'What is the largest planet in the solar system?',
             'At what temperature in degrees Celsius does water freeze?', 'How many legs does a spider have?',
             'What gas do plants take in from the air?']

ARMS = {  # name -> (learning rate of the one step, LoRA)
    'one step, lr 1e-5, no warmup': (1e-5, False),
    'one step, lr 1e-7 (a 100-step warmup to 1e-5, its first step above zero)': (1e-7, False),
    'one LoRA step, lr 1e-3, no warmup': (1e-3, True),
}

def answers_and_first_probs(model:CausalLM, tok, prompts:list[list[int]])->tuple[list[str], torch.Tensor]:
    "Greedy answers to the prompts, and the next-token distribution at each prompt's end."
    new = generate(model, tok, prompts, max_new_tokens=24, bs=8)
    model.eval()
    with torch.no_grad(): logp = torch.stack([torch.log_softmax(model.hf(torch.tensor([p])).logits[0, -1].float(), -1) for p in prompts])
    return [tok.decode(x, skip_special_tokens=True) for x in new], logp

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--json', type=Path, help='write the results to this JSON file')
    a = p.parse_args(argv)
    hf_logging.disable_progress_bar(); hf_logging.set_verbosity_error(); warnings.filterwarnings('ignore')
    t0 = time.perf_counter()
    tok = load_decoder_tokenizer()
    prompts = [tok.apply_chat_template([dict(role='user', content=q)], add_generation_prompt=True, tokenize=True, return_dict=False)
               for q in QUESTIONS]
    example = read_generation(ROOT/'nbs'/'data'/'help_desk_train.jsonl')[:1]
    train = GenerationDataset(example, tok)
    set_seed(0)
    base = CausalLM.from_base()
    before, base_logp = answers_and_first_probs(base, tok, prompts)
    base_w = {k: v.clone() for k, v in base.lm.state_dict().items()}
    arms = {}
    for name, (lr, lora) in ARMS.items():
        set_seed(0)
        model = CausalLM.from_base()
        r = fit(model, train, None, TrainConfig(lr=lr, head_lr=lr, warmup=0.0, weight_decay=0.0, bs=1, max_steps=1, lora=lora,
                                                  progress=False))
        assert r.state.step == 1
        plain = merged_copy(model) if lora else model
        after, logp = answers_and_first_probs(plain, tok, prompts)
        moved = [(v.float() - base_w[k].float()).abs().flatten() for k, v in plain.lm.state_dict().items() if k in base_w]
        moved = torch.cat(moved)
        arms[name] = dict(lr=lr, lora=lora, answers=after, changed=sum(x != y for x, y in zip(before, after)),
                          near_lr=float(((moved - lr).abs() <= 0.1 * lr).float().mean()) if not lora else None,
                          moved_share=float((moved > 0).float().mean()), mean_abs_change=float(moved.mean()),
                          kl=float(torch.nn.functional.kl_div(logp, base_logp, log_target=True, reduction='batchmean')))
        print(f"{name}: {arms[name]['changed']} of {len(QUESTIONS)} answers changed, KL {arms[name]['kl']:.4f}, "
              f"weights moved {arms[name]['moved_share']:.3f}" + (f", within 10% of lr {arms[name]['near_lr']:.3f}" if not lora else ''))
        for q, x, y in zip(QUESTIONS, before, after):
            if x != y: print(f"   {q}\n      before: {x!r}\n      after:  {y!r}")
    res = dict(command='.venv/bin/python bench/first_step.py --json nbs/results/first_step.json', questions=QUESTIONS,
               before=before, example=example[0].prompt[-1]['content'], arms=arms, seconds=time.perf_counter() - t0)
    if a.json: save_results(a.json, **res)
    return res

if __name__ == '__main__':
    main()
