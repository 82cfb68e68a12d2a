"""Prediction throughput on CoNLL-2003 sentences: ftbook's `Predictor` against `transformers.pipeline`.

    FTBOOK_DATA=../shared/data .venv/bin/python bench/predict_throughput.py --json nbs/results/predict_throughput.json
    .venv/bin/python bench/predict_throughput.py --model runs/conll   # a fine-tuned run folder

CoNLL-2003 comes from `ftbook.data.load_conll2003`: the folder FTBOOK_DATA names, else the Hugging Face hub. Without
`--model`, the default encoder with a fresh (untrained) CoNLL head: the speed does not depend on the weights.

Both get the same saved model and the same raw texts (the first `--n` training sentences, words joined by
spaces), with batch size 32 on the CPU. Reported: words per second for each, the ratio, whether each tagged
every word, and on how many texts the two give identical entities (`pipeline` with
aggregation_strategy='first', which like ftbook labels a word by its first sub-word piece), separately for
texts both split into the same words and for the others.
"""
import argparse, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers import pipeline
from transformers.utils import logging as hf_logging

from ftbook.core import save_results, set_seed
from ftbook.data import LabelSet, load_conll2003, load_tokenizer
from ftbook.inference import Predictor, split_words
from ftbook.models import TaskModel

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n', type=int, default=2000)
    ap.add_argument('--model', help='run or model folder (default: the default encoder with a fresh CoNLL head)')
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    sents = load_conll2003()['train'][:a.n]
    texts = [' '.join(s.words) for s in sents]
    n_words = sum(len(split_words(t)[0]) for t in texts)
    with tempfile.TemporaryDirectory() as d:
        path = Path(a.model) if a.model else Path(d)/'model'
        if (path/'model'/'config.json').exists(): path = path/'model'
        if not a.model:
            set_seed(0)
            TaskModel.from_encoder(None, 'token', LabelSet.from_tags(sents)).save_pretrained(path, tokenizer=load_tokenizer())
        pred = Predictor.from_pretrained(path, bs=a.bs, device='cpu')
        hf = pipeline('token-classification', model=str(path), aggregation_strategy='first', device='cpu')
        pred.predict(texts[:64]); hf(texts[:64], batch_size=a.bs)          # warm up both
        t = time.perf_counter(); ours = pred.predict(texts); t_ours = time.perf_counter() - t
        t = time.perf_counter(); theirs = hf(texts, batch_size=a.bs); t_hf = time.perf_counter() - t
        pre = pred.tokenizer.backend_tokenizer.pre_tokenizer
    tagged = sum(len(r['tags']) for r in ours)
    # the pipeline's words are its tokenizer's pre-tokens ('U.S.' -> 'U', '.', 'S', '.'); ftbook's are CoNLL-style
    same_words = [[s for _, s in pre.pre_tokenize_str(t)] == split_words(t)[1] for t in texts]
    same = [[(e['type'], e['start'], e['end']) for e in o['entities']] == [(e['entity_group'], e['start'], e['end']) for e in h]
            for o, h in zip(ours, theirs)]
    print(f"{len(texts)} texts, {n_words:,} words, batch size {a.bs}")
    print(f"| | words/s | seconds | every word tagged |\n|---|---|---|---|")
    print(f"| ftbook Predictor | {n_words / t_ours:,.0f} | {t_ours:.1f} | {'yes' if tagged == n_words else f'no ({tagged:,} of {n_words:,})'} |")
    print(f"| transformers pipeline | {n_words / t_hf:,.0f} | {t_hf:.1f} | entities only (aggregated) |")
    n_same = sum(same_words)
    print(f"\nratio {t_hf / t_ours:.2f}x. Identical entities on {sum(s for s, w in zip(same, same_words) if w)} of the "
          f"{n_same} texts that both split into the same words, and on {sum(s for s, w in zip(same, same_words) if not w)} "
          f"of the {len(texts) - n_same} others (words such as 'U.S.' or 'EU-wide', one word in CoNLL, several for the pipeline)")
    if a.json:
        save_results(a.json, command='bench/predict_throughput.py ' + ' '.join(sys.argv[1:]), model=a.model or 'default encoder, fresh head',
                     texts=len(texts), words=n_words, bs=a.bs, tagged=tagged, ftbook_seconds=t_ours, pipeline_seconds=t_hf,
                     same_words=n_same, same_entities_same_words=sum(s for s, w in zip(same, same_words) if w),
                     same_entities_other=sum(s for s, w in zip(same, same_words) if not w))

if __name__ == '__main__': main()
