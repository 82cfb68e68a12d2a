"ONNX export (deployment chapter): fp32 parity with PyTorch through `Predictor`, `evaluate` and the command; int8; errors."
import json, subprocess, sys
from pathlib import Path

import pytest, torch

from ftbook.cli import main
from ftbook.core import set_seed
from ftbook.data import LabelSet, TextClassificationDataset, TextExample, TokenClassificationDataset, split_words
from ftbook.deploy import ONNX_FILE, OnnxModel, export_onnx
from ftbook.inference import Predictor, load_model
from ftbook.models import TaskModel, add_lora
from ftbook.testing import CLS_TEXTS, save_tiny_encoder
from ftbook.train import TrainConfig, evaluate, fit

TEXTS = ['Reuters reported that Ada Lovelace met Charles Babbage in London.', 'Nothing here.',
         ' '.join(['Charles Babbage visited Paris .'] * 60)]      # 300 words: several windows of 64 tokens

@pytest.fixture(scope='module')
def trained(ner_fixture, tmp_path_factory):
    "A tiny token model trained until it knows the fixture sentences, saved, and exported in fp32 and int8."
    f, d = ner_fixture, tmp_path_factory.mktemp('deploy')
    set_seed(0)
    valid = TokenClassificationDataset(f['sents'], f['tok'], f['labels'])
    run = fit(TaskModel.from_encoder(f['enc'], 'token', f['labels']), TokenClassificationDataset(f['sents'] * 4, f['tok'], f['labels']),
              valid, TrainConfig.smoke(epochs=10, lr=3e-3), output_dir=d/'run')
    assert run.after['f1'] > 0.9
    export_onnx(run.model, d/'fp32', f['tok'])
    export_onnx(run.model, d/'int8', f['tok'], quantize='int8')
    return dict(d=d, model=run.model.eval(), valid=valid, tok=f['tok'])

def _entities(results): return [[(e['type'], e['start'], e['end']) for e in r['entities']] for r in results]

def test_fp32_logits_match_pytorch_on_any_batch_shape(trained):
    onx, model, tok = OnnxModel.from_pretrained(trained['d']/'fp32'), trained['model'], trained['tok']
    for texts in (TEXTS[:1], TEXTS[:2], ['x'] * 9 + ['a longer input ' * 30]):      # other batch sizes and lengths than traced
        enc = tok(texts, padding=True, return_tensors='pt')
        with torch.no_grad(): assert (onx(**enc).logits - model(**enc).logits).abs().max() < 1e-4

def test_predictor_on_the_export_gives_the_pytorch_entities(trained):
    onnx_pred = Predictor.from_pretrained(trained['d']/'fp32', max_length=64, stride=16)
    torch_pred = Predictor.from_pretrained(trained['d']/'run', max_length=64, stride=16)
    assert isinstance(onnx_pred.model, OnnxModel)
    ours, theirs = onnx_pred.predict(TEXTS), torch_pred.predict(TEXTS)
    assert _entities(ours) == _entities(theirs) and any(_entities(ours))
    assert [r['tags'] for r in ours] == [r['tags'] for r in theirs] and len(ours[2]['tags']) == 300
    assert max(abs(a - b) for o, t in zip(ours, theirs) for a, b in zip(o['scores'], t['scores'])) < 1e-4

def test_evaluate_scores_the_export_like_the_model(trained):
    a, b = evaluate(OnnxModel.from_pretrained(trained['d']/'fp32'), trained['valid']), evaluate(trained['model'], trained['valid'])
    assert a['f1'] == b['f1'] and abs(a['loss'] - b['loss']) < 1e-4

def test_int8_is_smaller_and_still_runs(trained):
    d = trained['d']
    import onnx
    assert (d/'int8'/ONNX_FILE).stat().st_size < (d/'fp32'/ONNX_FILE).stat().st_size
    g = onnx.load(str(d/'int8'/ONNX_FILE)).graph
    assert 'MatMulInteger' in {n.op_type for n in g.node}                       # the weights' matrix multiplies run in int8
    vocab = len(trained['tok'])
    assert any(i.dims and i.dims[0] == vocab and i.data_type == onnx.TensorProto.FLOAT for i in g.initializer)   # the embedding table stays fp32
    cfg = json.loads((d/'int8'/'config.json').read_text())
    assert cfg['ftbook_onnx']['quantized'] == 'int8' and cfg['ftbook_onnx']['max_abs_diff'] > 0
    out = Predictor.from_pretrained(d/'int8').predict(TEXTS[:1])[0]
    assert len(out['tags']) == len(out['words'])

def test_sequence_model_and_lora_export(ner_fixture, tmp_path):
    f, labels = ner_fixture, LabelSet.from_labels(l for _, l in CLS_TEXTS)
    set_seed(0)
    model = TaskModel.from_encoder(f['enc'], 'sequence', labels)
    add_lora(model, 4, 8.0, 0.0, 'all-linear')
    with torch.no_grad():    # non-zero adapters, so merging matters
        for n, p in model.named_parameters():
            if 'lora_B' in n: p.normal_(0, 0.1)
    model.save_pretrained(tmp_path/'run', tokenizer=f['tok'])
    export_onnx(model, tmp_path/'onnx', f['tok'])
    texts = [t for t, _ in CLS_TEXTS]
    a, b = Predictor.from_pretrained(tmp_path/'onnx').predict(texts), Predictor.from_pretrained(tmp_path/'run').predict(texts)
    assert [r['label'] for r in a] == [r['label'] for r in b]
    assert max(abs(x['score'] - y['score']) for x, y in zip(a, b)) < 1e-4

def test_command_exports_and_predicts(trained, tmp_path, capsys):
    assert main(['export', '--model', str(trained['d']/'run'), '--output', str(tmp_path/'x'), '--quantize', 'int8']) == 0
    assert 'int8' in capsys.readouterr().out
    model, _ = load_model(tmp_path/'x')
    assert isinstance(model, OnnxModel) and model.onnx['quantized'] == 'int8'
    (tmp_path/'in.txt').write_text(TEXTS[0] + '\n')
    assert main(['predict', '--model', str(tmp_path/'x'), '--input', str(tmp_path/'in.txt'), '--output', str(tmp_path/'o.jsonl')]) == 0
    assert len(json.loads((tmp_path/'o.jsonl').read_text())['tags']) == len(split_words(TEXTS[0])[0]) == 11

def test_errors(trained, tmp_path, capsys):
    assert main(['export', '--model', str(trained['d']/'fp32'), '--output', str(tmp_path/'y')]) == 2
    assert 'already an exported folder' in capsys.readouterr().err
    assert main(['export', '--model', str(tmp_path/'none'), '--output', str(tmp_path/'y')]) == 2
    assert 'no such folder' in capsys.readouterr().err
    assert main(['export', '--model', str(trained['d']/'run'), '--output', str(tmp_path/'y'), '--opset', '9']) == 2
    assert '--opset: must be at least 11' in capsys.readouterr().err
    with pytest.raises(ValueError, match='not a folder written by export_onnx'): OnnxModel(trained['d']/'run')
    with pytest.raises(ValueError, match="None or 'int8'"): export_onnx(trained['model'], tmp_path/'z', trained['tok'], quantize='fp16')
