"`ftbook.data`: readers and their errors, schemes, alignment on three tokenizer families, windows, batching."
import json, re
from pathlib import Path

import pytest, torch
from hypothesis import given, settings, strategies as st

from ftbook.data import (Collator, LabelSet, LengthGroupedSampler, TaggedSentence, TextClassificationDataset,
                         TextExample, TokenClassificationDataset, check_tokenizer, default_ner_data, detect_scheme,
                         entity_spans, examples_from_hf, iob2_tags, load_tokenizer, padding_waste, read_conll,
                         read_texts, sentences_from_hf, truncation_audit, window_owners, window_spans)
from ftbook.testing import (CLS_TEXTS, NER_SENTENCES, default_tokenizer, tiny_bpe_tokenizer, tiny_unigram_tokenizer,
                            write_conll)

CONLL = Path(__file__).resolve().parents[2]/'shared'/'data'/'conll2003'

@pytest.fixture(scope='module')
def tok(): return default_tokenizer()

@pytest.fixture
def sents(tmp_path): return read_conll(write_conll(tmp_path/'train.txt'))

def write(tmp_path, name, text, binary=False):
    p = tmp_path/name
    p.write_bytes(text) if binary else p.write_text(text, encoding='utf-8')
    return p

# --- readers: every bad input names the file and the line -------------------------------------------------

