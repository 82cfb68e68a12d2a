"""The generation task end to end on a tiny decoder: the command trains, saves, evaluates and predicts; `pipeline` generates the same
tokens; bad JSON Lines end with file:line and exit status 2; checkpoints of a tied decoder resume exactly."""
import json, warnings

import pytest, torch
from transformers import pipeline

from ftbook.cli import main
from ftbook.data import Collator
from ftbook.generation import (CausalLM, GenerationDataset, GenerationExample, encode_example, entity_answer, generate,
                               load_decoder_tokenizer, next_token_probs, parse_entities, read_generation)
from ftbook.models import load_weights
from ftbook.tasks import get_task
from ftbook.testing import NER_SENTENCES, save_tiny_decoder, save_tiny_encoder, tiny_chat_tokenizer, tiny_decoder, write_conll
from ftbook.train import Callback, SparseEmbeddingGrads, TrainConfig, fit

ROWS = [dict(prompt=' '.join(w), completion=entity_answer(w, t)) for w, t in NER_SENTENCES]

def jsonl(path, rows):
    path.write_text(''.join((r if isinstance(r, str) else json.dumps(r)) + '\n' for r in rows))
    return path

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "A tiny decoder fine-tuned by `ftbook train --task generation` until it knows the fixture answers by heart."
    d = tmp_path_factory.mktemp('gen')
    save_tiny_decoder(d/'base', hidden=64)
    jsonl(d/'train.jsonl', ROWS * 40); jsonl(d/'valid.jsonl', ROWS)
    assert main(['train', '--task', 'generation', '--train', str(d/'train.jsonl'), '--valid', str(d/'valid.jsonl'),
                 '--model', str(d/'base'), '--output', str(d/'run'), '--epochs', '10', '--lr', '3e-3', '--batch-size', '8',
                 '--scorer', 'entities', '--no-lora', '--no-progress']) == 0     # full fine-tuning: a random tiny model must memorise
    return d

def test_train_saves_a_hugging_face_run_folder(run):
    names = {p.name for p in (run/'run').iterdir()}
    assert {'config.json', 'model.safetensors', 'generation_config.json', 'tokenizer.json', 'metrics.json', 'history.csv',
            'training_curves.png', 'train_config.json'} <= names
    m = json.loads((run/'run'/'metrics.json').read_text())
    assert m['valid']['loss'] < m['valid_before']['loss'] / 10
    assert m['valid']['f1'] > 0.9 and m['valid']['exact_match'] > 0.8 and m['valid']['perplexity'] < 2
    assert json.loads((run/'run'/'config.json').read_text())['architectures'] == ['LlamaForCausalLM']

def test_predict_equals_pipeline_greedy(run, tmp_path, capsys):
    prompts = [r['prompt'] for r in ROWS[:3]]
    (tmp_path/'in.txt').write_text('\n'.join(prompts) + '\n')
    assert main(['predict', '--model', str(run/'run'), '--input', str(tmp_path/'in.txt'), '--max-new-tokens', '40']) == 0
    ours = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [r['prompt'] for r in ours] == prompts
    pipe = pipeline('text-generation', model=str(run/'run'), device='cpu')
    theirs = [pipe([{'role': 'user', 'content': p}], do_sample=False, max_new_tokens=40)[0]['generated_text'][-1]['content']
              for p in prompts]
    assert [r['generated'] for r in ours] == theirs
    assert theirs == [r['completion'] for r in ROWS[:3]]     # it learned them: the agreement is on real answers

