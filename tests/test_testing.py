"`ftbook.testing`: the tiny encoders and fixtures later chapters rely on."
import pytest, torch
from transformers import AutoModel, AutoTokenizer

from ftbook.testing import (CLS_TEXTS, NER_SENTENCES, TINY_ARCHS, conll_text, default_tokenizer, save_tiny_encoder,
                            tiny_config, tiny_encoder, write_conll)

@pytest.mark.parametrize('arch', TINY_ARCHS)
def test_tiny_encoder_runs_on_the_default_tokenizer_output(arch):
    tok = default_tokenizer()
    batch = tok([' '.join(w) for w, _ in NER_SENTENCES], padding=True, return_tensors='pt')
    enc = tiny_encoder(arch)
    with torch.no_grad(): h = enc(input_ids=batch['input_ids'], attention_mask=batch['attention_mask']).last_hidden_state
    assert h.shape == (len(NER_SENTENCES), batch['input_ids'].shape[1], 32)
    assert sum(p.numel() for p in enc.parameters()) < 1.1e6
    assert not enc.training

@pytest.mark.parametrize('arch', TINY_ARCHS)
def test_tiny_encoder_takes_the_longest_input(arch):
    enc = tiny_encoder(arch)
    ids = torch.randint(1000, 2000, (1, 512))
    with torch.no_grad(): assert enc(input_ids=ids).last_hidden_state.shape == (1, 512, 32)

@pytest.mark.parametrize('arch', TINY_ARCHS)
def test_saved_tiny_encoder_loads_with_auto_classes(tmp_path, arch):
    folder = save_tiny_encoder(tmp_path/arch, arch, seed=4)
    model, tok = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    assert model.config.model_type == arch and tok.is_fast
    b = tok(['hello world'], return_tensors='pt')
    b = dict(input_ids=b['input_ids'], attention_mask=b['attention_mask'])
    with torch.no_grad():
        assert torch.allclose(model(**b).last_hidden_state, tiny_encoder(arch, seed=4)(**b).last_hidden_state, atol=1e-6)

def test_unknown_arch_is_an_error():
    with pytest.raises(ValueError, match="Unknown tiny architecture 'gpt2'"): tiny_config('gpt2')

def test_fixtures_are_consistent(tmp_path):
    for words, tags in NER_SENTENCES:
        assert len(words) == len(tags)
        assert all(t == 'O' or t[:2] in ('B-', 'I-') for t in tags)
        # IOB2: an entity never starts with I-
        for prev, t in zip(['O'] + tags, tags):
            if t.startswith('I-'): assert prev[2:] == t[2:], (words, tags)
    assert max(len(w) for w, _ in NER_SENTENCES) >= 30  # one sentence long enough for windows
    assert len({l for _, l in CLS_TEXTS}) == 2
    path = write_conll(tmp_path/'x.txt', sep='\t', docstart=False)
    blocks = path.read_text(encoding='utf-8').strip('\n').split('\n\n')
    assert len(blocks) == len(NER_SENTENCES)
    assert blocks[0].splitlines()[0] == 'Ada\tB-PER'
    assert conll_text().startswith('-DOCSTART- O\n\n')
