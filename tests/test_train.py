"`ftbook.train` and the run folder it writes (`ftbook.runs`): accumulation, exact resume, non-finite losses, atomic checkpoints, early stopping, 2 processes."
import json, os, socket, subprocess, sys
from pathlib import Path

import pytest, torch
from safetensors.torch import load_file

from ftbook import models, runs, train
from ftbook.core import ConfigError, set_seed
from ftbook.data import Collator, LabelSet, TextClassificationDataset, TextExample, TokenClassificationDataset, read_conll
from ftbook.models import TaskModel
from ftbook.testing import CLS_TEXTS, save_tiny_encoder
from ftbook.runs import NonFiniteLossError, checkpoints
from ftbook.train import Callback, TrainConfig, evaluate, fit, train_step

@pytest.fixture(scope='module')
def setup(ner_fixture):
    f = ner_fixture
    return dict(f, train=TokenClassificationDataset(f['sents'] * 4, f['tok'], f['labels'], max_length=32, stride=8),
                valid=TokenClassificationDataset(f['sents'], f['tok'], f['labels'], max_length=32, stride=8))

def model_of(s, seed=0, **kw):
    set_seed(seed)
    return TaskModel.from_encoder(s['enc'], 'token', s['labels'], **kw)

def weights(m): return {k: v.clone() for k, v in m.state_dict().items() if v is not None}
def same(a, b): return all(torch.equal(a[k], b[k]) for k in a)

class StopAt(Callback):
    def __init__(self, step): self.at = step
    def on_step_end(self, state):
        if state.step == self.at: state.stop = True

@pytest.mark.parametrize('class_weights', [None, torch.linspace(0.5, 2.0, 9)])
def test_accumulation_equals_one_big_batch(setup, class_weights):
    coll = Collator(setup['tok'].pad_token_id)
    items = [setup['train'][i] for i in range(12)]
    def sgd(micro):
        m = model_of(setup, class_weights=class_weights).eval()
        opt = torch.optim.SGD(m.parameters(), lr=1.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        cw = None if class_weights is None else class_weights
        train_step(m, micro, opt, sched, torch.amp.GradScaler('cpu', enabled=False), torch.device('cpu'), max_grad_norm=None, class_weights=cw)
        return weights(m)
    one = sgd([coll(items)])
    three = sgd([coll(items[:4]), coll(items[4:8]), coll(items[8:])])
    assert max((one[k] - three[k]).abs().max().item() for k in one if one[k].is_floating_point()) < 1e-5

def test_accumulation_steps_after_exactly_n_micro_batches(setup):
    steps = []
    class Count(Callback):
        def on_step_end(self, state): steps.append((state.step, state.batch))
    fit(model_of(setup), setup['train'], None, TrainConfig.smoke(grad_accum=3, bs=2), callbacks=[Count()])
    n_batches = -(-len(setup['train']) // 2)
    assert steps[0] == (1, 3) and steps[1] == (2, 6)                    # the first step after 3 micro-batches, not 1
    assert steps[-1] == (-(-n_batches // 3), n_batches)                  # a last partial step takes the rest

@pytest.mark.parametrize('stop', [3, 7])
def test_resume_mid_epoch_gives_identical_weights(setup, tmp_path, stop):
    cfg = TrainConfig.smoke(epochs=2, grad_accum=2, bs=3)
    full = fit(model_of(setup), setup['train'], None, cfg, output_dir=tmp_path/'full')
    fit(model_of(setup), setup['train'], None, cfg, callbacks=[StopAt(stop)], output_dir=tmp_path/'part')
    state = json.loads((checkpoints(tmp_path/'part')[-1]/'trainer_state.json').read_text())['state']
    assert state['step'] == stop and 0 < state['batch']                   # stopped mid-epoch
    resumed = fit(model_of(setup, seed=9), setup['train'], None, cfg, output_dir=tmp_path/'part', resume=True)
    assert resumed.state.step == full.state.step
    assert same(weights(full.model), weights(resumed.model))

def test_resume_refuses_changed_settings_and_missing_checkpoint(setup, tmp_path):
    fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=2), output_dir=tmp_path/'r')
    with pytest.raises(ValueError, match=r'Cannot resume with a different lr, head_lr, seed'):   # a rate given is the head's too
        fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=2, lr=1e-2, seed=1), output_dir=tmp_path/'r', resume=True)
    with pytest.raises(FileNotFoundError, match='no checkpoint to resume from'):
        fit(model_of(setup), setup['train'], None, TrainConfig.smoke(), output_dir=tmp_path/'empty', resume=True)

