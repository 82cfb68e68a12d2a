"The `ftbook` command: end to end on fixtures, its files, errors without tracebacks, agreement with pipeline."
import json, subprocess, sys
from pathlib import Path

import pytest, torch
from transformers import pipeline

from ftbook.cli import main
from ftbook.data import split_words
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
    names = {p.name for p in (run/'run').iterdir()}
    assert {'config.json', 'model.safetensors', 'tokenizer.json', 'history.csv', 'metrics.json', 'training_curves.png',
            'train_config.json'} <= names and any(n.startswith('checkpoint-') for n in names)
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
    hf = pipeline('token-classification', model=str(run/'run'), aggregation_strategy='first', device='cpu')
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
    (['train', '--train', 'missing.txt'], '--train: no such file: missing.txt'),
    (['train', '--task', 'classification'], '--train: is needed with --task classification'),
    (['evaluate', '--model', 'nowhere', '--data', 'x.txt'], '--data: no such file'),
    (['predict', '--model', 'nowhere'], '--model: no such folder: nowhere'),
])
def test_errors_are_one_line_without_traceback(tmp_path, args, message):
    r = subprocess.run([str(BIN/'ftbook'), *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and message in r.stderr and 'Traceback' not in r.stderr, r.stderr

BAD_VALUES = [  # (flags, the message's start): each must exit 2 before any model or file is loaded
    (['--lr', '-1'], '--lr: must be a number above 0, got -1.0'), (['--lr', '0'], '--lr: must be a number above 0'),
    (['--epochs', '-1'], '--epochs: must be an integer of at least 1, got -1'), (['--batch-size', '0'], '--batch-size: must be'),
    (['--grad-accum', '0'], '--grad-accum: must be'), (['--warmup', '1'], '--warmup: must be a share of the steps'),
    (['--warmup', '-0.1'], '--warmup: must be'), (['--schedule', 'step'], "--schedule: must be one of 'linear', 'cosine', 'constant'"),
    (['--precision', 'fp8'], "--precision: must be one of 'auto', 'fp32'"), (['--freeze', 'top:2'], "--freeze: must be one of 'none'"),
    (['--device', 'tpu'], "--device: must be one of 'auto'"), (['--max-steps', '0'], '--max-steps: must be'),
    (['--eval-every', '-5'], '--eval-every: must be'), (['--layer-decay', '1.5'], '--layer-decay: must be'),
    (['--max-grad-norm', '0'], '--max-grad-norm: must be'), (['--weight-decay', '-1'], '--weight-decay: must be'),
    (['--max-length', '2'], '--max-length: must be'), (['--stride', '200'], '--stride: must be'),
    (['--label-smoothing', '1'], '--label-smoothing: must be'), (['--max-train-samples', '0'], '--max-train-samples: must be'),
    (['--model', '/no/such/dir'], '--model: no such folder: /no/such/dir'), (['--config', 'nope.json'], '--config: no such file'),
]

def test_bad_values_exit_2_naming_the_flag(tmp_path):
    "Each bad value: exit status 2 and one line naming the flag, in-process (fast) for all, in a shell for one."
    import contextlib, io
    for flags, message in BAD_VALUES:
        err = io.StringIO()
        with contextlib.redirect_stderr(err): status = main(['train', '--output', str(tmp_path/'never'), *flags])
        assert status == 2 and err.getvalue().startswith('ftbook train: error: ' + message), (flags, err.getvalue())
        assert err.getvalue().count('\n') == 1
    assert not (tmp_path/'never').exists()                     # nothing was started
    r = subprocess.run([str(BIN/'ftbook'), 'train', '--lr', '-1'], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and r.stderr == 'ftbook train: error: --lr: must be a number above 0, got -1.0.\n'

def test_help_lists_every_trainconfig_field():
    import dataclasses
    from fastcore.docments import docments
    from ftbook.train import TrainConfig
    r = subprocess.run([str(BIN/'ftbook'), 'train', '--help'], capture_output=True, text=True, timeout=120)
    text, docs = ' '.join(r.stdout.split()), docments(TrainConfig)
    fields = dataclasses.fields(TrainConfig)
    assert len(fields) >= 26
    for f in fields:
        flag = '--batch-size' if f.name == 'bs' else '--' + f.name.replace('_', '-')
        assert flag in text and ' '.join(docs[f.name].split()) in text, f.name

def test_config_repeats_a_run_and_flags_override_it(run, tmp_path):
    saved = json.loads((run/'run'/'train_config.json').read_text())
    assert saved['epochs'] == 10 and saved['lr'] == 3e-3 and saved['bs'] == 4 and Path(saved['train']).is_absolute()
    assert main(['train', '--config', str(run/'run'/'config.json'), '--epochs', '1', '--output', str(tmp_path/'again')]) == 0
    again = json.loads((tmp_path/'again'/'train_config.json').read_text())
    assert again == {**saved, 'epochs': 1}
    (tmp_path/'bad.json').write_text(json.dumps({'epochs': 2, 'learning_rate': 1e-3}))
    assert main(['train', '--config', str(tmp_path/'bad.json')]) == 2

def test_a_saved_generation_config_of_older_ftbook_still_repeats(tmp_path):
    "Older ftbook saved `stride` for generation runs too (unused there); --stride given now is refused, a saved one is dropped."
    from ftbook.cli import _check_args, _parse
    from ftbook.tasks import get_task
    (tmp_path/'train_config.json').write_text(json.dumps({'task': 'generation', 'stride': 32, 'max_length': 512, 'epochs': 1}))
    args = _parse(['train', '--config', str(tmp_path)])
    assert args.stride is None and args.epochs == 1
    _check_args(args, get_task('generation'))              # raises ConfigError if the stride were still there
    assert main(['train', '--task', 'generation', '--stride', '32']) == 2

@pytest.fixture(scope='module')
def weak(tmp_path_factory):
    "A model trained briefly: it gets some entities right and some wrong."
    d = tmp_path_factory.mktemp('weak')
    write_conll(d/'train.txt', NER_SENTENCES * 3)
    assert main(['train', '--train', str(d/'train.txt'), '--valid', str(d/'train.txt'), '--model', str(save_tiny_encoder(d/'enc')),
                 '--output', str(d/'run'), '--epochs', '5', '--lr', '3e-3', '--batch-size', '4', '--no-progress']) == 0
    return d

def _read_conlleval(path):
    "Sentences of (word, gold, predicted) from a `word gold predicted` file, read without ftbook."
    sents, cur = [], []
    for line in Path(path).read_text(encoding='utf-8').split('\n'):
        if line.strip(): cur.append(line.split(' '))
        elif cur: sents.append(cur); cur = []
    return sents

def test_conll_predictions_score_as_ftbook_evaluate(weak, tmp_path, capsys):
    from seqeval.metrics import f1_score
    data = weak/'train.txt'
    assert main(['evaluate', '--model', str(weak/'run'), '--data', str(data), '--output', str(tmp_path/'m.json'),
                 '--predictions', str(tmp_path/'eval.txt')]) == 0
    assert main(['predict', '--model', str(weak/'run'), '--format', 'conll', '--input', str(data), '--output', str(tmp_path/'pred.txt')]) == 0
    ours = json.loads((tmp_path/'m.json').read_text())['f1']
    sents = _read_conlleval(tmp_path/'pred.txt')
    assert (tmp_path/'pred.txt').read_text() == (tmp_path/'eval.txt').read_text()
    assert [[w for w, _, _ in s] for s in sents] == [w for w, _ in NER_SENTENCES] * 3       # every word, in order
    assert [[g for _, g, _ in s] for s in sents] == [t for _, t in NER_SENTENCES] * 3
    theirs = f1_score([[g for _, g, _ in s] for s in sents], [[p for _, _, p in s] for s in sents])   # seqeval's default: conlleval's rules
    assert 0 < ours < 1 and ours == pytest.approx(theirs, abs=1e-12)
    # words only (no gold column): `word predicted` lines, the same predictions
    (tmp_path/'words.txt').write_text('\n\n'.join('\n'.join(w) for w, _ in NER_SENTENCES) + '\n')
    assert main(['predict', '--model', str(weak/'run'), '--format', 'conll', '--input', str(tmp_path/'words.txt'), '--output', str(tmp_path/'w.txt')]) == 0
    assert [[l.split(' ') for l in block] for block in [b.split('\n') for b in (tmp_path/'w.txt').read_text().strip().split('\n\n')]] == \
           [[[w, p] for w, _, p in s] for s in sents[:len(NER_SENTENCES)]]

def test_tag_column_and_scheme_read_tag_first_bioes_files(weak, tmp_path):
    "MIT Movie style: the tag first, then the word; BIOES tags, converted to IOB2 on reading."
    from ftbook.data import iob2_tags
    def bioes(tags):
        out = []
        for i, t in enumerate(tags):
            nxt = tags[i + 1] if i + 1 < len(tags) else 'O'
            end = not nxt.startswith('I-')
            out.append(t if t == 'O' else ('S-' if t[0] == 'B' and end else 'B-' if t[0] == 'B' else 'E-' if end else 'I-') + t[2:])
        return out
    lines = ['\n'.join(f'{t}\t{w}' for w, t in zip(words, bioes(tags))) for words, tags in NER_SENTENCES]
    (tmp_path/'movie.bio').write_text('\n\n'.join(lines) + '\n')
    assert all(iob2_tags(bioes(t), 'BIOES') == t for _, t in NER_SENTENCES)
    assert main(['evaluate', '--model', str(weak/'run'), '--data', str(tmp_path/'movie.bio'), '--tag-column', '0', '--scheme', 'bioes',
                 '--output', str(tmp_path/'a.json')]) == 0
    assert main(['evaluate', '--model', str(weak/'run'), '--data', str(weak/'train.txt'), '--output', str(tmp_path/'b.json')]) == 0
    a, b = (json.loads((tmp_path/f).read_text()) for f in ('a.json', 'b.json'))
    assert a['f1'] == b['f1'] and a['words'] * 3 == b['words']
    r = subprocess.run([str(BIN/'ftbook'), 'evaluate', '--model', str(weak/'run'), '--data', str(tmp_path/'movie.bio')],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and '--tag-column N in the shell' in r.stderr and 'Traceback' not in r.stderr

def test_old_run_layout_still_loads(weak, tmp_path):
    import shutil
    old = tmp_path/'old'
    (old/'model').mkdir(parents=True)
    for f in (weak/'run').iterdir():
        if f.is_file() and f.name not in ('metrics.json', 'history.csv', 'training_curves.png', 'train_config.json'): shutil.copy(f, old/'model'/f.name)
    (tmp_path/'in.txt').write_text('Ada Lovelace lived in London.\n')
    for m in (weak/'run', old):
        assert main(['predict', '--model', str(m), '--input', str(tmp_path/'in.txt'), '--output', str(tmp_path/f'{m.name}.jsonl')]) == 0
    assert (tmp_path/'run.jsonl').read_text() == (tmp_path/'old.jsonl').read_text()

def test_long_texts_score_the_same_in_evaluate_and_predict(tmp_path):
    "Classification: a text longer than --max-length is windowed in training, evaluation and prediction alike."
    rows = ['text,label'] + [f'"{t}",{l}' for t, l in CLS_TEXTS * 3]
    (tmp_path/'train.csv').write_text('\n'.join(rows) + '\n')
    enc = save_tiny_encoder(tmp_path/'enc')
    assert main(['train', '--task', 'classification', '--train', str(tmp_path/'train.csv'), '--model', str(enc), '--max-length', '16',
                 '--stride', '4', '--output', str(tmp_path/'run'), '--epochs', '2', '--batch-size', '4', '--no-progress']) == 0
    texts = [' '.join([t] * 12) for t, _ in CLS_TEXTS[:4]]                # each far longer than 16 tokens
    (tmp_path/'long.csv').write_text('text,label\n' + ''.join(f'"{t}",{l}\n' for t, (_, l) in zip(texts, CLS_TEXTS)))
    (tmp_path/'long.txt').write_text('\n'.join(texts) + '\n')
    assert main(['evaluate', '--model', str(tmp_path/'run'), '--data', str(tmp_path/'long.csv'), '--max-length', '16', '--stride', '4',
                 '--output', str(tmp_path/'m.json'), '--predictions', str(tmp_path/'p.tsv')]) == 0
    assert main(['predict', '--model', str(tmp_path/'run'), '--input', str(tmp_path/'long.txt'), '--max-length', '16', '--stride', '4',
                 '--output', str(tmp_path/'o.jsonl')]) == 0
    evaluated = [line.split('\t')[-1] for line in (tmp_path/'p.tsv').read_text().splitlines()[1:]]
    predicted = [json.loads(l)['label'] for l in (tmp_path/'o.jsonl').read_text().splitlines()]
    assert evaluated == predicted and len(predicted) == 4

def test_python_dash_m_and_help():
    r = subprocess.run([sys.executable, '-m', 'ftbook', 'predict', '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '--max-length' in r.stdout
    r = subprocess.run([sys.executable, '-m', 'ftbook', 'train', '--epochs', 'many'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--epochs: invalid int value: 'many'" in r.stderr and 'Traceback' not in r.stderr

def test_split_words_offsets():
    text = "Ada's U.S. trip cost $12,000.50 — e-mail me!"
    words, spans = split_words(text)
    assert [text[a:b] for a, b in spans] == words
    assert '12,000.50' in words and 'e-mail' in words and "Ada's" in words and 'U.S.' in words

def test_kill_9_at_any_point_then_resume_gives_the_uninterrupted_weights(tmp_path):
    """`ftbook train` killed with SIGKILL mid-step, mid-evaluation, mid-checkpoint and mid-final-save; `--resume` ends each
    run with exactly the weights of a run never interrupted, and the run folder stays readable after every kill."""
    from safetensors.torch import load_file
    from ftbook.models import TaskModel
    from ftbook.runs import checkpoints
    data = write_conll(tmp_path/'train.txt', NER_SENTENCES * 3)
    enc = save_tiny_encoder(tmp_path/'enc')
    common = ['train', '--train', str(data), '--valid', str(data), '--model', str(enc), '--epochs', '3', '--lr', '3e-3',
              '--batch-size', '4', '--eval-every', '3', '--no-progress']
    def ftbook(*extra, kill=None):
        pre = [str(Path(__file__).parent/'killed_train.py'), *kill, '--'] if kill else ['-m', 'ftbook']
        return subprocess.run([sys.executable, *pre, *common, *extra], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    r = ftbook('--output', str(tmp_path/'whole'))
    assert r.returncode == 0, r.stderr[-2000:]
    whole = load_file(str(tmp_path/'whole'/'model.safetensors'))
    for point, n in [('step', 5), ('eval', 3), ('save', 2), ('final', 2)]:
        out = tmp_path/point
        r = ftbook('--output', str(out), kill=(point, str(n)))
        assert r.returncode == -9, (point, r.returncode, r.stderr[-2000:])          # killed, not finished
        found = checkpoints(out)                                                     # tidies what the kill left
        assert found and not [p.name for p in out.iterdir() if p.name.endswith(('.tmp', '.old'))], point
        for ck in found: TaskModel.from_pretrained(ck)                               # every checkpoint left loads
        r = ftbook('--output', str(out), '--resume')
        assert r.returncode == 0, (point, r.stderr[-2000:])
        resumed = load_file(str(out/'model.safetensors'))
        assert resumed.keys() == whole.keys() and all(torch.equal(resumed[k], whole[k]) for k in whole), point
