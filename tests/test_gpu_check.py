"The GPU check is known to start: `bench/gpu_prep.py` builds the carried folder and `bench/gpu_check.sh --dry-run` runs every step, tiny, on the CPU."
import json, os, subprocess, sys
from pathlib import Path

from ftbook.testing import NER_SENTENCES, write_conll

ROOT = Path(__file__).resolve().parent.parent

def test_prepare_then_dry_run(tmp_path):
    data = tmp_path/'data'/'conll2003'
    data.mkdir(parents=True)
    for name in ('train', 'valid', 'test'): write_conll(data/f'{name}.txt', NER_SENTENCES * 4)
    carried, out = tmp_path/'gpu', tmp_path/'out'
    env = {**os.environ, 'FTBOOK_GPU_DIR': str(carried), 'OUT': str(out), 'PYTHON': sys.executable}
    r = subprocess.run([sys.executable, 'bench/gpu_prep.py', '--out', str(carried), '--data', str(tmp_path/'data')], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    manifest = json.loads((carried/'MANIFEST.json').read_text())
    assert {'encoder/model.safetensors', 'decoder/config.json', 'data/conll2003/train.txt'} <= set(manifest)
    assert any(f.startswith('wheels/seqeval-') for f in manifest) and any(f.startswith('wheels/fastcore-') for f in manifest)
    assert sum(manifest.values()) < 56 * 2**20                      # room left for the working tree within the 64 MiB a call carries
    assert not any(f.startswith('decoder/') and f.endswith('.safetensors') for f in manifest)   # SmolLM2's weights never travel
    r = subprocess.run(['bash', 'bench/gpu_check.sh', '--dry-run'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert 'all steps done' in r.stdout
    summary = (out/'summary.md').read_text()
    assert 'CoNLL-2003 fine-tune' in summary and 'train_throughput ftbook' in summary and 'decoder LoRA fine-tune' in summary
    assert 1 <= json.loads((out/'conll_metrics.json').read_text())['steps'] <= 3       # --max-steps 3

def test_check_refuses_to_start_without_the_carried_folder(tmp_path):
    env = {**os.environ, 'FTBOOK_GPU_DIR': str(tmp_path/'none'), 'OUT': str(tmp_path/'out')}
    r = subprocess.run(['bash', 'bench/gpu_check.sh', '--dry-run'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and 'gpu_prep.py' in r.stderr
