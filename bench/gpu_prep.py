"""Prepare, and on the GPU machine unpack, the folder `bench/gpu_check.sh` carries: wheels, the default encoder in fp16, SmolLM2's shape, CoNLL-2003.

    FTBOOK_DATA=../shared/data .venv/bin/python bench/gpu_prep.py            # here: writes .gpu/ (git-ignored), at most 64 MiB
    python3 bench/gpu_prep.py --unpack .gpu --to /tmp/ftbook-cache           # there (gpu_check.sh does it)

The GPU machine has torch, transformers, accelerate, peft, onnxruntime, scikit-learn and matplotlib, but no network,
none of ftbook's packaged models, and not seqeval or fastcore. Everything else travels with the working tree, which
may be 64 MiB in all, in `.gpu/`:

- `wheels/`: seqeval and fastcore, built here as pure-Python wheels (`pip wheel --no-deps`), the versions installed here;
- `encoder/`: the packaged default encoder (all-MiniLM-L6-v2) with its weights in fp16 (about 45 MB instead of 90);
- `decoder/`: the packaged decoder's configuration and tokenizer, no weights (SmolLM2-135M in fp32 is 538 MB): the
  decoder's speed check runs on random weights of the same shape, which cost the same to train;
- `data/conll2003/`: the CoNLL-2003 files of `$FTBOOK_DATA`;
- `MANIFEST.json`: every file's size.

`--unpack` makes, on the machine that runs the check, what ftbook looks for: the encoder back in fp32 (for
`$FTBOOK_ENCODER`) and the decoder with random weights where `default_decoder_path` finds it (`$FTBOOK_CACHE`).
"""
import argparse, json, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 64 * 2**20      # what travels with a device call, the working tree included
WHEELS = ('seqeval', 'fastcore')

def _version(name:str)->str:
    from importlib.metadata import version
    return version(name)

def prepare(out:Path, data:Path):
    "Write the carried folder `out` from this machine's packages, models and the CoNLL-2003 files in `data`."
    import torch
    from transformers import AutoModel, AutoTokenizer
    sys.path.insert(0, str(ROOT))
    from ftbook.core import default_decoder_path, default_encoder_path
    if out.exists(): shutil.rmtree(out)
    (out/'wheels').mkdir(parents=True)
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '-w', str(out/'wheels'),
                    *[f'{n}=={_version(n)}' for n in WHEELS]], check=True)
    enc = AutoModel.from_pretrained(default_encoder_path(), dtype=torch.float32)
    enc.half().save_pretrained(out/'encoder')
    AutoTokenizer.from_pretrained(default_encoder_path()).save_pretrained(out/'encoder')
    dec = default_decoder_path()
    (out/'decoder').mkdir()
    for f in dec.iterdir():
        if f.is_file() and not f.name.endswith('.safetensors') and not f.name.endswith('.index.json'): shutil.copy(f, out/'decoder'/f.name)
    files = [data/'conll2003'/f for f in ('train.txt', 'valid.txt', 'test.txt')]
    missing = [str(f) for f in files if not f.is_file()]
    if missing: raise SystemExit(f"gpu_prep: no CoNLL-2003 files {missing}: set FTBOOK_DATA to the folder holding conll2003/ (or pass --data).")
    (out/'data'/'conll2003').mkdir(parents=True)
    for f in files: shutil.copy(f, out/'data'/'conll2003'/f.name)
    manifest = {str(f.relative_to(out)): f.stat().st_size for f in sorted(out.rglob('*')) if f.is_file()}
    (out/'MANIFEST.json').write_text(json.dumps(manifest, indent=1) + '\n')
    total = sum(manifest.values())
    tracked = sum((ROOT/f).stat().st_size for f in subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True,
                                                                   check=True).stdout.split('\n') if f and (ROOT/f).is_file())
    print(f"{out}: {len(manifest)} files, {total / 2**20:.1f} MiB; with the working tree ({tracked / 2**20:.1f} MiB) "
          f"{(total + tracked) / 2**20:.1f} MiB of the {LIMIT / 2**20:.0f} MiB a device call carries")
    if total + tracked > LIMIT: raise SystemExit(f"gpu_prep: {out} and the working tree are over {LIMIT / 2**20:.0f} MiB: the call would be refused.")

def unpack(src:Path, to:Path):
    "Make the fp32 encoder (`to/encoder`) and a decoder of SmolLM2's shape with random weights (`to/SmolLM2-135M-Instruct`)."
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    manifest = json.loads((src/'MANIFEST.json').read_text())
    wrong = [f for f, n in manifest.items() if not (src/f).is_file() or (src/f).stat().st_size != n]
    if wrong: raise SystemExit(f"gpu_prep: {src} is incomplete or changed: {wrong[:5]}; prepare it again.")
    to.mkdir(parents=True, exist_ok=True)
    AutoModel.from_pretrained(src/'encoder', dtype=torch.float32).save_pretrained(to/'encoder')
    AutoTokenizer.from_pretrained(src/'encoder').save_pretrained(to/'encoder')
    torch.manual_seed(0)
    dec = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(src/'decoder'), dtype=torch.float32)
    dec.save_pretrained(to/'SmolLM2-135M-Instruct')
    for f in (src/'decoder').iterdir():
        if f.name != 'config.json': shutil.copy(f, to/'SmolLM2-135M-Instruct'/f.name)
    print(f"unpacked into {to}: encoder (fp32), SmolLM2-135M-Instruct shape with random weights "
          f"({sum(p.numel() for p in dec.parameters()) / 1e6:.1f} M parameters)")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', type=Path, default=ROOT/'.gpu', help='the folder to write (default: .gpu, git-ignored)')
    ap.add_argument('--data', type=Path, help='the folder holding conll2003/ (default: $FTBOOK_DATA)')
    ap.add_argument('--unpack', type=Path, help='unpack this prepared folder instead (on the GPU machine)')
    ap.add_argument('--to', type=Path, help='with --unpack: where to put the encoder and the decoder')
    a = ap.parse_args()
    if a.unpack:
        if a.to is None: ap.error('--unpack needs --to')
        return unpack(a.unpack, a.to)
    import os
    data = a.data or (Path(os.environ['FTBOOK_DATA']) if os.environ.get('FTBOOK_DATA') else None)
    if data is None: ap.error('name the folder holding conll2003/: --data DIR or FTBOOK_DATA=DIR')
    prepare(a.out, data)

if __name__ == '__main__': main()
