"""Prediction throughput on the CoNLL-2003 test set: ftbook's `Predictor` in PyTorch, in ONNX Runtime (fp32, int8) and `transformers.pipeline`.

    FTBOOK_DATA=../shared/data .venv/bin/python bench/predict_throughput.py --json nbs/results/predict_throughput.json
    .venv/bin/python bench/predict_throughput.py --model runs/conll   # a fine-tuned run folder instead of the quick one

CoNLL-2003 comes from `ftbook.data.load_conll2003`: the folder FTBOOK_DATA names, else the Hugging Face hub.

The model: `--model`, or else the default encoder fine-tuned here for NER on the first `--train-n` CoNLL-2003
training sentences for `--epochs` epochs (ftbook's defaults, seed 0), so that agreement and F1 mean something.
It is exported with `ftbook.deploy.export_onnx` in fp32 and in int8 (dynamic quantization, per output column, the
weights' matrix multiplies only); a third export quantizes the fp32 graph with ONNX Runtime's default settings
(`quantize_dynamic` with no options: one scale per matrix, the embedding table quantized too), for comparison.

Every runtime gets the same raw texts (the test sentences, words joined by spaces), batch size `--bs`, on the CPU;
each is timed `--repeats` times after a warm-up and its best time kept. Reported per runtime: words per second, the
ratio to the pipeline's (written like `2.07x`), on how many texts its entities are identical to PyTorch's, on how many
they are identical to the pipeline's among the texts both split into the same words (the pipeline with
aggregation_strategy='first', which like ftbook labels a word by its first piece), and the entity F1 on the test
set's gold tags (`ftbook.train.evaluate`, seqeval).
"""
import argparse, shutil, sys, tempfile, time
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from transformers import pipeline
from transformers.utils import logging as hf_logging

from ftbook.core import save_results, set_seed
from ftbook.data import LabelSet, TokenClassificationDataset, load_conll2003, load_tokenizer, split_words
from ftbook.deploy import ONNX_FILE, export_onnx
from ftbook.inference import Predictor, load_model
from ftbook.models import TaskModel
from ftbook.train import TrainConfig, evaluate, fit

def spans(entities, kind:str='ftbook')->list[tuple]:
    "Entities as (type, start, end), from ftbook's results or the pipeline's."
    return [(e['type'], e['start'], e['end']) if kind == 'ftbook' else (e['entity_group'], e['start'], e['end']) for e in entities]

