"""What it takes for SmolLM2-135M to tag WNUT-16 by writing its answer: one seed per setting, a learning curve each.

    .venv/bin/python bench/decoder_ner.py --json nbs/tutorials/results/decoder_ner_sweep.json       # about 80 minutes on 2 CPU cores
    .venv/bin/python bench/decoder_ner.py --arms lora,full --epochs 1 --n-train 100 --n-valid 40      # a quick look

Tutorial 14 ("Encoder or decoder?") found the LoRA-tuned decoder collapsing to the answer `none` after one
epoch (61% of the references are `none`) and leaving it only on some seeds in the second. Each arm below
changes one thing against that recipe (`lora`: LoRA rank 8 on every linear layer at 1e-3, the `type: words`
answer, the training sentences as they are) and is trained on the same first `--n-train` sentences of the
packaged WNUT-16 split for `--epochs` epochs, random batches of 8 (the training chapter measured random batches
to teach a decoder more per step than length-grouped ones on a set this small; padding-free rows were slower
here, where a long system prompt makes each row's attention mask large), 10% warmup, seed 0:

- balanced        LoRA, with two thirds of the training sentences without an entity left out (`none` becomes
                  about a third of the answers instead of most of them); the validation sentences are not changed
- tagged          LoRA, the answer written as the sentence again with each entity marked `[words](type)`: every
                  answer has content, and an answer with no mark means `none`
- full            every weight, at DEFAULT_LR['full'] (5e-5), the generation chapter's full fine-tuning rate
- lora_3e-3       LoRA at three times the rate
- lora            the tutorial's recipe

After each epoch, the validation sentences are answered greedily (the time is not training time: `fit` pauses
its clock for callbacks) and scored by the tutorial's scorer (`entity_scores` over (type, words) pairs; a
`tagged` answer is first read back into that form), with the answers counted by kind (`answer_kind`; a `tagged`
answer with no mark is `none` when it is the sentence itself and malformed otherwise). Written:
each arm's curve (training seconds, F1, precision, recall, share of `none`, malformed, distinct answers) and its
last answers to the first validation sentences. Every arm is written to the results file as soon as it ends, and
an arm already in the file is not run again (delete it from the file, or pass --rerun, to run it again).
"""
import argparse, json, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers.utils import logging as hf_logging

from ftbook.core import save_results, set_seed
from ftbook.data import default_ner_data
from ftbook.generation import (CausalLM, GenerationDataset, GenerationExample, answer_kind, entity_answer, entity_scores, generate,
                               load_decoder_tokenizer, read_tagged, tagged_answer, tagged_kind)
from ftbook.train import Callback, TrainConfig, fit