@pytest.mark.parametrize('name,text,kw,message', [
    ('cols.txt', 'EU B-ORG\nrejects O\n\ncall\n', {}, 'cols.txt:4: expected at least 2 columns'),
    ('tag.txt', 'EU B-ORG\nrejects VERB\n', {}, "tag.txt:2: 'VERB' is not a tag"),
    ('scheme.txt', 'EU B-ORG\nrejects O\nit E-ORG\n', {'scheme': 'IOB2'}, "scheme.txt:3: 'E-ORG' is not a tag"),
    ('col3.txt', 'EU NNP B-ORG\nrejects O\n', {'tag_column': 2}, 'col3.txt:2: expected at least 3 columns'),
    ('empty.txt', '', {}, 'empty.txt: the file is empty'),
    ('blank.txt', '\n\t\n  \n', {}, 'blank.txt: the file is empty'),
    ('docstart.txt', '-DOCSTART- -X- O\n\n-DOCSTART- -X- O\n', {}, 'docstart.txt: no sentences found'),
])
def test_read_conll_errors(tmp_path, name, text, kw, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(')): read_conll(write(tmp_path, name, text), **kw)

def test_read_conll_not_utf8_names_line_and_column(tmp_path):
    p = write(tmp_path, 'latin.txt', 'EU B-ORG\n\nMuller B-PER\nM\xfcller B-PER\n'.encode('latin-1'), binary=True)
    with pytest.raises(ValueError, match='latin.txt:4: byte 0xfc at column 2 is not UTF-8'): read_conll(p)

def test_read_conll_unknown_scheme_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="Unknown tagging scheme 'IOBES'"): read_conll(tmp_path/'x.txt', scheme='IOBES')
    with pytest.raises(FileNotFoundError, match='nope.txt: no such file'): read_conll(tmp_path/'nope.txt')

def test_read_conll_layouts(tmp_path):
    text = '\ufeff-DOCSTART- O\r\n\r\nEU B-ORG \r\nrejects O\r\n\r\n\r\nPeter\tB-PER\t\nBlackburn\tI-PER'  # BOM, CRLF, no final blank
    s = read_conll(write(tmp_path, 'mixed.txt', text))
    assert [(x.words, x.tags) for x in s] == [(['EU', 'rejects'], ['B-ORG', 'O']), (['Peter', 'Blackburn'], ['B-PER', 'I-PER'])]
    assert [x.where() for x in s] == [f'{tmp_path/"mixed.txt"}:3', f'{tmp_path/"mixed.txt"}:7']
    # a word holding a unicode line separator stays one word on one line
    s = read_conll(write(tmp_path, 'sep.txt', 'a\u2028b O\nc O\n'))
    assert s[0].words == ['a\u2028b', 'c']

def test_read_conll_words_only_and_other_columns(tmp_path):
    s = read_conll(write(tmp_path, 'words.txt', 'Hello\nworld\n\nBye\n'), tag_column=None)
    assert [(x.words, x.tags) for x in s] == [(['Hello', 'world'], None), (['Bye'], None)]
    s = read_conll(write(tmp_path, 'cols.txt', 'EU NNP B-ORG x\n'), tag_column=2)
    assert s[0].tags == ['B-ORG']

def test_read_conll_every_fixture_sentence(tmp_path, sents):
    assert [(s.words, s.tags) for s in sents] == [(w, t) for w, t in NER_SENTENCES]

@pytest.mark.parametrize('name,text,kw,message', [
    ('nolabel.csv', 'text,score\nhi,1\n', {}, 'nolabel.csv: cannot tell which column holds the label'),
    ('notext.csv', 'foo,label\nhi,1\n', {}, 'notext.csv: cannot tell which column holds the text'),
    ('missing.csv', 'text,label\nhi,1\n', {'text': 'body'}, "missing.csv: no text column 'body'"),
    ('emptytext.csv', 'text,label\nhi,1\n"",0\n', {}, "emptytext.csv:3: the text ('text') is empty"),
    ('emptylabel.tsv', 'sentence\tlabel\nhi\t\n', {}, "emptylabel.tsv:2: the label ('label') is empty"),
    ('fields.tsv', 'sentence\tlabel\nhi\t1\textra\n', {}, 'fields.tsv:2: expected 2 fields'),
    ('json.jsonl', '{"text": "a", "label": 1}\nnot json\n', {}, 'json.jsonl:2: not valid JSON'),
    ('array.jsonl', '["a", 1]\n', {}, 'array.jsonl:1: each line must be a JSON object'),
    ('keys.jsonl', '{"text": "a", "label": 1}\n{"label": 0}\n', {}, "keys.jsonl:2: the text ('text') is empty"),
    ('nonstr.jsonl', '{"text": 5, "label": 1}\n', {}, "nonstr.jsonl:1: the text ('text') must be a string"),
    ('header.tsv', 'sentence\tlabel\n', {}, 'header.tsv: no examples found'),
    ('commas.csv', 'text,label\nhi,1\n\n,\n', {}, "commas.csv:4: the text ('text') is empty"),
])
def test_read_texts_errors(tmp_path, name, text, kw, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')): read_texts(write(tmp_path, name, text), **kw)

def test_read_texts_detects_columns_and_pairs(tmp_path):
    p = write(tmp_path, 'pairs.csv', 'id,Sentence1,Sentence2,Gold_Label\n1,"A, b",c,entailment\n')
    e = read_texts(p)[0]
    assert (e.text, e.text_b, e.label, e.line) == ('A, b', 'c', 'entailment', 2)
    e = read_texts(write(tmp_path, 'qa.jsonl', json.dumps({'question': 'q?', 'passage': 'p.', 'label': True}) + '\n'))[0]
    assert (e.text, e.text_b, e.label) == ('q?', 'p.', 'True')
    e = read_texts(write(tmp_path, 'unl.csv', 'text\nhello\n'), labelled=False)[0]
    assert (e.text, e.label) == ('hello', None)

def test_read_texts_tsv_keeps_quotes(tmp_path):
    "GLUE's TSV files are not quoted: a quote character is part of the text."
    e = read_texts(write(tmp_path, 'q.tsv', 'sentence\tlabel\n"quoted" start\t1\n'))
    assert e[0].text == '"quoted" start'

# --- labels and schemes ------------------------------------------------------------------------------------

@pytest.mark.parametrize('tags,scheme,iob2', [
    (['I-PER', 'I-PER', 'B-PER', 'O', 'I-LOC'], 'IOB1', ['B-PER', 'I-PER', 'B-PER', 'O', 'B-LOC']),
    (['I-PER', 'I-LOC', 'I-LOC'], 'IOB1', ['B-PER', 'B-LOC', 'I-LOC']),
    (['S-PER', 'B-LOC', 'I-LOC', 'E-LOC', 'O', 'S-LOC'], 'BIOES', ['B-PER', 'B-LOC', 'I-LOC', 'I-LOC', 'O', 'B-LOC']),
    (['B-PER', 'I-PER', 'O', 'B-LOC'], 'IOB2', ['B-PER', 'I-PER', 'O', 'B-LOC']),
])
def test_scheme_detection_and_conversion(tags, scheme, iob2):
    assert detect_scheme([tags]) == scheme
    assert iob2_tags(tags, scheme) == iob2

def test_bioes_file_reads_as_iob2(tmp_path):
    s = read_conll(write(tmp_path, 'bioes.txt', 'New B-LOC\nYork E-LOC\nis O\nbig O\n\nAda S-PER\n'))
    assert [x.tags for x in s] == [['B-LOC', 'I-LOC', 'O', 'O'], ['B-PER']]

def test_labelset_order_roundtrip_and_unknown(tmp_path, sents):
    labels = LabelSet.from_tags(sents)
    assert labels.labels[0] == 'O' and len(labels) == 9
    assert LabelSet.from_tags(reversed(sents)) == labels             # independent of data order
    single = [TaggedSentence(['Paris'], ['B-LOC'])]
    assert LabelSet.from_tags(single).labels == ['O', 'B-LOC', 'I-LOC']  # I- included even if unseen
    labels.save(tmp_path/'l.json'); assert LabelSet.load(tmp_path/'l.json') == labels
    valid = read_conll(write(tmp_path, 'valid.txt', 'a O\nb O\n\nParis B-GPE\n'))
    with pytest.raises(ValueError, match=r"valid.txt:4: label 'B-GPE' is not one of the 9 labels"):
        TokenClassificationDataset(valid, default_tokenizer(), labels)
    with pytest.raises(ValueError, match='unique'): LabelSet(['a', 'a'])

def test_entity_spans():
    assert entity_spans(['O', 'B-A', 'I-A', 'I-B', 'O', 'B-A']) == [('A', 1, 3), ('B', 3, 4), ('A', 5, 6)]

# --- tokenizers and alignment ------------------------------------------------------------------------------

def first_piece_labels(ds, k):
    "(word, label) at each labelled position of window k"
    w = ds.windows[k]; s = ds.sentences[w['sentence']]
    return [(s.words[word], ds.labels.decode(w['labels'][pos])) for word, pos in w['starts']]

@pytest.mark.parametrize('family', ['wordpiece', 'bpe', 'unigram'])
def test_alignment_on_three_tokenizer_families(tmp_path, sents, family):
    tok = {'wordpiece': default_tokenizer, 'bpe': lambda: tiny_bpe_tokenizer(add_prefix_space=True),
           'unigram': tiny_unigram_tokenizer}[family]()
    labels = LabelSet.from_tags(sents)
    ds = TokenClassificationDataset(sents, tok, labels, max_length=512)
    assert len(ds) == len(sents)
    for k, (words, tags) in enumerate(NER_SENTENCES):
        assert first_piece_labels(ds, k) == list(zip(words, tags))
        w = ds.windows[k]
        assert sum(l != -100 for l in w['labels']) == len(words)      # one label per word
        # the first piece of each word is where the tokenizer says that word starts
        enc = tok(words, is_split_into_words=True)
        starts = [enc.word_ids().index(i) for i in range(len(words))]
        assert [pos for _, pos in w['starts']] == starts
        assert w['input_ids'] == enc['input_ids']

def test_label_all_subwords(tok, sents):
    labels = LabelSet.from_tags(sents)
    ds = TokenClassificationDataset(sents, tok, labels, label_all_subwords=True)
    w = ds.windows[4]  # Tolkienesque (3 pieces, B-MISC) ... 12,000 (3 pieces, O) ... New Zealand
    got = [(t, ds.labels.decode(l) if l != -100 else None) for t, l in zip(tok.convert_ids_to_tokens(w['input_ids']), w['labels'])]
    assert got[:4] == [('[CLS]', None), ('tolkien', 'B-MISC'), ('##es', 'I-MISC'), ('##que', 'I-MISC')]
    assert got[6:9] == [('12', 'O'), (',', 'O'), ('000', 'O')]
    assert got[-1] == ('[SEP]', None)

def test_byte_level_bpe_needs_prefix_space(tmp_path):
    raw = tiny_bpe_tokenizer()
    with pytest.raises(ValueError, match='add_prefix_space=True'): check_tokenizer(raw)
    with pytest.raises(ValueError, match='add_prefix_space=True'):
        TokenClassificationDataset([TaggedSentence(['Ada'], ['O'])], raw, LabelSet(['O']))
    raw.save_pretrained(tmp_path/'bpe')
    fixed = load_tokenizer(tmp_path/'bpe')
    check_tokenizer(fixed)
    assert fixed(['Ada', 'Lovelace'], is_split_into_words=True)['input_ids'] == fixed('Ada Lovelace')['input_ids']

def test_slow_tokenizer_is_refused(tok):
    class Slow:  # stands in for a pure-Python tokenizer
        is_fast = False
    with pytest.raises(ValueError, match='needs `word_ids\\(\\)`'): check_tokenizer(Slow())

def test_words_without_tokens_keep_their_place(tok):
    labels = LabelSet(['O', 'B-LOC', 'I-LOC'])
    s = [TaggedSentence(['\x00', 'Rome', '\u200b', 'and', '\ufeff'], ['O', 'B-LOC', 'O', 'O', 'B-LOC'], 'f.txt', 10)]
    with pytest.warns(UserWarning, match=r"3 word\(s\) gave no sub-word token .* at f.txt:10"):
        ds = TokenClassificationDataset(s, tok, labels)
    assert ds.empty_words == [(0, 0), (0, 2), (0, 4)]
    assert first_piece_labels(ds, 0) == list(zip(s[0].words, s[0].tags))

def test_max_length_too_small(tok, sents):
    with pytest.raises(ValueError, match='leaves no room'): TokenClassificationDataset(sents, tok, LabelSet.from_tags(sents), max_length=2)
    with pytest.raises(ValueError, match='stride must be'): TokenClassificationDataset(sents, tok, LabelSet.from_tags(sents), max_length=10, stride=8)

def test_word_longer_than_a_window_is_cut_but_kept(tok):
    s = [TaggedSentence(['Hello', 'Tolkienesque', 'world'], ['O', 'B-MISC', 'O'], 'g.txt', 5)]
    with pytest.warns(UserWarning, match=r'1 word\(s\) have more sub-word tokens than a window holds \(2\).*g.txt:6'):
        ds = TokenClassificationDataset(s, tok, LabelSet(['O', 'B-MISC', 'I-MISC']), max_length=4, stride=0)
    assert ds.truncated_words == [(0, 1)] and max(ds.lengths) <= 4
    assert sum((first_piece_labels(ds, k) for k in range(len(ds))), []) == [('Hello', 'O'), ('Tolkienesque', 'B-MISC'), ('world', 'O')]

def test_words_and_tags_must_pair_up(tok):
    with pytest.raises(ValueError, match=r'api: 3 words but 2 tags'):
        TokenClassificationDataset([TaggedSentence(['a', 'b', 'c'], ['O', 'O'], 'api')], tok, LabelSet(['O']))

def test_unlabelled_sentences(tok):
    ds = TokenClassificationDataset([TaggedSentence(['Hello', 'world'])], tok)
    assert 'labels' not in ds[0] and ds.word_values([[7, 8, 9, 10]]) == [[8, 9]]
    with pytest.raises(ValueError, match='pass labels='): TokenClassificationDataset([TaggedSentence(['a'], ['O'])], tok)

# --- windows -----------------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(counts=st.lists(st.integers(1, 12), min_size=1, max_size=80), budget=st.integers(1, 40), data=st.data())
def test_windows_cover_every_word_once(counts, budget, data):
    stride = data.draw(st.integers(0, budget - 1))
    spans = window_spans(counts, budget, stride)
    clipped = [min(c, budget) for c in counts]
    assert spans[0][0] == 0 and spans[-1][1] == len(counts)
    for (a, b), (c, d) in zip(spans, spans[1:]):
        assert a < c <= b                                   # forward progress, no gap
        assert sum(clipped[c:b]) <= stride                  # neighbours share at most `stride` tokens
    for a, b in spans: assert a < b and sum(clipped[a:b]) <= budget
    owners = window_owners(clipped, spans)
    for w, k in enumerate(owners): assert spans[k][0] <= w < spans[k][1]

@pytest.mark.filterwarnings('ignore:.*more sub-word tokens than a window holds')
@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6), max_length=st.integers(6, 40), data=st.data())
def test_every_word_predicted_from_exactly_one_window(lengths, max_length, data):
    "Random sentences, maximum lengths and strides: each word gets exactly one prediction, none lost."
    stride = data.draw(st.integers(0, max_length - 3))
    vocab = ['the', 'Tolkienesque', 'Lovelace', '12,000', 'a', 'Zealand', 'unbelievably', '.']
    sents = [TaggedSentence([vocab[(i * 7 + j * 3) % len(vocab)] for j in range(n)], ['O'] * n) for i, n in enumerate(lengths)]
    ds = TokenClassificationDataset(sents, _TOK, LabelSet(['O']), max_length=max_length, stride=stride)
    assert max(ds.lengths) <= max_length
    seen = {}
    for k, w in enumerate(ds.windows):
        for word, pos in w['starts']:
            assert (w['sentence'], word) not in seen
            seen[w['sentence'], word] = k
            assert w['labels'][pos] == 0                    # owned words carry their label in their window
        assert sum(l != -100 for l in w['labels']) == len(w['starts'])
    assert len(seen) == sum(lengths)
    values = ds.word_values([[(k, p) for p in range(len(w['input_ids']))] for k, w in enumerate(ds.windows)])
    assert all(v is not None and v[0] == seen[i, j] for i, s in enumerate(values) for j, v in enumerate(s))

