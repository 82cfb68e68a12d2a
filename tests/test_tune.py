"`ftbook tune`: a search killed with SIGKILL in the middle of a trial resumes without losing a trial or running one twice; bad specs exit 2."
import json, os, signal, subprocess, sys, time
from pathlib import Path

import optuna, pytest
from optuna.trial import TrialState

from ftbook.cli import main
from ftbook.testing import NER_SENTENCES, save_tiny_encoder, write_conll
from ftbook.tune import STUDY

BIN = Path(sys.executable).parent

def _study(out:Path)->optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=f"sqlite:///{out/'study.db'}")

def test_a_search_killed_mid_trial_resumes(tmp_path):
    data = write_conll(tmp_path/'train.txt', NER_SENTENCES * 60)
    enc = save_tiny_encoder(tmp_path/'enc')
    out = tmp_path/'search'
    cmd = [str(BIN/'ftbook'), 'tune', '--train', str(data), '--valid', str(data), '--model', str(enc), '--output', str(out),
           '--epochs', '3', '--batch-size', '4', '--tune', 'lr=1e-4:1e-2:log', '--trials', '3', '--pruner', 'none', '--no-progress']
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out/'trial-1'/'train_config.json').exists():     # trial 0 has finished; trial 1 has started training
        assert p.poll() is None, p.stderr.read()
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    killed = _study(out).trials
    assert [t.state for t in killed] == [TrialState.COMPLETE, TrialState.RUNNING]
    first = killed[0]

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'trial(s) 1 were cut off' in r.stdout
    trials = _study(out).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert (trials[0].params, trials[0].value, trials[0].datetime_complete) == (first.params, first.value, first.datetime_complete)
    assert trials[2].params == killed[1].params and trials[2].user_attrs['retry_of'] == 1     # the cut-off settings, run once more
    assert trials[3].params != trials[0].params     # the sampler, seeded as before, did not replay its first draw
    best = json.loads((out/'best_trial.json').read_text())
    assert best['value'] == max(t.value for t in trials if t.value is not None)
    assert sorted(p.name for p in out.glob('trial-*')) == [f"trial-{best['number']}"]
    assert json.loads((out/'train_config.json').read_text())['lr'] == best['settings']['lr']

def test_a_second_search_of_the_same_folder_is_refused(tmp_path, capsys):
    import fcntl
    out = tmp_path/'s'; out.mkdir()
    with open(out/'.tune.lock', 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(['tune', '--output', str(out), '--tune', 'lr=1e-5:1e-3:log', '--trials', '1']) == 2
    assert 'is being searched by another process' in capsys.readouterr().err

@pytest.mark.parametrize('spec, says', [('lr=1e-3:1e-5', 'low must be below high'), ('colour=1:2', "'colour' is not a setting"),
                                        ('warmup=0:2', 'must be a share of the steps'), ('warmup=0.1,1.5', 'must be a share of the steps'),
                                        ('padding_free=true,false', 'the ner task pads its batches')])
def test_bad_specs_exit_2_naming_the_flag(tmp_path, capsys, spec, says):
    assert main(['tune', '--output', str(tmp_path/'s'), '--tune', spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith('ftbook tune: error: --tune: ') and says in err, err
    assert not (tmp_path/'s').exists()       # refused before anything was written

def test_a_resumed_search_must_share_its_settings(tmp_path, capsys):
    "The same folder, other data or settings: refused, naming what differs; the same --tune flags in another order are the same search."
    data = write_conll(tmp_path/'train.txt', NER_SENTENCES * 2)
    enc = save_tiny_encoder(tmp_path/'enc')
    base = ['tune', '--train', str(data), '--valid', str(data), '--model', str(enc), '--output', str(tmp_path/'s'), '--epochs', '1',
            '--batch-size', '4', '--no-progress']
    assert main(base + ['--tune', 'lr=1e-4:1e-2:log', '--tune', 'warmup=0:0.2', '--trials', '1']) == 0
    assert main(base + ['--tune', 'warmup=0:0.2', '--tune', 'lr=1e-4:1e-2:log', '--trials', '2']) == 0
    assert len(_study(tmp_path/'s').trials) == 2
    capsys.readouterr()
    assert main(base + ['--tune', 'lr=1e-4:1e-2:log', '--tune', 'warmup=0:0.2', '--trials', '3', '--epochs', '2']) == 2
    assert 'holds a search whose trials had other epochs (epochs=1)' in capsys.readouterr().err