BASE = dict(epochs=2, bs=8, lr=1e-3, warmup=0.1, lora=True, lora_r=8, group_by_length=False, progress=False)
ARMS = {  # name -> (TrainConfig settings over BASE, share of the entity-free training sentences kept, answer format)
    'balanced': (dict(), 1 / 3, 'list'),
    'tagged': (dict(), 1.0, 'tagged'),
    'full': (dict(lora=False, lr=5e-5), 1.0, 'list'),
    'lora_3e-3': (dict(lr=3e-3), 1.0, 'list'),
    'lora': (dict(), 1.0, 'list'),
}
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--arms', default=','.join(ARMS), help=f"comma-separated, from {', '.join(ARMS)}")
    ap.add_argument('--epochs', type=int, default=BASE['epochs']); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--n-train', type=int, default=500); ap.add_argument('--n-valid', type=int, default=None)
    ap.add_argument('--json', type=Path, help='the results file (arms already in it are kept and not run again)')
    ap.add_argument('--rerun', action='store_true', help='run the arms named even when the results file has them')
    a = ap.parse_args(argv)
    hf_logging.disable_progress_bar(); hf_logging.set_verbosity_error(); warnings.filterwarnings('ignore')
    arms = a.arms.split(',')
    if unknown := [n for n in arms if n not in ARMS]: ap.error(f"--arms: unknown {unknown}; choose from {list(ARMS)}")
    train_s, valid_s = default_ner_data(seed=0)
    train_s, valid_s = train_s[:a.n_train], valid_s[:a.n_valid]
    types = sorted({t.split('-', 1)[1] for s in train_s for t in s.tags if t != 'O'})
    systems = dict(
        list=(f"List the named entities of the user's sentence, each as 'type: words', separated by '; ', or answer 'none'. "
              f"The types are: {', '.join(types)}."),
        tagged=(f"Repeat the user's sentence, marking each named entity as [words](type). The types are: {', '.join(types)}."))
    write = dict(list=entity_answer, tagged=tagged_answer)
    read = dict(list=lambda s: s, tagged=read_tagged)
    gold = [entity_answer(s.words, s.tags) for s in valid_s]
    tok = load_decoder_tokenizer()
    saved = json.loads(a.json.read_text()) if a.json and a.json.exists() else dict(arms={})
    same = dict(seed=a.seed, n_train=len(train_s), n_valid=len(valid_s))     # an arm of the file is reused only if it was run so
    if any(saved.get(f, x) != x for f, x in same.items()): saved['arms'] = {}        # the file's arms all share its top-level settings
    done = {k: v for k, v in saved['arms'].items() if v['settings']['epochs'] == a.epochs}
    before = {d['format']: d['curve'][0] for d in done.values()}     # the untrained model's point, per answer format
    for name in arms:
        if name in done and not a.rerun: print(f"{name}: in {a.json} already"); continue
        settings, keep, fmt = ARMS[name]
        chat = lambda s: [dict(role='system', content=systems[fmt]), dict(role='user', content=' '.join(s.words))]
        empty = [i for i, s in enumerate(train_s) if all(t == 'O' for t in s.tags)]
        left_out = set(empty[round(len(empty) * keep):])
        kept = [s for i, s in enumerate(train_s) if i not in left_out]
        train = GenerationDataset([GenerationExample(chat(s), write[fmt](s.words, s.tags), str(i)) for i, s in enumerate(kept)], tok)
        prompts = GenerationDataset([GenerationExample(chat(s), None, str(i)) for i, s in enumerate(valid_s)], tok).prompts
        max_new = max(len(tok(write[fmt](s.words, s.tags))['input_ids']) for s in valid_s) + 16
        cfg = TrainConfig(**{**BASE, **settings, 'epochs': a.epochs, 'seed': a.seed})
        steps = -(-len(train) // cfg.bs)
        set_seed(a.seed)
        model, curve = CausalLM.from_base(None), []
        def score(seconds:float):
            t = time.perf_counter()
            raw = [tok.decode(x, skip_special_tokens=True) for x in generate(model, tok, prompts, max_new_tokens=max_new, bs=16)]
            answers = [read[fmt](r) for r in raw]
            kinds = [answer_kind(x) for x in answers] if fmt == 'list' else [     # tagged: the sentence without a mark is 'none'
                tagged_kind(r, tagged_answer(s.words, s.tags)) for r, s in zip(raw, valid_s)]
            curve.append(dict(seconds=seconds, **entity_scores(gold, answers), none=kinds.count('none') / len(kinds),
                              malformed=kinds.count('malformed') / len(kinds), distinct=len(set(answers)) / len(answers),
                              generate_seconds=time.perf_counter() - t))
            print(f"  {name} at {seconds:5.0f} s: F1 {curve[-1]['f1']:.3f}, none {curve[-1]['none']:.2f}, "
                  f"malformed {curve[-1]['malformed']:.2f}, distinct {curve[-1]['distinct']:.2f}", flush=True)
            return raw
        class EachEpoch(Callback):
            def on_step_end(self, state):
                if state.step % steps == 0: self.raw = score(state.seconds)
        if fmt in before: curve.append(before[fmt])        # the packaged model answers a format's prompts the same in every arm
        else: score(0.0); before[fmt] = curve[0]
        each = EachEpoch()
        r = fit(model, train, None, cfg, callbacks=[each])
        done[name] = dict(settings={**BASE, **settings, 'epochs': a.epochs}, keep_empty=keep, format=fmt, system=systems[fmt],
                          n_train=len(train), none_share_train=sum(write[fmt](s.words, s.tags) == 'none' for s in kept) / len(kept),
                          steps=r.state.step, train_seconds=r.state.seconds, tokens=r.state.tokens,
                          trainable=sum(p.numel() for p in model.parameters() if p.requires_grad), curve=curve,
                          samples=each.raw[:8])
        if a.json: save_results(a.json, command='bench/decoder_ner.py ' + ' '.join(sys.argv[1:] if argv is None else argv), seed=a.seed,
                                n_train=len(train_s), n_valid=len(valid_s), none_share_valid=sum(g == 'none' for g in gold) / len(gold),
                                gold_samples=gold[:8], arms=done)
        del model
    print('\n| arm | F1 by epoch | none by epoch | training s |\n|---|---|---|---|')
    for n, d in done.items():
        f1s, nones = ' '.join(f"{p['f1']:.3f}" for p in d['curve']), ' '.join(f"{p['none']:.2f}" for p in d['curve'])
        print(f"| {n} | {f1s} | {nones} | {d['train_seconds']:.0f} |")

if __name__ == '__main__': main()
