"`ftbook.models`: parity with transformers' task models, save/load round trips, freezing and parameter groups."
import json
import pytest, torch
import torch.nn.functional as F
from transformers import (AutoModel, AutoModelForQuestionAnswering, AutoModelForSequenceClassification,
                          AutoModelForTokenClassification, ElectraConfig, pipeline)

from ftbook.core import set_seed
from ftbook.data import Collator, LabelSet, TextClassificationDataset, TextExample, TokenClassificationDataset, read_conll
from ftbook.models import TaskModel, freeze, param_groups, parameter_counts
from ftbook.testing import CLS_TEXTS, TINY_ARCHS, default_tokenizer, save_tiny_encoder, tiny_config, write_conll

AUTO = {'token': AutoModelForTokenClassification, 'sequence': AutoModelForSequenceClassification}

@pytest.fixture(scope='module')
def tok(): return default_tokenizer()

@pytest.fixture(scope='module')
def token_data(tok, tmp_path_factory):
    sents = read_conll(write_conll(tmp_path_factory.mktemp('d')/'t.txt'))
    labels = LabelSet.from_tags(sents)
    ds = TokenClassificationDataset(sents, tok, labels)
    b = Collator(tok.pad_token_id)([ds[i] for i in range(len(ds))]); b.pop('index')
    return labels, b

@pytest.fixture(scope='module')
def seq_data(tok):
    ex = [TextExample(t, l) for t, l in CLS_TEXTS]
    ds = TextClassificationDataset(ex, tok, LabelSet.from_labels(e.label for e in ex))
    b = Collator(tok.pad_token_id)([ds[i] for i in range(len(ds))]); b.pop('index')
    return ds.labels, b

def data_for(task, token_data, seq_data): return token_data if task == 'token' else seq_data

def hf_model(cfg, task, labels, seed=1):
    cfg.id2label, cfg.label2id = labels.id2label, dict(labels.label2id)
    set_seed(seed)
    return AUTO[task].from_config(cfg).eval()

@pytest.mark.parametrize('arch', TINY_ARCHS)
@pytest.mark.parametrize('task', ['token', 'sequence'])
def test_parity_both_directions(tmp_path, arch, task, token_data, seq_data):
    labels, b = data_for(task, token_data, seq_data)
    theirs = hf_model(tiny_config(arch), task, labels)
    theirs.save_pretrained(tmp_path/'hf')
    ours = TaskModel.from_pretrained(tmp_path/'hf').eval()
    assert ours.labels == labels and ours.task == task
    with torch.no_grad():
        ref, got = theirs(**b), ours(**b)
        assert torch.allclose(ref.logits, got.logits, atol=1e-6) and torch.allclose(ref.loss, got.loss, atol=1e-6)
        ours.save_pretrained(tmp_path/'ours')
        back = AUTO[task].from_pretrained(tmp_path/'ours').eval()
        assert torch.allclose(back(**b).logits, got.logits, atol=1e-6)
    cfg = json.loads((tmp_path/'ours'/'config.json').read_text())
    assert cfg['architectures'] == [type(theirs).__name__] and cfg['id2label']['0'] == labels.labels[0]

