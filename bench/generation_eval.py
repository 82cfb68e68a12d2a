"""Generation's evaluation, encoding each prompt once: the evaluation before and after `Task.outputs` scored and generated in one pass.

    .venv/bin/python bench/generation_eval.py --json nbs/results/generation_eval.json     # about two minutes on 2 CPU cores
    FTBOOK_DATA=../shared/data .venv/bin/python bench/generation_eval.py --corpus dialogsum --json nbs/results/generation_eval_dialogsum.json

Evaluating a decoder needs two things from each held-out example: the loss of its reference answer (teacher
forcing) and the answer the model writes (greedy generation). ftbook used to compute them apart: `forward_all` ran a
forward pass over prompt and answer for the loss, then `generate` encoded the prompt again before writing. Now
`Task.outputs` asks the generation task for both at once: each batch's forward pass over prompt and answer gives
the loss and, cut back to the prompt, the cache that generation continues from, so every prompt is encoded once.

The script evaluates the packaged SmolLM2-135M-Instruct (fp32, CPU) on the generation chapter's help-desk
validation conversations (`nbs/data/help_desk_valid.jsonl`: short prompts, answers of a sentence or two), or on the
first `--n` DialogSum validation dialogues (`--corpus dialogsum`: long prompts, short summaries; the files in
FTBOOK_DATA), batch `--bs`, both ways, `--repeats` times each, alternating, and reports each way's median seconds,
the mean loss and whether the generated answers are the same.
"""
import argparse, statistics, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers.utils import logging as hf_logging

from ftbook.core import save_results, set_seed
from ftbook.generation import CausalLM, GenerationDataset, generate, load_decoder_tokenizer, load_dialogsum, read_generation
from ftbook.tasks import forward_all, get_task

def separate(model, ds, bs:int):
    "The previous path: a forward pass for the loss, then `generate`, which encodes each prompt again."
    loss = forward_all(model, ds, None, bs)[1]
    new = generate(model, ds.tokenizer, ds.prompts, ds.max_new_tokens, bs=bs)
    return [ds.tokenizer.decode(t, skip_special_tokens=True) for t in new], loss

def once(model, ds, bs:int):
    "`Task.outputs`: one forward pass per batch gives the loss and the cache generation continues from."
    return get_task(ds).outputs(model, ds, bs)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--corpus', choices=['help_desk', 'dialogsum'], default='help_desk', help='what is evaluated (default: help_desk)')
    p.add_argument('--n', type=int, default=16, help='DialogSum: validation dialogues (default: 16)')
    p.add_argument('--bs', type=int, default=8, help='examples per batch (default: 8)')
    p.add_argument('--repeats', type=int, default=3, help='evaluations each way (default: 3)')
    p.add_argument('--json', type=Path, help='write the results to this JSON file')
    a = p.parse_args(argv)
    hf_logging.disable_progress_bar(); hf_logging.set_verbosity_error(); warnings.filterwarnings('ignore')
    t0 = time.perf_counter()
    tok = load_decoder_tokenizer()
    examples = (read_generation(ROOT/'nbs'/'data'/'help_desk_valid.jsonl') if a.corpus == 'help_desk' else load_dialogsum()['dev'][:a.n])
    ds = GenerationDataset(examples, tok, scorer='rouge')
    set_seed(0)
    model = CausalLM.from_base().eval()
    runs = {'separate': [], 'once': []}
    out = {}
    for r in range(a.repeats):
        for name, fn in (('separate', separate), ('once', once)):
            t = time.perf_counter()
            out[name] = fn(model, ds, a.bs)
            runs[name].append(time.perf_counter() - t)
            print(f"{name} {r}: {runs[name][-1]:.2f} s, loss {out[name][1]:.6f}", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    same = out['separate'][0] == out['once'][0]
    res = dict(corpus=a.corpus, examples=len(ds), prompt_tokens=sum(map(len, ds.prompts)), answer_tokens=sum(ds.lengths) - sum(map(len, ds.prompts)),
               max_new_tokens=ds.max_new_tokens, bs=a.bs, seconds=runs, median=med, speedup=med['separate'] / med['once'],
               loss=dict(separate=out['separate'][1], once=out['once'][1]), same_answers=same,
               answers=dict(separate=out['separate'][0], once=out['once'][0]), total_seconds=time.perf_counter() - t0)
    print(f"median: separate {med['separate']:.2f} s, once {med['once']:.2f} s ({res['speedup']:.2f}x); loss {out['separate'][1]:.6f} vs "
          f"{out['once'][1]:.6f}; same answers: {same}")
    if a.json: save_results(a.json, command='bench/generation_eval.py ' + ' '.join(sys.argv[1:] if argv is None else argv), **res)

if __name__ == '__main__':
    main()