def best_time(f, repeats:int)->tuple[float, object]:
    "The fastest of `repeats` calls of `f`, and its result."
    best, out = float('inf'), None
    for _ in range(repeats):
        t = time.perf_counter(); out = f(); best = min(best, time.perf_counter() - t)
    return best, out

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n', type=int, default=None, help='first N test sentences (default: all)')
    ap.add_argument('--model', help='run or model folder (default: fine-tune the default encoder here)')
    ap.add_argument('--train-n', type=int, default=2000); ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--bs', type=int, default=32); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    start = time.perf_counter()
    conll = load_conll2003()
    test = conll['test'][:a.n] if a.n else conll['test']
    texts = [' '.join(s.words) for s in test]
    n_words = sum(len(split_words(t)[0]) for t in texts)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if a.model: path = Path(a.model)
        else:
            tok, train = load_tokenizer(), conll['train'][:a.train_n]
            labels = LabelSet.from_tags(conll['train'])
            set_seed(0)
            t = time.perf_counter()
            fit(TaskModel.from_encoder(None, 'token', labels), TokenClassificationDataset(train, tok, labels), None,
                TrainConfig(epochs=a.epochs, seed=0, progress=False), output_dir=d/'run')
            path = d/'run'
            print(f"fine-tuned the default encoder on {len(train)} sentences, {a.epochs} epochs, in {time.perf_counter() - t:.0f} s", flush=True)
        model, tok = load_model(path)
        t = time.perf_counter(); export_onnx(model, d/'fp32', tok); export_onnx(model, d/'int8', tok, quantize='int8')
        print(f"exported fp32 and int8 in {time.perf_counter() - t:.1f} s", flush=True)
        shutil.copytree(d/'fp32', d/'int8_ort')      # ONNX Runtime's default quantization of the same graph
        quantize_dynamic(str(d/'fp32'/ONNX_FILE), str(d/'int8_ort'/ONNX_FILE), weight_type=QuantType.QInt8,
                         extra_options={'DefaultTensorType': onnx.TensorProto.FLOAT})
        runtimes = {'PyTorch': Predictor(model, tok, bs=a.bs, device='cpu'),
                    'ONNX fp32': Predictor.from_pretrained(d/'fp32', bs=a.bs, device='cpu'),
                    'ONNX int8': Predictor.from_pretrained(d/'int8', bs=a.bs, device='cpu'),
                    'ONNX int8, ORT defaults': Predictor.from_pretrained(d/'int8_ort', bs=a.bs, device='cpu')}
        hf = pipeline('token-classification', model=str(path), aggregation_strategy='first', device='cpu')
        rows, out = {}, {}
        for name, pred in runtimes.items():
            pred.predict(texts[:64])                                            # warm up
            seconds, out[name] = best_time(lambda: pred.predict(texts), a.repeats)
            ds = TokenClassificationDataset(test, pred.tokenizer, pred.model.labels)
            tagged = sum(len(r['tags']) for r in out[name])
            rows[name] = dict(seconds=seconds, tagged=tagged, f1=evaluate(pred.model, ds, TrainConfig(progress=False))['f1'])
            print(f"  {name:23s} {n_words / seconds:8,.0f} words/s, F1 {rows[name]['f1']:.4f}", flush=True)
        hf(texts[:64], batch_size=a.bs)
        seconds, theirs = best_time(lambda: hf(texts, batch_size=a.bs), a.repeats)
        rows['pipeline'] = dict(seconds=seconds, tagged=None, f1=None)
        pre = tok.backend_tokenizer.pre_tokenizer
    # the pipeline's words are its tokenizer's pre-tokens ('U.S.' -> 'U', '.', 'S', '.'); ftbook's are CoNLL-style
    same_words = [[s for _, s in pre.pre_tokenize_str(t)] == split_words(t)[1] for t in texts]
    n_same = sum(same_words)
    for name in runtimes:
        r = rows[name]
        r['same_as_pytorch'] = sum(spans(o['entities']) == spans(p['entities']) for o, p in zip(out[name], out['PyTorch']))
        r['same_as_pipeline'] = sum(spans(o['entities']) == spans(h, 'hf') for o, h, w in zip(out[name], theirs, same_words) if w)
    pipe_s = rows['pipeline']['seconds']
    print(f"\n{len(texts):,} CoNLL-2003 test texts, {n_words:,} words, batch size {a.bs}, best of {a.repeats}; "
          f"{n_same:,} texts split into the same words by both")
    print("| runtime | words/s | vs pipeline | entities as PyTorch's | entities as the pipeline's (same words) | every word tagged | test F1 |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        if name == 'pipeline':
            print(f"| transformers pipeline | {n_words / r['seconds']:,.0f} | 1.00x | — | — | entities only | — |"); continue
        every = 'yes' if r['tagged'] == n_words else f"no ({r['tagged']:,})"
        print(f"| {name} | {n_words / r['seconds']:,.0f} | {pipe_s / r['seconds']:.2f}x | {r['same_as_pytorch']:,} of {len(texts):,} | "
              f"{r['same_as_pipeline']:,} of {n_same:,} | {every} | {r['f1']:.4f} |")
    if a.json:
        save_results(a.json, command='bench/predict_throughput.py ' + ' '.join(sys.argv[1:]),
                     model=a.model or f'default encoder fine-tuned on {a.train_n} CoNLL-2003 sentences, {a.epochs} epochs, seed 0',
                     split='test', texts=len(texts), words=n_words, bs=a.bs, repeats=a.repeats, same_words=n_same, runtimes=rows,
                     seconds=time.perf_counter() - start)

if __name__ == '__main__': main()