def test_predict_a_file_and_evaluate(run, tmp_path, capsys):
    out = tmp_path/'pred.jsonl'
    assert main(['predict', '--model', str(run/'run'), '--format', 'jsonl', '--input', str(run/'valid.jsonl'), '--output', str(out)]) == 0
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r['completion'] for r in rows] == [r['completion'] for r in ROWS] and all('generated' in r for r in rows)
    capsys.readouterr()
    assert main(['evaluate', '--model', str(run/'run'), '--data', str(run/'valid.jsonl'), '--scorer', 'entities',
                 '--predictions', str(tmp_path/'e.jsonl')]) == 0
    printed = capsys.readouterr()
    metrics = json.loads(printed.out)
    assert {'loss', 'perplexity', 'exact_match', 'precision', 'recall', 'f1'} <= set(metrics) and metrics['f1'] > 0.9
    assert 'perplexity' in printed.err                      # the report
    assert [json.loads(l)['generated'] for l in (tmp_path/'e.jsonl').read_text().splitlines()] == [r['generated'] for r in rows]

def test_sampling_is_seeded(run, tmp_path, capsys):
    (tmp_path/'in.txt').write_text('Ada Lovelace .\nParis .\n')
    outs = []
    for seed in ('1', '1', '2'):
        assert main(['predict', '--model', str(run/'run'), '--input', str(tmp_path/'in.txt'), '--temperature', '5', '--top-p', '0.99',
                     '--seed', seed, '--max-new-tokens', '12']) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] != outs[2]

def test_messages_train_on_every_assistant_turn(tmp_path):
    save_tiny_decoder(tmp_path/'base')
    chat = {'messages': [{'role': 'system', 'content': 'Answer briefly.'}, {'role': 'user', 'content': 'Who?'},
                         {'role': 'assistant', 'content': 'Ada.'}, {'role': 'user', 'content': 'Where?'},
                         {'role': 'assistant', 'content': 'London.'}]}
    jsonl(tmp_path/'chat.jsonl', [chat] * 8)
    assert main(['train', '--task', 'generation', '--train', str(tmp_path/'chat.jsonl'), '--model', str(tmp_path/'base'),
                 '--output', str(tmp_path/'run'), '--epochs', '1', '--no-progress']) == 0
    tok = load_decoder_tokenizer(tmp_path/'base')
    ids, labels, _ = encode_example(read_generation(tmp_path/'chat.jsonl')[0], tok)
    assert tok.decode([t for t, y in zip(ids, labels) if y != -100]) == 'Ada.<|im_end|>London.<|im_end|>'

@pytest.mark.parametrize('line, message', [
    ('{"prompt": "x"}', 'no "completion" field'),
    ('{"completion": "x"}', 'no "prompt"'),
    ('{"prompt": "x", "completion": ""}', '"completion" is empty'),
    ('{"prompt": "x", "completion": 3}', '"completion" must be a string'),
    ('{"prompt": ', 'not valid JSON'),
    ('{"messages": [{"role": "user", "content": "x"}]}', "last message must be the assistant's"),
    ('{"prompt": "' + 'word ' * 300 + '", "completion": "x"}', 'but max_length is 512'),
])
def test_bad_jsonl_names_file_and_line(tmp_path, capsys, line, message):
    save_tiny_decoder(tmp_path/'base')
    f = jsonl(tmp_path/'bad.jsonl', [ROWS[0], ROWS[1], line])
    assert main(['train', '--task', 'generation', '--train', str(f), '--model', str(tmp_path/'base'), '--output', str(tmp_path/'r')]) == 2
    err = capsys.readouterr().err
    assert f'{f}:3: ' in err and message in err and 'Traceback' not in err

def test_left_truncation_counts_what_it_cut(tmp_path, capsys):
    save_tiny_decoder(tmp_path/'base')
    f = jsonl(tmp_path/'long.jsonl', [ROWS[0]] * 3 + [dict(prompt='word ' * 300, completion='none')])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        assert main(['train', '--task', 'generation', '--train', str(f), '--valid', str(f), '--model', str(tmp_path/'base'),
                     '--output', str(tmp_path/'r'), '--truncation', 'left', '--max-length', '256', '--epochs', '1', '--no-progress']) == 0
    assert any('1 of 4 examples were longer than max_length=256' in str(x.message) for x in w)