_TOK = default_tokenizer()

def test_truncation_audit_agrees_with_tokenizer_truncation(tok, sents):
    for m in (8, 16, 24, 64):
        audit = truncation_audit(sents, tok, m)
        kept = [len({w for w in tok(s.words, is_split_into_words=True, truncation=True, max_length=m).word_ids() if w is not None}) for s in sents]
        assert audit['words_lost'] == sum(len(s) for s in sents) - sum(kept)
        assert audit['entities_lost'] == sum(sum(e > k for _, _, e in entity_spans(s.tags)) for s, k in zip(sents, kept))

# --- text classification -----------------------------------------------------------------------------------

def test_text_dataset_truncate_and_window(tok):
    ex = [TextExample(t, l) for t, l in CLS_TEXTS] + [TextExample(' '.join(['long'] * 100), 'positive')]
    labels = LabelSet.from_labels(e.label for e in ex)
    with pytest.warns(UserWarning, match='1 of 9 texts are longer than max_length=32'):
        cut = TextClassificationDataset(ex, tok, labels, max_length=32, long='truncate')
    assert len(cut) == 9 and cut.truncated == 1 and max(cut.lengths) == 32
    win = TextClassificationDataset(ex, tok, labels, max_length=32, long='window', stride=10)
    n_windows = len(win) - 8
    assert n_windows == 5   # 100 tokens, 30 per window, advancing 20: starts 0, 20, 40, 60, 80
    assert all(it['labels'] == labels.encode('positive') for it in win.items[8:])
    means = win.example_values([torch.tensor([float(i)]) for i in range(len(win))])
    assert len(means) == 9 and means[8].item() == sum(range(8, len(win))) / n_windows