def test_checkpoint_of_older_ftbook_resumes_with_its_lr_as_head_rate(setup, tmp_path):
    "Checkpoints written before head_lr existed trained the head at lr; they resume, and a changed head rate is still refused."
    fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=4, save_every=2), output_dir=tmp_path/'r')
    for f in (tmp_path/'r').glob('checkpoint-*/trainer_state.json'):
        saved = json.loads(f.read_text()); del saved['config']['head_lr']; f.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r'a different head_lr: the run used head_lr=0.001\.'):
        fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=4, head_lr=1e-2), output_dir=tmp_path/"r", resume=True)
    r = fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=4), output_dir=tmp_path/'r', resume=True)
    assert r.state.step == 4 and r.history.steps[-1]['step'] == 4      # resumed from the last step: no step beyond max_steps

def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(setup, tmp_path):
    m = model_of(setup)
    class Poison(Callback):
        def on_step_end(self, state):
            if state.step == 5:
                with torch.no_grad(): m.head.classifier.bias.fill_(float('nan'))
    with pytest.raises(NonFiniteLossError, match=r'not finite at step 6 .*last checkpoint written \(.*checkpoint-4\)'):
        fit(m, setup['train'], setup['valid'], TrainConfig.smoke(epochs=3, eval_every=4), callbacks=[Poison()], output_dir=tmp_path/'nan')
    ck = checkpoints(tmp_path/'nan')[-1]
    assert json.loads((ck/'trainer_state.json').read_text())['state']['step'] == 4
    assert all(torch.isfinite(v).all() for v in load_file(str(ck/'model.safetensors')).values() if v.is_floating_point())
    resumed = fit(model_of(setup), setup['train'], setup['valid'], TrainConfig.smoke(epochs=3, eval_every=4), output_dir=tmp_path/'nan', resume=True)
    assert resumed.state.step == resumed.state.total_steps      # the good checkpoint resumes

def test_crash_while_saving_leaves_previous_checkpoint(setup, tmp_path, monkeypatch):
    out = tmp_path/'crash'
    fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=2), output_dir=out)
    ck = checkpoints(out)[-1]
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    real = models.save_file
    def half_written(tensors, filename, *a, **k):
        Path(filename).write_bytes(b'partial')
        raise OSError('power cut')
    monkeypatch.setattr(models, 'save_file', half_written)
    with pytest.raises(OSError, match='power cut'):
        fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=4, save_every=1), output_dir=tmp_path/'crash2')
    with pytest.raises(OSError, match='power cut'):
        runs.save_checkpoint(ck, model_of(setup), *_opt_sched_scaler(setup), runs.TrainState(), TrainConfig.smoke())
    monkeypatch.setattr(models, 'save_file', real)
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before   # untouched
    assert not [p.name for p in out.iterdir() if p.name.startswith('.')]   # no temporary folder left
    assert {'checkpoint-2', 'config.json', 'model.safetensors', 'history.csv', 'metrics.json', 'training_curves.png'} <= {p.name for p in out.iterdir()}
    m = model_of(setup)
    state, cfg, _ = runs.load_checkpoint(ck, m, *_opt_sched_scaler(setup, m))
    assert state.step == 2 and cfg['max_steps'] == 2

TWO_EPOCHS = TrainConfig.smoke(epochs=2)   # the run the resume tests stop after step 4 and continue

@pytest.fixture(scope='module')
def uninterrupted(setup):
    "The weights of a two-epoch run that never stopped, computed once for the resume tests."
    return weights(fit(model_of(setup), setup['train'], None, TWO_EPOCHS).model)

def _stopped_at_4(setup, folder)->Path:
    "Run `TWO_EPOCHS` into `folder`, stopped after step 4; return its newest checkpoint."
    fit(model_of(setup), setup['train'], None, TWO_EPOCHS, callbacks=[StopAt(4)], output_dir=folder)
    return checkpoints(folder)[-1]

def test_kill_between_renames_is_recovered(setup, tmp_path, uninterrupted):
    "A kill after the first rename of a checkpoint replace leaves only .checkpoint-N.old: resuming puts it back."
    ck = _stopped_at_4(setup, tmp_path/'r')
    os.replace(ck, ck.with_name(f'.{ck.name}.old'))
    assert checkpoints(tmp_path/'r', tidy=False) == []                  # what the old code saw: nothing to resume
    resumed = fit(model_of(setup, seed=5), setup['train'], None, TWO_EPOCHS, output_dir=tmp_path/'r', resume=True)
    assert same(uninterrupted, weights(resumed.model))