@pytest.mark.parametrize('args, flag', [(['--temperature', '-1'], '--temperature'), (['--top-p', '0'], '--top-p'),
                                        (['--max-new-tokens', '0'], '--max-new-tokens')])
def test_bad_decoding_flags_exit_2(run, capsys, args, flag):
    assert main(['predict', '--model', str(run/'run'), *args]) == 2
    assert f'error: {flag}:' in capsys.readouterr().err

def test_class_weights_make_no_sense_for_generation(run, capsys):
    assert main(['train', '--task', 'generation', '--train', str(run/'valid.jsonl'), '--model', str(run/'base'),
                 '--output', str(run/'x'), '--class-weights', 'balanced']) == 2
    assert '--class-weights' in capsys.readouterr().err

def test_resume_of_a_tied_decoder_is_exact(tmp_path):
    "Checkpoints save a tied head once; loading fills it in, and a resumed run ends with the uninterrupted run's weights."
    tok = tiny_chat_tokenizer()
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    ds = GenerationDataset([GenerationExample(r['prompt'], r['completion']) for r in ROWS] * 4, tok)
    cfg = TrainConfig.smoke(epochs=2, bs=4, save_every=3, lora=False)    # full: every weight, the tied head included, comes from the checkpoint
    whole = fit(CausalLM(tiny_decoder(len(tok), seed=0, **ids)), ds, None, cfg).model.state_dict()
    part = CausalLM(tiny_decoder(len(tok), seed=0, **ids))
    class Stop(Callback):
        def on_step_end(self, s):
            if s.step == 3: s.stop = True
    fit(part, ds, None, cfg, callbacks=[Stop()], output_dir=tmp_path/'run')
    resumed = fit(CausalLM(tiny_decoder(len(tok), seed=5, **ids)), ds, None, cfg, output_dir=tmp_path/'run', resume=True)
    assert resumed.state.step == 12
    assert all(torch.equal(v, whole[k]) for k, v in resumed.model.state_dict().items())

def test_loading_a_checkpoint_needs_every_weight(tmp_path):
    tok = tiny_chat_tokenizer()
    m = CausalLM(tiny_decoder(len(tok), seed=0))
    path = m.save_pretrained(tmp_path/'m', tokenizer=tok)
    from ftbook.models import read_weights
    state = read_weights(path)
    load_weights(CausalLM(tiny_decoder(len(tok), seed=1)), state, path)
    state.pop('model.norm.weight')
    with pytest.raises(ValueError, match=r"llama causal language model: missing \['lm.model.norm.weight'\]"):
        load_weights(CausalLM(tiny_decoder(len(tok), seed=1)), state, path)

def test_tied_embeddings_keep_dense_gradients():
    tok = tiny_chat_tokenizer()
    tied = CausalLM(tiny_decoder(len(tok)))
    assert SparseEmbeddingGrads(tied, min_rows=10).items == []          # the head shares the weight: never sparse
    assert tied.lm.get_output_embeddings().weight is tied.lm.get_input_embeddings().weight

def test_head_at_labels_equals_full_loss_with_smoothing():
    tok = tiny_chat_tokenizer()
    m = CausalLM(tiny_decoder(len(tok), seed=3), label_smoothing=0.1)
    ds = GenerationDataset([GenerationExample(r['prompt'], r['completion']) for r in ROWS], tok)
    b = Collator(tok.pad_token_id)([ds[i] for i in range(len(ds))]); b.pop('index')
    full = m.lm(input_ids=b['input_ids'], attention_mask=b['attention_mask']).logits
    from ftbook.losses import softmax_ce
    expected = softmax_ce(full[:, :-1], b['labels'][:, 1:], label_smoothing=0.1)
    torch.testing.assert_close(m(**b).loss, expected, atol=1e-5, rtol=1e-5)