def test_text_pairs_truncate_and_window(tok):
    ex = [TextExample('Who?', 'yes', ' '.join(['passage'] * 60)), TextExample('A dog.', 'no', 'A cat.')]
    labels = LabelSet.from_labels(['yes', 'no'])
    with pytest.warns(UserWarning, match='1 of 2 texts are longer'): ds = TextClassificationDataset(ex, tok, labels, max_length=24, long='truncate')
    assert [len(it['input_ids']) for it in ds.items] == [24, len(tok('A dog.', 'A cat.')['input_ids'])]
    assert ds[1]['token_type_ids'] == tok('A dog.', 'A cat.')['token_type_ids']
    win = TextClassificationDataset(ex, tok, labels, max_length=24, long='window', stride=4)
    first = [it for it in win.items if it['example'] == 0]
    assert len(first) > 1 and all(tok.decode(it['input_ids']).startswith('[CLS] who? [SEP]') for it in first)

# --- batching ----------------------------------------------------------------------------------------------

def test_collator_pads_and_masks(tok, sents):
    ds = TokenClassificationDataset(sents, tok, LabelSet.from_tags(sents))
    b = Collator(tok.pad_token_id)([ds[i] for i in range(len(ds))])
    n = max(ds.lengths)
    assert b['input_ids'].shape == (6, n) and b['labels'].shape == (6, n)
    assert (b['attention_mask'].sum(1) == torch.tensor(ds.lengths)).all()
    assert ((b['input_ids'] == tok.pad_token_id) == (b['attention_mask'] == 0)).all()
    assert (b['labels'][b['attention_mask'] == 0] == -100).all()
    assert Collator(pad_to_multiple_of=8)([ds[2]])['input_ids'].shape[1] % 8 == 0
    cb = Collator()([{'input_ids': [1, 2], 'labels': 1}, {'input_ids': [1], 'labels': 0}])
    assert cb['labels'].tolist() == [1, 0] and cb['input_ids'].tolist() == [[1, 2], [1, 0]]

