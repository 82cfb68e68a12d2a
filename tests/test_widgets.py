"`ftbook.widgets` driven without a browser: trait changes and button clicks call the handlers."
import json, time

import pytest, torch

from ftbook.core import set_seed
from ftbook.data import LabelSet, TaggedSentence, TokenClassificationDataset
from ftbook.inference import Predictor
from ftbook.models import TaskModel
from ftbook.testing import NER_SENTENCES, default_tokenizer, save_tiny_encoder
from ftbook.runs import checkpoints
from ftbook.train import TrainConfig, fit
from ftbook.widgets import AlignmentInspector, EntityViewer, ExperimentPanel, GradientExplorer, highlight

def test_gradient_explorer_follows_its_controls():
    g = GradientExplorer()
    for z, y in [(-4.0, 1), (0.0, 0), (6.5, 0)]:
        g.z.value, g.y.value = z, y
        assert g.grad == pytest.approx(torch.sigmoid(torch.tensor(z)).item() - y, abs=1e-6)
        assert len(g.out.outputs) == 1 and 'image/png' in g.out.outputs[0]['data']

def test_alignment_inspector_windows_and_labels():
    ai = AlignmentInspector(default_tokenizer(), sentence='Ada/B-PER Lovelace/I-PER met Tolkienesque/B-MISC fans')
    ai.max_length.value = 64
    assert len(ai.windows) == 1 and ai.html.value.count('-100') >= 4      # [CLS], [SEP], ##es, ##que
    ai.all_pieces.value = True
    assert 'I-MISC' in ai.html.value
    ai.max_length.value, ai.stride.value = 6, 1
    assert len(ai.windows) > 1
    owned = sorted(word for w in ai.windows for word, _ in w['starts'])
    assert owned == list(range(5))                                          # each word owned once
    ai.text.value = ''
    assert 'type a sentence' in ai.html.value

@pytest.fixture(scope='module')
def trained(ner_fixture, tmp_path_factory):
    f, d = ner_fixture, tmp_path_factory.mktemp('w')
    set_seed(0)
    fit(TaskModel.from_encoder(f['enc'], 'token', f['labels']), TokenClassificationDataset(f['sents'] * 4, f['tok'], f['labels']),
        None, TrainConfig.smoke(epochs=10, lr=3e-3), output_dir=d/'run')
    return d

def test_entity_viewer_highlights(trained):
    v = EntityViewer(Predictor.from_pretrained(trained/'run'), 'Ada Lovelace worked with Charles Babbage in London.')
    v.button.click()
    assert v.html.value.count('<mark') == len(v.result['entities']) >= 2
    assert '<sub>PER</sub>' in v.html.value
    assert highlight('a <b> c', []) == 'a &lt;b&gt; c'

def make_panel(tmp_path):
    fixture = [TaggedSentence(w, t) for w, t in NER_SENTENCES]
    p = ExperimentPanel(encoder=str(save_tiny_encoder(tmp_path/'tiny')), dataset=ExperimentPanel.DATASETS[1], data=(fixture * 4, fixture),
                        output_dir=tmp_path/'runs')
    p.lr.value, p.head_lr.value, p.bs.value = 3e-3, 3e-3, 4
    return p

def test_experiment_panel_trains_reports_and_overlays(tmp_path):
    p = make_panel(tmp_path)
    p.epochs.value = 6
    p.train_button.click(); p.wait(180)
    p.lr.value = 1e-3
    p.train_button.click(); p.wait(180)
    assert p.error is None and len(p.runs) == 2 and all(r['result'] is not None for r in p.runs)
    assert p.runs[0]['f1'][-1] > p.runs[0]['f1'][0] and p.runs[0]['loss']
    assert p.progress.value == p.runs[1]['result'].state.total_steps
    assert 'strict IOB2' in ''.join(o.get('text', '') for o in p.report.outputs)
    assert len(p.plot.outputs) == 1 and not p.train_button.disabled and p.stop_button.disabled

def test_stop_button_ends_a_background_run_with_a_checkpoint(tmp_path):
    p = make_panel(tmp_path)
    p.epochs.value = 20
    p.train_button.click()
    deadline = time.time() + 120
    while p.progress.value < 2 and time.time() < deadline: time.sleep(0.02)
    p.stop_button.click()
    p.wait(120)
    res = p.runs[0]['result']
    assert res is not None and res.state.stop_reason == 'stopped from the panel' and res.state.step < res.state.total_steps
    ck = checkpoints(p.runs[0]['folder'])[-1]/'trainer_state.json'
    assert json.loads(ck.read_text())['state']['step'] == res.state.step
    train_ds, valid_ds = _datasets(p)
    resumed = fit(TaskModel.from_pretrained(p.runs[0]['folder']), train_ds, valid_ds,
                  p.config(), output_dir=p.runs[0]['folder'], resume=True)
    assert resumed.state.step == resumed.state.total_steps

def _datasets(p):
    train_s, valid_s = p._data()
    tok = default_tokenizer()
    labels = LabelSet.from_tags(train_s)
    return TokenClassificationDataset(train_s, tok, labels), TokenClassificationDataset(valid_s, tok, labels)

def test_panel_reports_errors_in_its_status(tmp_path):
    p = ExperimentPanel(dataset=ExperimentPanel.DATASETS[2], output_dir=tmp_path)
    p.train(background=False)
    assert 'Give the path of a CoNLL training file' in p.status.value and not p.train_button.disabled

def test_generation_panel_switches_models_and_decoding(tmp_path):
    "Generate with the base and with a fine-tuned tiny decoder; sampling follows the seed; each token carries its probability."
    from ftbook.generation import CausalLM, GenerationDataset, GenerationExample, entity_answer, load_decoder_tokenizer
    from ftbook.testing import save_tiny_decoder
    from ftbook.widgets import GenerationPanel
    base = save_tiny_decoder(tmp_path/'base', hidden=64)
    tok = load_decoder_tokenizer(base)
    rows = [GenerationExample(' '.join(w), entity_answer(w, t)) for w, t in NER_SENTENCES]
    set_seed(0)
    fit(CausalLM.from_base(base), GenerationDataset(rows * 40, tok), None, TrainConfig.smoke(epochs=8, bs=8, lr=3e-3, lora=False),
        output_dir=tmp_path/'run')
    panel = GenerationPanel(base=base, tuned=tmp_path/'run', prompt=rows[0].prompt)
    assert panel.loaded == {}                                                   # nothing loads before Generate
    panel.which.value = 'fine-tuned'; panel.button.click()
    assert ''.join(t for t, _ in panel.tokens) == rows[0].completion and panel.html.value.count('<span') == len(panel.tokens)
    assert all(0 < p <= 1 for _, p in panel.tokens) and 'title=' in panel.html.value
    panel.which.value = 'base'; panel.max_new_tokens.value = 5; panel.button.click()
    assert len(panel.tokens) <= 5 and ''.join(t for t, _ in panel.tokens) != rows[0].completion
    panel.temperature.value, panel.top_p.value, panel.seed.value = 1.5, 0.95, 7
    panel.button.click(); first = panel.tokens
    panel.button.click(); assert panel.tokens == first                            # same seed, same sample
    panel.seed.value = 8; panel.button.click(); assert panel.tokens != first
    assert GenerationPanel().which.options == ('base',)                         # no fine-tuned model: no toggle choice