def test_next_token_probs_is_a_distribution_over_the_nucleus():
    z = torch.tensor([3.0, 2.0, 1.0, 0.0, -5.0])
    p = next_token_probs(z, 1.0, 0.8)
    full = torch.softmax(z, -1)
    assert torch.isclose(p.sum(), torch.tensor(1.0)) and (p[2:] == 0).all()        # 0.665 + 0.245 reaches 0.8 with two tokens
    torch.testing.assert_close(p[:2], full[:2] / full[:2].sum())

def test_parse_entities_never_fails():
    from hypothesis import given, settings, strategies as st
    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.sampled_from('PERLOC: ;\nnone\t-_xé')) | st.text())
    def check(s):
        for kind, words in parse_entities(s): assert kind == kind.upper() and words and ';' not in words and '\n' not in words
    check()
    assert parse_entities('LOC: New  York; none; PER:Ada') == [('LOC', 'New York'), ('PER', 'Ada')]

def test_generation_is_the_task_of_its_dataset_and_model(tmp_path):
    tok = tiny_chat_tokenizer()
    ds = GenerationDataset([GenerationExample('x', 'y')], tok)
    assert get_task(ds).name == get_task(CausalLM(tiny_decoder(len(tok)))).name == 'generation'
    assert generate(CausalLM(tiny_decoder(len(tok))), tok, ds.prompts, max_new_tokens=3)[0].__class__ is list

def test_the_packaged_decoder_is_the_default(tmp_path, capsys):
    "No --model: `ftbook train --task generation` fine-tunes the packaged SmolLM2 (converted once into the cache), saves and predicts."
    qa = [('How do I resume a run?', 'Run `ftbook train --resume`.'), ('How do I see every option?', 'Run `ftbook train --help`.'),
          ('Where is the model saved?', 'At the root of the run folder.')]
    f = jsonl(tmp_path/'qa.jsonl', [dict(prompt=q, completion=a) for q, a in qa])
    assert main(['train', '--task', 'generation', '--train', str(f), '--valid', str(f), '--output', str(tmp_path/'run'),
                 '--epochs', '1', '--batch-size', '3', '--lr', '1e-4', '--no-progress']) == 0     # LoRA, the default for generation
    out = capsys.readouterr().out
    assert 'fine-tuning the packaged SmolLM2-135M-Instruct on 3 examples' in out and 'perplexity' in out
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert m['steps'] == 1 and m['valid']['loss'] < m['valid_before']['loss']
    assert (tmp_path/'run'/'adapter'/'adapter_config.json').exists()
    (tmp_path/'q.txt').write_text('What is the capital of France?\n')
    assert main(['predict', '--model', str(tmp_path/'run'), '--input', str(tmp_path/'q.txt'), '--max-new-tokens', '12']) == 0
    assert 'Paris' in json.loads(capsys.readouterr().out)['generated']