def test_electra_sequence_head_style(tmp_path, seq_data):
    labels, b = seq_data
    cfg = ElectraConfig(vocab_size=30522, embedding_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    theirs = hf_model(cfg, 'sequence', labels); theirs.save_pretrained(tmp_path/'e')
    with torch.no_grad(): assert torch.allclose(theirs(**b).logits, TaskModel.from_pretrained(tmp_path/'e').eval()(**b).logits, atol=1e-6)

def test_pairs_use_token_types_where_the_encoder_has_them(tmp_path, tok):
    ex = [TextExample('Who wrote it?', 'yes', 'Ada wrote it.'), TextExample('Is it red?', 'no', 'It is blue.')]
    ds = TextClassificationDataset(ex, tok, LabelSet.from_labels(['no', 'yes']))
    b = Collator(tok.pad_token_id)([ds[0], ds[1]]); b.pop('index')
    assert b['token_type_ids'].sum() > 0
    theirs = hf_model(tiny_config('bert'), 'sequence', ds.labels); theirs.save_pretrained(tmp_path/'b')
    with torch.no_grad():
        assert torch.allclose(theirs(**b).logits, TaskModel.from_pretrained(tmp_path/'b').eval()(**b).logits, atol=1e-6)
    distil = TaskModel.from_encoder(save_tiny_encoder(tmp_path/'d', 'distilbert'), 'sequence', ds.labels).eval()
    with torch.no_grad(): distil(**b)   # DistilBERT has no segment embeddings: token_type_ids are not passed

def test_span_parity(tmp_path, seq_data):
    _, b = seq_data
    set_seed(3); theirs = AutoModelForQuestionAnswering.from_config(tiny_config('roberta')).eval()
    theirs.save_pretrained(tmp_path/'qa')
    ours = TaskModel.from_pretrained(tmp_path/'qa').eval()
    pos = dict(start_positions=torch.arange(8) % 5, end_positions=torch.arange(8) % 5 + 1)
    x = {k: b[k] for k in ('input_ids', 'attention_mask')}
    with torch.no_grad(): ref, got = theirs(**x, **pos), ours(**x, **pos)
    assert torch.allclose(got.logits[..., 0], ref.start_logits, atol=1e-6) and torch.allclose(got.loss, ref.loss, atol=1e-6)

def test_bert_pooler_becomes_the_sequence_head(tmp_path):
    enc_dir = save_tiny_encoder(tmp_path/'enc', 'bert', seed=5)
    pretrained = AutoModel.from_pretrained(enc_dir)
    m = TaskModel.from_encoder(enc_dir, 'sequence', LabelSet(['a', 'b']))
    assert torch.equal(m.head.dense.weight, pretrained.pooler.dense.weight)
    assert m.encoder.pooler is None
    assert TaskModel.from_encoder(enc_dir, 'token', LabelSet(['O'])).encoder.pooler is None

def test_loss_options_reach_the_loss(tmp_path, token_data):
    labels, b = token_data
    w = torch.linspace(0.5, 2, len(labels))
    m = TaskModel.from_encoder(save_tiny_encoder(tmp_path/'enc'), 'token', labels, class_weights=w, label_smoothing=0.1).eval()
    with torch.no_grad(): out = m(**b)
    ref = F.cross_entropy(out.logits.reshape(-1, len(labels)), b['labels'].reshape(-1), weight=w, label_smoothing=0.1)
    assert torch.allclose(out.loss, ref, atol=1e-6)

def test_mean_pooling_round_trip_warns_about_transformers(tmp_path, seq_data):
    labels, b = seq_data
    m = TaskModel.from_encoder(save_tiny_encoder(tmp_path/'enc', 'roberta'), 'sequence', labels, pooling='mean').eval()
    with pytest.warns(UserWarning, match='load it with ftbook'): m.save_pretrained(tmp_path/'mean')
    assert json.loads((tmp_path/'mean'/'config.json').read_text()).get('architectures') is None
    back = TaskModel.from_pretrained(tmp_path/'mean').eval()
    assert back.pooling == 'mean'
    with torch.no_grad(): assert torch.allclose(back(**b).logits, m(**b).logits, atol=1e-6)

def test_pipeline_gives_the_same_predictions(tmp_path, tok, seq_data):
    labels, _ = seq_data
    m = TaskModel.from_encoder(save_tiny_encoder(tmp_path/'enc'), 'sequence', labels).eval()
    m.save_pretrained(tmp_path/'clf', tokenizer=tok)
    clf = pipeline('text-classification', model=str(tmp_path/'clf'), device='cpu', top_k=None)
    text = 'A warm and funny film.'
    with torch.no_grad(): probs = m(**tok(text, return_tensors='pt')).logits.softmax(-1)[0]
    got = {d['label']: d['score'] for d in clf([text])[0]}
    assert all(abs(got[labels.decode(i)] - probs[i].item()) < 1e-5 for i in range(len(labels)))

def test_save_is_atomic(tmp_path, token_data):
    labels, _ = token_data
    m = TaskModel.from_encoder(save_tiny_encoder(tmp_path/'enc'), 'token', labels)
    m.save_pretrained(tmp_path/'model')
    before = (tmp_path/'model'/'model.safetensors').read_bytes()
    class Broken:
        def save_pretrained(self, path): raise RuntimeError('disk full')
    with torch.no_grad(): m.head.classifier.weight.add_(1.0)
    with pytest.raises(RuntimeError, match='disk full'): m.save_pretrained(tmp_path/'model', tokenizer=Broken())
    assert (tmp_path/'model'/'model.safetensors').read_bytes() == before          # the old model is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ['enc', 'model']          # no temporary folder left behind
    m.save_pretrained(tmp_path/'model')
    assert (tmp_path/'model'/'model.safetensors').read_bytes() != before

def test_load_errors(tmp_path, token_data):
    labels, _ = token_data
    enc = save_tiny_encoder(tmp_path/'enc')
    with pytest.raises(ValueError, match='names no token, sequence or span model'): TaskModel.from_pretrained(enc)
    m = TaskModel.from_encoder(enc, 'token', labels); m.save_pretrained(tmp_path/'m')
    cfg = json.loads((tmp_path/'m'/'config.json').read_text()); cfg['num_hidden_layers'] = 3
    (tmp_path/'m'/'config.json').write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r'do not fit a bert token model with \d+ outputs: missing \[.encoder.encoder.layer.2'): TaskModel.from_pretrained(tmp_path/'m')
    with pytest.raises(ValueError, match="task must be one of"): TaskModel(AutoModel.from_pretrained(enc), 'ner', labels)
    with pytest.raises(ValueError, match='needs labels='): TaskModel(AutoModel.from_pretrained(enc), 'token')

def test_check_labels(tmp_path, token_data):
    labels, _ = token_data
    m = TaskModel.from_encoder(save_tiny_encoder(tmp_path/'enc'), 'token', labels)
    m.check_labels(LabelSet(labels.labels))
    with pytest.raises(ValueError, match=r"only in the data: \['B-GPE'\]; only in the model: \['B-LOC'"):
        m.check_labels(LabelSet([l if l != 'B-LOC' else 'B-GPE' for l in labels]))

def test_freeze_and_groups(tmp_path, token_data):
    labels, b = token_data
    m = TaskModel.from_encoder(save_tiny_encoder(tmp_path/'enc', 'distilbert'), 'token', labels)
    counts = parameter_counts(m)
    assert list(counts) == ['embeddings', 'layer 0', 'layer 1', 'head']      # DistilBERT names its layers transformer.layer.N
    assert freeze(m, 'bottom:2')['trainable'] == counts['head']
    groups = param_groups(m)
    assert sum(len(g['params']) for g in groups) == 2 and all(g['lr'] == 5e-5 for g in groups)
    freeze(m, 'embeddings')
    groups = param_groups(m, lr=1.0, layer_decay=0.1)
    assert {round(g['lr'], 6) for g in groups} == {1.0, 0.1, 0.01}
    # frozen parameters get no gradient from a backward pass
    m(**b).loss.backward()
    assert all(p.grad is None for n, p in m.named_parameters() if 'embeddings' in n)
    assert all(p.grad is not None for n, p in m.named_parameters() if n.startswith('head'))
