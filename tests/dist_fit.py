"Run by test_train.py under torchrun with 2 CPU processes: fine-tune a tiny model with `fit`, report per rank."
import json, sys
from pathlib import Path

from accelerate import PartialState

from ftbook.core import set_seed
from ftbook.data import LabelSet, TokenClassificationDataset, read_conll
from ftbook.models import TaskModel
from ftbook import runs, train
from ftbook.testing import default_tokenizer

out, work = Path(sys.argv[1]), Path(sys.argv[2])
state = PartialState(cpu=True)
rank = state.process_index
if rank != 0:  # any write by another process than the main one fails the run
    def refuse(*a, **k): raise AssertionError(f'process {rank} tried to write files')
    runs.save_checkpoint = refuse; TaskModel.save_pretrained = refuse; runs.History.to_csv = refuse
tok = default_tokenizer()
sents = read_conll(work/'train.txt')
labels = LabelSet.from_tags(sents)
train_ds = TokenClassificationDataset(sents * 3, tok, labels, max_length=32, stride=8)
valid_ds = TokenClassificationDataset(sents[:5], tok, labels, max_length=24, stride=4)   # 5 sentences: an odd split
set_seed(0)
model = TaskModel.from_encoder(work/'enc', 'token', labels)
res = train.fit(model, train_ds, valid_ds, train.TrainConfig.smoke(epochs=3, lr=3e-3), output_dir=out)
(work/f'rank{rank}.json').write_text(json.dumps(dict(world=state.num_processes, before=res.before, after=res.after,
                                                     steps=res.state.step, words=sum(len(s) for s in valid_ds.sentences))))