def test_lora_decoder_merged_generates_what_predict_does_and_resumes_exactly(tmp_path, capsys):
    "LoRA (the default for generation): the merged run folder in pipeline equals ftbook predict; a stopped LoRA run resumes to the same weights."
    save_tiny_decoder(tmp_path/'base', hidden=64)
    f = jsonl(tmp_path/'train.jsonl', ROWS * 10)
    args = ['train', '--task', 'generation', '--train', str(f), '--valid', str(f), '--model', str(tmp_path/'base'), '--epochs', '2',
            '--lr', '1e-2', '--batch-size', '8', '--save-every', '5', '--lora-r', '4', '--no-progress']
    assert main(args + ['--output', str(tmp_path/'whole')]) == 0
    assert (tmp_path/'whole'/'adapter'/'adapter_model.safetensors').exists()
    prompts = [r['prompt'] for r in ROWS[:3]]
    (tmp_path/'in.txt').write_text('\n'.join(prompts) + '\n')
    capsys.readouterr()
    assert main(['predict', '--model', str(tmp_path/'whole'), '--input', str(tmp_path/'in.txt'), '--max-new-tokens', '20']) == 0
    ours = [json.loads(l)['generated'] for l in capsys.readouterr().out.splitlines()]
    pipe = pipeline('text-generation', model=str(tmp_path/'whole'), device='cpu')
    assert ours == [pipe([{'role': 'user', 'content': p}], do_sample=False, max_new_tokens=20)[0]['generated_text'][-1]['content'] for p in prompts]
    # a LoRA run stopped at its step-3 checkpoint and resumed ends with the weights of the run that was never stopped
    tok = load_decoder_tokenizer(tmp_path/'base')
    ds = GenerationDataset([GenerationExample(r['prompt'], r['completion']) for r in ROWS] * 4, tok)
    cfg = TrainConfig.smoke(epochs=2, bs=4, save_every=3, lora=True, lora_r=4)
    whole = fit(CausalLM.from_base(tmp_path/'base'), ds, None, cfg).model.state_dict()
    class Stop(Callback):
        def on_step_end(self, s):
            if s.step == 3: s.stop = True
    fit(CausalLM.from_base(tmp_path/'base'), ds, None, cfg, callbacks=[Stop()], output_dir=tmp_path/'part')
    assert (tmp_path/'part'/'checkpoint-3'/'trainable.safetensors').exists()
    resumed = fit(CausalLM.from_base(tmp_path/'base'), ds, None, cfg, output_dir=tmp_path/'part', resume=True)
    assert resumed.state.step == 12 and any('lora_B' in k for k in whole)
    assert all(torch.equal(v, whole[k]) for k, v in resumed.model.state_dict().items())

def test_lora_encoder_keeps_its_head_with_the_adapter(tmp_path):
    "peft#310: an adapter saved without the new head reloads with a random one; ftbook saves the head beside the adapter."
    from ftbook.data import LabelSet, load_tokenizer
    from ftbook.models import TaskModel, load_adapter, has_lora
    from ftbook.testing import save_tiny_encoder, write_conll
    data = write_conll(tmp_path/'train.txt', NER_SENTENCES * 3)
    enc = save_tiny_encoder(tmp_path/'enc')
    assert main(['train', '--train', str(data), '--valid', str(data), '--model', str(enc), '--output', str(tmp_path/'run'), '--lora',
                 '--epochs', '3', '--lr', '1e-2', '--batch-size', '4', '--no-progress']) == 0
    names = {p.name for p in (tmp_path/'run'/'adapter').iterdir()}
    assert {'adapter_config.json', 'adapter_model.safetensors', 'head.safetensors'} <= names
    merged = TaskModel.from_pretrained(tmp_path/'run').eval()         # the root: an ordinary model folder
    labels = merged.labels
    fresh = load_adapter(TaskModel.from_encoder(enc, 'token', labels), tmp_path/'run').eval()
    assert has_lora(fresh)
    x = load_tokenizer(enc)(['Ada Lovelace worked in London .'], return_tensors='pt')
    with torch.no_grad(): torch.testing.assert_close(fresh(x['input_ids'], x['attention_mask']).logits,
                                                     merged(x['input_ids'], x['attention_mask']).logits, atol=1e-5, rtol=1e-5)
    hf = pipeline('token-classification', model=str(tmp_path/'run'), device='cpu')
    assert isinstance(hf('Ada Lovelace worked in London .'), list)