def test_checkpoint_of_another_model_is_refused(setup, tmp_path):
    fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=2), output_dir=tmp_path/'a')
    other = TaskModel.from_encoder(setup['enc'], 'token', LabelSet(['O', 'B-X', 'I-X']))
    with pytest.raises(ValueError, match=r"do not fit .* other shapes \[.*'head.classifier.weight \(9, 32\) \(model: \(3, 32\)\)'"):
        runs.load_checkpoint(checkpoints(tmp_path/'a')[-1], other, *_opt_sched_scaler(setup, other))

def test_checkpoints_keep_the_newest_and_the_best_and_load_in_pipeline(setup, tmp_path):
    from transformers import pipeline
    r = fit(model_of(setup), setup['train'], setup['valid'], TrainConfig.smoke(epochs=4, lr=3e-3, eval_every=3), output_dir=tmp_path/'run')
    assert len(r.history.evals) > 4                                       # many checkpoints were written ...
    kept = [p.name for p in checkpoints(tmp_path/'run')]                  # ... two are kept
    assert kept == sorted({f'checkpoint-{r.state.best_step}', f'checkpoint-{r.state.step}'}, key=lambda n: int(n.split('-')[1]))
    for folder in (tmp_path/'run', checkpoints(tmp_path/'run')[0]):   # the run folder and a checkpoint load like Trainer's
        tags = pipeline('token-classification', model=str(folder), device='cpu')('Ada Lovelace lived in London')
        assert tags and all(t['entity'] in setup['labels'].labels for t in tags)
    best = TaskModel.from_pretrained(tmp_path/'run'/f'checkpoint-{r.state.best_step}')
    assert same(weights(best), weights(TaskModel.from_pretrained(tmp_path/'run')))   # the final model is the best checkpoint's

def test_best_before_training_is_kept_in_the_newest_checkpoint(setup, tmp_path):
    "With a learning rate far too high the untrained model (step 0, no checkpoint of its own) stays the best: it is returned."
    r = fit(model_of(setup), setup['train'], setup['valid'], TrainConfig.smoke(epochs=30, lr=0.5, eval_every=2, patience=3),
            output_dir=tmp_path/'run')
    assert r.state.best_step == 0 and [p.name for p in checkpoints(tmp_path/'run')] == [f'checkpoint-{r.state.step}']
    assert (tmp_path/'run'/f'checkpoint-{r.state.step}'/'best.safetensors').exists()
    assert same(weights(model_of(setup)), weights(TaskModel.from_pretrained(tmp_path/'run')))

def _opt_sched_scaler(setup, m=None):
    m = m or model_of(setup)
    cfg = TrainConfig.smoke()
    opt = train.make_optimizer(m, cfg, torch.device('cpu'))
    return opt, train.make_scheduler(opt, cfg, 10), torch.amp.GradScaler('cpu', enabled=False)

def test_early_stopping_restores_best(setup):
    r = fit(model_of(setup), setup['train'], setup['valid'], TrainConfig.smoke(epochs=30, lr=0.5, eval_every=2, patience=2))
    assert r.state.stop_reason.startswith('early stopping')
    best = max(r.history.evals, key=lambda e: e['f1'])
    assert r.state.best_step == best['step'] and r.after['f1'] == best['f1']
    assert evaluate(r.model, setup['valid'], TrainConfig.smoke())['f1'] == pytest.approx(best['f1'])

def test_metric_loss_is_minimised(setup):
    r = fit(model_of(setup), setup['train'], setup['valid'], TrainConfig.smoke(epochs=3, metric='loss', eval_every=3))
    assert r.after['loss'] == min(e['loss'] for e in r.history.evals)

def test_text_classification_learns(setup):
    tok = setup['tok']
    ex = [TextExample(t, l) for t, l in CLS_TEXTS]
    labels = LabelSet.from_labels(e.label for e in ex)
    ds = TextClassificationDataset(ex * 4, tok, labels)
    valid = TextClassificationDataset(ex, tok, labels)
    set_seed(0)
    m = TaskModel.from_encoder(setup['enc'], 'sequence', labels)
    r = fit(m, ds, valid, TrainConfig.smoke(epochs=6, lr=2e-3))
    assert r.after['accuracy'] == 1.0 and r.before['accuracy'] < 1.0
    assert set(r.after) >= {'accuracy', 'macro_f1', 'loss'}

@pytest.mark.parametrize('precision', ['bf16', 'fp16'])
def test_mixed_precision_paths_run_on_cpu(setup, precision):
    r = fit(model_of(setup), setup['train'], setup['valid'], TrainConfig.smoke(max_steps=3, precision=precision))
    assert r.state.step == 3 and all(torch.isfinite(torch.tensor(s['loss'])) for s in r.history.steps)

