"Fixtures shared by the test modules."
import pytest

from ftbook.data import LabelSet, read_conll
from ftbook.testing import default_tokenizer, save_tiny_encoder, write_conll

@pytest.fixture(scope='session')
def ner_fixture(tmp_path_factory):
    "The fixture sentences written as CoNLL and read back, their label set, the default tokenizer and a tiny BERT folder."
    d = tmp_path_factory.mktemp('ner')
    sents = read_conll(write_conll(d/'train.txt'))
    return dict(dir=d, tok=default_tokenizer(), sents=sents, labels=LabelSet.from_tags(sents), enc=save_tiny_encoder(d/'enc'))
