"""Run `ftbook train` and kill this process with SIGKILL at a chosen point, as `kill -9` or a power cut would.

    python killed_train.py POINT N -- ARGS...

POINT is where the N-th event kills the run: 'step' (inside an optimizer step, after the backward pass),
'eval' (inside an evaluation, after the predictions), 'save' (inside a checkpoint write, after the weights)
or 'final' (while the final model's files move into the run folder)."""
import dataclasses, os, signal, sys

import torch

from ftbook import cli, models, tasks, train

point, n = sys.argv[1], int(sys.argv[2])
args = sys.argv[sys.argv.index('--') + 1:]
calls = 0

def kill_on_nth(fn, when=lambda *a, **k: True):
    def wrapped(*a, **k):
        global calls
        if when(*a, **k):
            calls += 1
            if calls == n: os.kill(os.getpid(), signal.SIGKILL)
        return fn(*a, **k)
    return wrapped

if point == 'step': torch.nn.utils.clip_grad_norm_ = kill_on_nth(torch.nn.utils.clip_grad_norm_)
elif point == 'eval': tasks.TASKS['ner'] = dataclasses.replace(tasks.TASKS['ner'], score=kill_on_nth(tasks.TASKS['ner'].score))
elif point == 'save': train.torch.save = kill_on_nth(torch.save)
elif point == 'final':   # the N-th file of the final model moved from its temporary folder into the run folder
    out = os.path.abspath(args[args.index('--output') + 1])
    final_file = lambda src, dst: (os.path.dirname(os.path.abspath(dst)) == out
                                   and os.path.basename(os.path.dirname(os.path.abspath(src))).startswith('.save.'))
    models.os.replace = kill_on_nth(os.replace, final_file)
else: raise SystemExit(f'unknown point {point!r}')
sys.exit(cli.main(args))