def test_settings_left_to_the_task_are_recorded_concretely(tmp_path, ner_fixture):
    "lora=None takes the task's default (on for generation, off for NER); lr=None the rate that goes with it (an encoder's by its width); checkpoints record both."
    from ftbook.data import TokenClassificationDataset
    from ftbook.models import TaskModel
    from ftbook.train import DEFAULT_LR, ENCODER_DEFAULTS
    tok = tiny_chat_tokenizer()
    ds = GenerationDataset([GenerationExample(r['prompt'], r['completion']) for r in ROWS], tok)
    fit(CausalLM(tiny_decoder(len(tok))), ds, None, TrainConfig.smoke(lr=None, max_steps=1), output_dir=tmp_path/'gen')
    f = ner_fixture
    ner = TokenClassificationDataset(f['sents'], f['tok'], f['labels'])
    fit(TaskModel.from_encoder(f['enc'], 'token', f['labels']), ner, None, TrainConfig.smoke(lr=None, max_steps=1), output_dir=tmp_path/'ner')
    saved = {k: json.loads(next((tmp_path/k).glob('checkpoint-*/trainer_state.json')).read_text())['config'] for k in ('gen', 'ner')}
    assert (saved['gen']['lora'], saved['gen']['lr']) == (True, DEFAULT_LR['lora'])
    assert (saved['gen']['layer_decay'], saved['ner']['layer_decay']) == (1.0, ENCODER_DEFAULTS[0][2])
    assert (saved['ner']['lora'], saved['ner']['lr']) == (False, ENCODER_DEFAULTS[0][1])     # the tiny encoder is 32 wide: the smallest class