@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 200), min_size=1, max_size=300), bs=st.integers(1, 20),
       group=st.integers(1, 8), seed=st.integers(0, 1000), stop=st.integers(0, 40))
def test_sampler_reproducible_complete_resumable(lengths, bs, group, seed, stop):
    s = LengthGroupedSampler(lengths, bs, group=group, seed=seed)
    batches = s.batches(3)
    assert batches == LengthGroupedSampler(lengths, bs, group=group, seed=seed).batches(3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert len(batches) == len(s)
    size = lambda b: len(b) * max(lengths[i] for i in b)
    assert size(batches[0]) == max(map(size, batches))              # the largest padded batch first
    s.set_epoch(3)
    assert list(s) == batches                                        # as a DataLoader's batch sampler
    k = min(stop, len(batches))                                      # fit resumes at batch k by slicing the same list
    assert batches[:k] + LengthGroupedSampler(lengths, bs, group=group, seed=seed).batches(3)[k:] == batches

def test_sampler_eval_order_and_drop_last():
    s = LengthGroupedSampler([3, 9, 1, 7, 5], 2, shuffle=False)
    assert s.batches() == [[1, 3], [4, 0], [2]]
    assert LengthGroupedSampler([3, 9, 1, 7, 5], 2, shuffle=False, drop_last=True).batches() == [[1, 3], [4, 0]]

def test_padding_waste():
    assert padding_waste([2, 4], [[0, 1]]) == 0.25
    assert padding_waste([2, 4], [[0], [1]]) == 0.0
    assert padding_waste([2, 4], [[0], [1]], pad_to=8) == 1 - 6 / 16

# --- other sources -----------------------------------------------------------------------------------------

def test_hf_datasets():
    pytest.importorskip('datasets')
    from datasets import ClassLabel, Dataset, Features, Sequence, Value
    names = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC']
    ds = Dataset.from_dict({'tokens': [['Ada', 'Lovelace'], ['in', 'Paris']], 'ner_tags': [[1, 2], [0, 3]]},
                           features=Features({'tokens': Sequence(Value('string')), 'ner_tags': Sequence(ClassLabel(names=names))}))
    s = sentences_from_hf(ds, name='train')
    assert [(x.words, x.tags, x.where()) for x in s] == [(['Ada', 'Lovelace'], ['B-PER', 'I-PER'], 'train row 0'),
                                                        (['in', 'Paris'], ['O', 'B-LOC'], 'train row 1')]
    strs = Dataset.from_dict({'words': [['x', 'y']], 'tags': [['I-ORG', 'I-ORG']]})   # string tags, IOB1
    assert sentences_from_hf(strs, words='words', tags='tags')[0].tags == ['B-ORG', 'I-ORG']
    with pytest.raises(ValueError, match="train: no column 'labels'"): sentences_from_hf(ds, tags='labels', name='train')
    bad = Dataset.from_dict({'tokens': [['a', 'b']], 'ner_tags': [['O']]})
    with pytest.raises(ValueError, match='dataset row 0: 2 words but 1 tags'): sentences_from_hf(bad)
    cls = Dataset.from_dict({'sentence': ['good', 'bad'], 'label': [1, 0]},
                            features=Features({'sentence': Value('string'), 'label': ClassLabel(names=['neg', 'pos'])}))
    assert [(e.text, e.label) for e in examples_from_hf(cls)] == [('good', 'pos'), ('bad', 'neg')]

def test_default_ner_data_split_is_fixed():
    train, valid = default_ner_data()
    assert (len(train), len(valid)) == (2155, 239)
    assert {s.where() for s in train}.isdisjoint(s.where() for s in valid)
    again = default_ner_data()[1]
    assert [s.words for s in again] == [s.words for s in valid]
    assert default_ner_data(seed=1)[1][0].words != valid[0].words

# --- CoNLL-2003 (the shared data folder beside the repository, when present) ------------------------------

@pytest.mark.skipif(not CONLL.exists(), reason='CoNLL-2003 is not beside the repository')
def test_conll2003_length_grouping_keeps_padding_under_10_percent(tok):
    train = read_conll(CONLL/'train.txt')
    assert len(train) == 14041 and sum(len(s) for s in train) == 203621
    ds = TokenClassificationDataset(train, tok, LabelSet.from_tags(train), max_length=128)
    grouped = padding_waste(ds.lengths, LengthGroupedSampler(ds.lengths, 16, seed=0).batches(0))
    perm = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()
    fixed = padding_waste(ds.lengths, [perm[i:i + 16] for i in range(0, len(perm), 16)], pad_to=128)
    assert grouped < 0.10 and fixed > 0.80
    # windows: no word of CoNLL-2003 lost at max_length 32
    small = TokenClassificationDataset(train, tok, LabelSet.from_tags(train), max_length=32, stride=8)
    assert sum(len(w['starts']) for w in small.windows) == 203621

SST2 = CONLL.parent/'sst2'

@pytest.mark.skipif(not SST2.exists(), reason='SST-2 is not beside the repository')
def test_sst2_reads_and_tokenizes(tok):
    dev, test = read_texts(SST2/'dev.tsv'), read_texts(SST2/'test.tsv')
    assert (len(dev), len(test)) == (6735, 872)
    labels = LabelSet.from_labels(e.label for e in dev)
    assert labels.labels == ['0', '1']
    ds = TextClassificationDataset(test, tok, labels, max_length=128)
    assert len(ds) == 872 and ds.truncated == 0

# --- Public corpora through FTBOOK_DATA or the hub -----------------------------------------------------------

def test_public_corpora_read_the_folder_ftbook_data_names(tmp_path, monkeypatch):
    from ftbook.data import DATA_ENV, load_conll2003, load_sst2
    (tmp_path/'conll2003').mkdir(); (tmp_path/'sst2').mkdir()
    for s in ('train', 'valid', 'test'): write_conll(tmp_path/'conll2003'/f'{s}.txt', NER_SENTENCES[:2])
    for s in ('train', 'dev', 'test'): (tmp_path/'sst2'/f'{s}.tsv').write_text('sentence\tlabel\nfine\t1\nbad\t0\n')
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    c = load_conll2003()
    assert set(c) == {'train', 'valid', 'test'} and [s.words for s in c['test']] == [list(w) for w, _ in NER_SENTENCES[:2]]
    assert c['train'][0].where().startswith(str(tmp_path/'conll2003'/'train.txt'))     # errors will name the file and line
    assert [e.label for e in load_sst2()['dev']] == ['positive', 'negative']
    (tmp_path/'conll2003'/'valid.txt').unlink()
    with pytest.raises(FileNotFoundError, match='has no valid.txt'): load_conll2003()

def test_public_corpora_without_the_hub_say_what_to_do(monkeypatch):
    import datasets
    from ftbook.data import DATA_ENV, load_conll2003, load_sst2
    monkeypatch.delenv(DATA_ENV, raising=False)
    def offline(*a, **k): raise OSError("Couldn't reach the hub")
    monkeypatch.setattr(datasets, 'load_dataset', offline)
    for load in (load_conll2003, load_sst2):
        with pytest.raises(ConnectionError, match='set FTBOOK_DATA'): load()

# ---- the readers, fuzzed: malformed files give a ValueError naming the file, never another exception
from hypothesis import HealthCheck, given, settings, strategies as st

_PIECES = ['\ufeff', '\x00', '"', "'", '""', '\r\n', '\n', '\n\n', '\r', '\t', ',', ' ', '  ', 'B-', 'I-', 'E-', 'S-', 'O', 'B-PER',
           'I-PER', 'S-LOC', 'E-LOC', 'I-', 'B-ORG', '-DOCSTART-', 'Ada', 'word', 'text', 'label', 'sentence', 'sentence1', 'text_b',
           '{', '}', '[', ']', ':', '"text"', '"label"', '"text": ', 'null', 'true', '1', '0', '\u2028', '\x85', '\xa0', 'é', '字', '\\']
_CONTENT = st.one_of(st.binary(max_size=120),
                     st.lists(st.sampled_from(['\ufeff', '\x00', ' ', '\n', '\r\n', '\t', '\r', '\u2028']), max_size=4).map(
                         lambda parts: ''.join(parts).encode('utf-8')),   # files of nothing: BOMs, NULs, white space
                     st.lists(st.sampled_from(_PIECES), max_size=40).map(lambda parts: ''.join(parts).encode('utf-8')),
                     st.lists(st.sampled_from(_PIECES), max_size=40).map(lambda parts: ''.join(parts).encode('utf-8', 'ignore')[:-1]),
                     st.lists(st.sampled_from(_PIECES), max_size=20).map(lambda parts: ''.join(parts).encode('latin-1', 'replace')),
                     st.tuples(st.sampled_from(['text,label\nhello,1\n', 'sentence\tlabel\nhello\t1\n', '{"text": "a", "label": "1"}\n',
                                                'Ada B-PER\nLovelace I-PER\n\n', 'B-PER\tAda\n']),
                               st.lists(st.sampled_from(_PIECES), max_size=12)).map(lambda t: (t[0] + ''.join(t[1])).encode('utf-8')))
_READERS = {'.txt': [read_conll, lambda p: read_conll(p, tag_column=None), lambda p: read_conll(p, scheme='IOB1'),
                     lambda p: read_conll(p, tag_column=0)],
            '.csv': [read_texts, lambda p: read_texts(p, labelled=False)], '.tsv': [read_texts, lambda p: read_texts(p, labelled=False)],
            '.jsonl': [read_texts, lambda p: read_texts(p, labelled=False)]}

@pytest.mark.parametrize('suffix', list(_READERS))
def test_readers_fuzzed(suffix):
    "300 generated files per format (1,200 in all), read every way: each is read, or refused with a ValueError naming the file."
    import tempfile
    folder = Path(tempfile.mkdtemp())
    seen, kinds = {'read': 0, 'refused': 0}, set()
    @settings(max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(data=_CONTENT)
    def check(data):
        path = folder/f'fuzz{suffix}'
        path.write_bytes(data)
        for read in _READERS[suffix]:
            try: read(path); seen['read'] += 1
            except ValueError as e:
                assert str(path) in str(e), f'{e!r} does not name the file'
                seen['refused'] += 1; kinds.add(re.sub(r'[:\d]+', '', str(e).replace(str(path), ''))[:25])
    check()
    assert seen['refused'] > 200 and len(kinds) >= 4, (seen, kinds)   # many files refused, for several different reasons
