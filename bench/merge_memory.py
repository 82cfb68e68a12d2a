"""What saving a LoRA model costs: the merged weights built layer by layer against a deep copy merged by `peft`.

    MALLOC_MMAP_THRESHOLD_=131072 .venv/bin/python bench/merge_memory.py --json nbs/results/merge_memory.json   # about a minute

Every checkpoint of a LoRA run, and its final model, is saved merged: an ordinary Hugging Face folder that
`pipeline` loads. ftbook used to merge a deep copy of the model (`merged_copy`: the whole model copied, then
`peft`'s `merge_and_unload`); it now builds the merged weights without copying the model (`_merged_state`: each
adapted weight plus its update, every other tensor the model's own). For the packaged SmolLM2-135M with adapters
on every linear layer (rank 8, the updates set to random values, as after training), each way runs `--repeats`
times, each in a fresh process whose weights are all made resident first (as during training), and reports the
seconds and the process's extra resident memory at its peak (sampled every 2 ms) and after. Set
MALLOC_MMAP_THRESHOLD_ as above so that glibc returns freed blocks to the system and the resident memory is what
the process holds.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r'''
import gc, json, os, sys, threading, time, warnings
warnings.filterwarnings('ignore')
import psutil, torch
from transformers.utils import logging as hf_logging
hf_logging.disable_progress_bar(); hf_logging.set_verbosity_error()
from ftbook.generation import CausalLM
from ftbook.models import _merged_state, add_lora, merged_copy
torch.manual_seed(0)
m = CausalLM.from_base(); add_lora(m, 8, 16.0, 0.05, 'all-linear')
with torch.no_grad():
    for n, p in m.named_parameters():
        if 'lora_B' in n: p.normal_(0, 0.02)
    touched = sum(float(v.float().sum()) for v in m.state_dict().values())     # every weight resident, as after training
proc = psutil.Process(os.getpid())
gc.collect(); rss0 = proc.memory_info().rss
peak, stop = [rss0], threading.Event()
def sample():
    while not stop.is_set(): peak[0] = max(peak[0], proc.memory_info().rss); time.sleep(0.002)
th = threading.Thread(target=sample); th.start()
t = time.perf_counter()
x = merged_copy(m) if sys.argv[1] == 'copy' else _merged_state(m)
seconds = time.perf_counter() - t
stop.set(); th.join()
adapted = sum(p.numel() for n, p in m.named_parameters() if 'base_layer.weight' in n)
print(json.dumps(dict(seconds=seconds, peak_mib=(peak[0] - rss0) / 2**20, held_mib=(proc.memory_info().rss - rss0) / 2**20,
                      weights=sum(p.numel() for n, p in m.named_parameters() if 'lora_' not in n), adapted=adapted)))
'''

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=2, help='runs of each way, alternating (default: 2)')
    p.add_argument('--json', type=Path, help='write the results to this JSON file')
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    runs = {'copy': [], 'merged_state': []}
    for _ in range(a.repeats):
        for way in runs:
            out = subprocess.run([sys.executable, '-c', CHILD, 'copy' if way == 'copy' else 'state'], capture_output=True, text=True,
                                 cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)}, check=True)
            runs[way].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(way, runs[way][-1], flush=True)
    if a.json:
        from ftbook.core import save_results
        save_results(a.json, command='MALLOC_MMAP_THRESHOLD_=131072 bench/merge_memory.py ' + ' '.join(sys.argv[1:] if argv is None else argv),
                     runs=runs, malloc_mmap_threshold=os.environ.get('MALLOC_MMAP_THRESHOLD_'), total_seconds=time.perf_counter() - t0)

if __name__ == '__main__':
    main()