def test_evaluate_scores_summaries_from_the_shell(run, tmp_path):
    "`ftbook evaluate --scorer rouge|chrf|bleu` in a real shell: every reference of a line is read, and the scores are sacrebleu's and rouge-score's."
    import subprocess, sys
    from ftbook.generation import text_scores
    from ftbook.testing import DIALOGUES
    data = jsonl(tmp_path/'sum.jsonl', [dict(prompt=t, completion=s[0], references=s[1:]) for t, s in DIALOGUES])
    exe = [sys.executable, '-m', 'ftbook']
    got = {}
    for scorer in ('rouge', 'chrf', 'bleu'):
        p = subprocess.run(exe + ['evaluate', '--model', str(run/'run'), '--data', str(data), '--scorer', scorer, '--max-new-tokens', '12',
                                  '--predictions', str(tmp_path/f'{scorer}.jsonl')], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        got[scorer] = json.loads(p.stdout)
        assert 'distinct_answers' in p.stderr and 'loss' in p.stderr          # the report, beside the JSON metrics
    rows = [json.loads(l) for l in (tmp_path/'rouge.jsonl').read_text().splitlines()]
    assert [r['references'] for r in rows] == [s[1:] for _, s in DIALOGUES]
    refs, out = [[r['completion'], *r['references']] for r in rows], [r['generated'] for r in rows]
    assert got['rouge']['rougeL'] == pytest.approx(text_scores(refs, out, 'rouge')['rougeL'])
    assert got['chrf']['chrf'] == pytest.approx(text_scores(refs, out, 'chrf')['chrf'])
    assert got['bleu']['bleu'] == pytest.approx(text_scores(refs, out, 'bleu')['bleu'])
    bad = subprocess.run(exe + ['evaluate', '--model', str(run/'run'), '--data', str(data), '--scorer', 'meteor'], capture_output=True, text=True)
    assert bad.returncode == 2 and '--scorer' in bad.stderr and 'meteor' in bad.stderr

def test_best_model_selected_by_a_text_score(run, tmp_path):
    "`--metric rougeL` picks the checkpoint by the validation ROUGE-L (maximised), and names the metric when it is missing."
    valid = jsonl(tmp_path/'valid.jsonl', ROWS)
    assert main(['train', '--task', 'generation', '--train', str(run/'train.jsonl'), '--valid', str(valid), '--model', str(run/'base'),
                 '--output', str(tmp_path/'r'), '--epochs', '2', '--lr', '3e-3', '--batch-size', '8', '--scorer', 'rouge',
                 '--metric', 'rougeL', '--eval-every', '15', '--no-lora', '--no-progress']) == 0
    import csv
    evals = [r for r in csv.DictReader((tmp_path/'r'/'history.csv').open()) if r['kind'] == 'eval']
    assert len(evals) >= 3 and all(r['rougeL'] for r in evals)
    best = max(evals, key=lambda r: float(r['rougeL']))
    m = json.loads((tmp_path/'r'/'metrics.json').read_text())
    assert m['valid']['rougeL'] == pytest.approx(float(best['rougeL']))
    assert main(['train', '--task', 'generation', '--train', str(valid), '--valid', str(valid), '--model', str(run/'base'),
                 '--output', str(tmp_path/'r2'), '--max-steps', '1', '--metric', 'rougeL', '--no-progress']) == 2   # scorer 'exact': no ROUGE

def _fit_tiny(**cfg):
    "Two epochs of a tiny decoder on the fixture answers: the result and the trained weights."
    tok = tiny_chat_tokenizer()
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    ds = GenerationDataset([GenerationExample(r['prompt'], r['completion']) for r in ROWS * 2], tok)
    model = CausalLM(tiny_decoder(len(tok), seed=0, **ids))
    res = fit(model, ds, None, TrainConfig.smoke(epochs=2, bs=4, **cfg))
    return res, {k: v.detach().clone() for k, v in model.state_dict().items()}

@pytest.mark.parametrize('lora', [False, True])
def test_padding_free_training_equals_padded(lora):
    "Padding-free batches train to the weights of padded ones (the same steps, the same tokens counted), with LoRA or without."
    kw = dict(lora=lora, lora_dropout=0.0)     # dropout draws its masks in the batch's shape, which padding-free batches change
    base = _fit_tiny(max_steps=1, **kw)[1]
    (padded, w1), (flat, w2) = _fit_tiny(group_by_length=False, **kw), _fit_tiny(padding_free=True, **kw)   # both random batches
    assert padded.state.tokens == flat.state.tokens > 0 and padded.state.step == flat.state.step == 6
    assert [round(r['loss'], 5) for r in padded.history.steps] == [round(r['loss'], 5) for r in flat.history.steps]
    assert max(float((w1[k] - base[k]).abs().max()) for k in w1) > 1e-3                # training moved the weights ...
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-5                  # ... and both ways to the same place

def test_gradient_checkpointing_trains_the_same_and_is_switched_off_again():
    (plain, w1), (ckpt, w2) = _fit_tiny(lora=True), _fit_tiny(lora=True, gradient_checkpointing=True)
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-6
    model = ckpt.model
    assert any(getattr(m, 'gradient_checkpointing', False) for m in model.modules())
    fit(model, GenerationDataset([GenerationExample('a', 'b')], tiny_chat_tokenizer()), None, TrainConfig.smoke(max_steps=1))
    assert not any(getattr(m, 'gradient_checkpointing', False) for m in model.modules())

def test_padding_free_and_checkpointing_from_the_shell(tmp_path, capsys):
    "`--padding-free --gradient-checkpointing` train a decoder; --padding-free on an encoder task exits 2 naming the flag."
    save_tiny_decoder(tmp_path/'base')
    f = jsonl(tmp_path/'train.jsonl', ROWS)
    assert main(['train', '--task', 'generation', '--train', str(f), '--model', str(tmp_path/'base'), '--output', str(tmp_path/'run'),
                 '--epochs', '1', '--padding-free', '--gradient-checkpointing', '--no-progress']) == 0
    saved = json.loads((tmp_path/'run'/'train_config.json').read_text())
    assert saved['padding_free'] is True and saved['gradient_checkpointing'] is True
    capsys.readouterr()
    conll = write_conll(tmp_path/'train.conll')
    assert main(['train', '--task', 'ner', '--train', str(conll), '--model', str(save_tiny_encoder(tmp_path/'enc')), '--padding-free',
                 '--output', str(tmp_path/'ner')]) == 2
    err = capsys.readouterr().err
    assert '--padding-free: the ner task pads its batches' in err, err