def test_labels_must_match_the_model(setup):
    other = LabelSet(['O', 'B-X', 'I-X'])
    with pytest.raises(ValueError, match="only in the data"):
        fit(TaskModel.from_encoder(setup['enc'], 'token', other), setup['train'], None, TrainConfig.smoke())

def test_two_processes_with_torchrun(setup, tmp_path):
    "fit under torchrun with 2 CPU processes (gloo): it trains, evaluates every word once, and only rank 0 writes."
    work = tmp_path
    (work/'train.txt').write_bytes((setup['dir']/'train.txt').read_bytes())
    save_tiny_encoder(work/'enc')
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''}
    with socket.socket() as sock:   # a free port for the rendezvous
        sock.bind(('127.0.0.1', 0)); port = sock.getsockname()[1]
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1', '--master_port', str(port),
           str(Path(__file__).parent/'dist_fit.py'), str(work/'out'), str(work)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ranks = [json.loads((work/f'rank{i}.json').read_text()) for i in (0, 1)]
    assert [x['world'] for x in ranks] == [2, 2]
    assert ranks[0]['after'] == ranks[1]['after'] and ranks[0]['steps'] == ranks[1]['steps']
    assert ranks[0]['after']['words'] == ranks[0]['words']                      # every word scored once, none twice
    assert ranks[0]['after']['f1'] > ranks[0]['before']['f1']
    assert {'config.json', 'model.safetensors', 'history.csv', 'metrics.json', 'training_curves.png'} <= {p.name for p in (work/'out').iterdir()}
    # the distributed evaluation agrees with a single-process one of the saved model
    sents = read_conll(work/'train.txt')
    valid = TokenClassificationDataset(sents[:5], setup['tok'], setup['labels'], max_length=24, stride=4)
    single = evaluate(TaskModel.from_pretrained(work/'out'), valid, TrainConfig.smoke())
    assert single['f1'] == pytest.approx(ranks[0]['after']['f1']) and single['words'] == ranks[0]['words']

@pytest.mark.parametrize('name', ['linear', 'cosine', 'constant'])
def test_schedules_follow_transformers(name):
    "Each `TrainConfig.schedule` gives, step by step, the learning rate of transformers' own schedule of that kind."
    from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                              get_linear_schedule_with_warmup)
    reference = {'linear': lambda o: get_linear_schedule_with_warmup(o, 3, 12), 'cosine': lambda o: get_cosine_schedule_with_warmup(o, 3, 12),
                 'constant': lambda o: get_constant_schedule_with_warmup(o, 3)}[name]
    def rates(make):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        s, out = make(opt), []
        for _ in range(12): out.append(opt.param_groups[0]['lr']); opt.step(); s.step()
        return out
    ours = rates(lambda o: train.make_scheduler(o, TrainConfig(warmup=0.25, schedule=name), 12))
    assert ours == pytest.approx(rates(reference)) and ours[0] == 0 and max(ours) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match='schedule: must be one of'): TrainConfig(schedule='step')

def test_a_fresh_run_removes_an_earlier_runs_checkpoints_and_says_so(setup, tmp_path):
    fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=6, save_every=3), output_dir=tmp_path/'r')
    assert [p.name for p in checkpoints(tmp_path/'r')] == ['checkpoint-6']
    with pytest.warns(UserWarning, match=r'checkpoints of an earlier run \(checkpoint-6\); they are removed'):
        fit(model_of(setup), setup['train'], None, TrainConfig.smoke(max_steps=2), output_dir=tmp_path/'r')
    assert [p.name for p in checkpoints(tmp_path/'r')] == ['checkpoint-2']     # a resume now finds this run's, not step 6

def test_old_layout_checkpoint_resumes(setup, tmp_path, uninterrupted):
    "A run folder written before checkpoint-N (checkpoint/ with weights under ftbook's names, no config) still resumes exactly."
    from safetensors.torch import save_file
    ck = _stopped_at_4(setup, tmp_path/'old')
    m = TaskModel.from_pretrained(ck)
    for f in ck.iterdir():
        if f.name not in ('training_state.pt', 'trainer_state.json'): f.unlink()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(ck/'model.safetensors'))
    os.replace(ck, tmp_path/'old'/'checkpoint')
    assert [p.name for p in checkpoints(tmp_path/'old')] == ['checkpoint']
    resumed = fit(model_of(setup, seed=3), setup['train'], None, TWO_EPOCHS, output_dir=tmp_path/'old', resume=True)
    assert same(uninterrupted, weights(resumed.model))
