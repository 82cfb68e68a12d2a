"The `ftbook` command: end to end on fixtures, its files, errors without tracebacks, agreement with pipeline."
import json, subprocess, sys
from pathlib import Path

import pytest
from transformers import pipeline

from ftbook.cli import main
from ftbook.inference import split_words
from ftbook.testing import CLS_TEXTS, NER_SENTENCES, save_tiny_encoder, write_conll

BIN = Path(sys.executable).parent

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp('cli')
    data = write_conll(d/'train.txt', NER_SENTENCES * 3)
    enc = save_tiny_encoder(d/'enc')
    assert main(['train', '--train', str(data), '--test', str(data), '--model', str(enc), '--output', str(d/'run'),
                 '--epochs', '10', '--lr', '3e-3', '--batch-size', '4', '--no-progress']) == 0
    return d

def test_train_writes_the_run_folder(run):
    assert sorted(p.name for p in (run/'run').iterdir()) == ['checkpoint', 'history.csv', 'metrics.json', 'model', 'training_curves.png']
    m = json.loads((run/'run'/'metrics.json').read_text())
    for split in ('valid', 'test'):
        assert {'f1', 'precision', 'recall', 'per_type'} <= set(m[split])
    assert m['train_tokens'] > 0 and m['train_seconds'] > 0
    assert m['test']['f1'] > 0.5    # trained on the test sentences: it must have learned them

def test_predict_tags_every_word_of_a_long_input(run, tmp_path):
    words = ('Ada Lovelace met Charles Babbage in London .'.split() * 130)[:1000]
    (tmp_path/'in.txt').write_text(' '.join(words) + '\n\nParis .\n')
    assert main(['predict', '--model', str(run/'run'), '--input', str(tmp_path/'in.txt'), '--output', str(tmp_path/'o.jsonl'), '--max-length', '64']) == 0
    rows = [json.loads(l) for l in (tmp_path/'o.jsonl').read_text().splitlines()]
    assert [len(r['tags']) for r in rows] == [1000, 0, 2]
    assert rows[0]['words'] == words

def test_predict_agrees_with_transformers_pipeline(run, tmp_path):
    texts = ['Reuters reported that Angela Merkel met officials from the United Nations in Geneva.',
             'Ada Lovelace worked with Charles Babbage in London.', 'Fans of Manchester United watched the final in Paris.']
    (tmp_path/'in.txt').write_text('\n'.join(texts) + '\n')
    assert main(['predict', '--model', str(run/'run'), '--input', str(tmp_path/'in.txt'), '--output', str(tmp_path/'o.jsonl')]) == 0
    ours = [[(e['type'], e['start'], e['end']) for e in json.loads(l)['entities']] for l in (tmp_path/'o.jsonl').read_text().splitlines()]
    hf = pipeline('token-classification', model=str(run/'run'/'model'), aggregation_strategy='first', device='cpu')
    theirs = [[(e['entity_group'], e['start'], e['end']) for e in hf(t)] for t in texts]
    assert ours == theirs and any(ours)

def test_evaluate_prints_and_writes_metrics(run, tmp_path, capsys):
    assert main(['evaluate', '--model', str(run/'run'), '--data', str(run/'train.txt'), '--output', str(tmp_path/'m.json')]) == 0
    assert 'strict IOB2' in capsys.readouterr().out
    assert json.loads((tmp_path/'m.json').read_text())['words'] == sum(len(w) for w, _ in NER_SENTENCES) * 3

def test_classification_task(tmp_path):
    rows = ['text,label'] + [f'"{t}",{l}' for t, l in CLS_TEXTS * 3]
    (tmp_path/'train.csv').write_text('\n'.join(rows) + '\n')
    enc = save_tiny_encoder(tmp_path/'enc')
    assert main(['train', '--task', 'classification', '--train', str(tmp_path/'train.csv'), '--model', str(enc),
                 '--output', str(tmp_path/'run'), '--epochs', '2', '--batch-size', '4', '--no-progress']) == 0
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert {'accuracy', 'macro_f1'} <= set(m['valid'])
    (tmp_path/'in.txt').write_text('I loved it.\nDull.\n')
    assert main(['predict', '--model', str(tmp_path/'run'), '--input', str(tmp_path/'in.txt'), '--output', str(tmp_path/'o.jsonl')]) == 0
    out = [json.loads(l) for l in (tmp_path/'o.jsonl').read_text().splitlines()]
    assert all(o['label'] in ('positive', 'negative') and 0 <= o['score'] <= 1 for o in out)

@pytest.mark.parametrize('args,message', [
    (['train', '--train', 'missing.txt'], 'missing.txt: no such file'),
    (['train', '--task', 'classification'], 'needs --train'),
    (['evaluate', '--model', 'nowhere', '--data', 'x.txt'], 'no model here'),
])
def test_errors_are_one_line_without_traceback(tmp_path, args, message):
    r = subprocess.run([str(BIN/'ftbook'), *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and message in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_python_dash_m_and_help():
    r = subprocess.run([sys.executable, '-m', 'ftbook', 'predict', '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '--max-length' in r.stdout
    r = subprocess.run([sys.executable, '-m', 'ftbook', 'train', '--epochs', 'many'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'invalid int value' in r.stderr and 'Traceback' not in r.stderr

def test_split_words_offsets():
    text = "Ada's U.S. trip cost $12,000.50 — e-mail me!"
    words, spans = split_words(text)
    assert [text[a:b] for a, b in spans] == words
    assert '12,000.50' in words and 'e-mail' in words and "Ada's" in words and 'U.S.' in words
