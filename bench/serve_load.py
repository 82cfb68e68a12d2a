"""Load on `ftbook serve`: requests per second and latency with batching, without, and against a `pipeline` server.

    .venv/bin/python bench/serve_load.py --json nbs/results/serve_load.json
    .venv/bin/python bench/serve_load.py --clients 4 --seconds 5 --malformed 100     # a quick look

Each server runs in a process of its own on a free loopback port and serves the packaged default encoder
(all-MiniLM-L6-v2) with a token-classification head (new weights: the speed does not depend on them), saved once
as a run folder:

- batched:   `ftbook serve --model RUN` (its defaults: batches of up to 32 inputs, gathered for up to 5 ms)
- unbatched: `ftbook serve --model RUN --max-batch 1` (every request its own forward pass)
- pipeline:  the same folder in `transformers.pipeline('token-classification', aggregation_strategy='first')`
             behind one FastAPI route on uvicorn, answering one request at a time (the route runs the pipeline on
             the event loop), the way a first server around a pipeline is written

`--clients` clients (asyncio, httpx, in this process) each send one sentence of the packaged WNUT-16 corpus a
request, `{"text": ...}`, and wait for its answer before sending the next, for `--seconds` seconds after a short
warm-up. Reported per server: requests per second, p50 and p99 latency, the mean batch the server ran in that
time (from its /info) and the number of 5xx answers. Then, on the batched server and outside the timed part, the
same clients go on while two more send `--malformed` bad requests (kinds drawn in turn from the list below) as
fast as they are answered, until all are answered: every bad one must get a 4xx, no request a 5xx, and every
good one its 200.
Everything runs on this machine: the clients share its cores with the server. Last, without HTTP and in this
process: the median time of one sentence through `Predictor` and through the pipeline, which tells how much of
a difference between the unbatched server and the pipeline's is the model path and how much the server's.
"""
import argparse, asyncio, collections, json, os, random, socket, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import httpx

from ftbook.core import save_results, set_seed
from ftbook.data import LabelSet, default_ner_data, load_tokenizer
from ftbook.models import TaskModel

# malformed requests: (what is wrong, request keyword arguments for httpx)
MALFORMED = [
    ('not JSON', dict(content=b'{"text": "Paris"', headers={'content-type': 'application/json'})),
    ('JSON, not an object', dict(json=['Paris'])),
    ('no input field', dict(json={})),
    ('unknown field', dict(json={'text': 'Paris', 'lang': 'en'})),
    ('text a number', dict(json={'text': 5})),
    ('empty text', dict(json={'text': ''})),
    ('too many texts', dict(json={'texts': ['Paris'] * 65})),
    ('body too large', dict(json={'text': 'x' * (1 << 20)})),
    ('a sentence of no words', dict(json={'words': [[]]})),
    ('questions to an NER model', dict(json={'questions': [{'question': 'Who?', 'context': 'Ada.'}]})),
]

PIPELINE_APP = '''
import sys
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline
import uvicorn
pipe = pipeline('token-classification', model=sys.argv[1], aggregation_strategy='first', device='cpu')
app = FastAPI()
class Req(BaseModel):
    text: str
@app.get('/health')
async def health(): return {'status': 'ok'}
@app.post('/predict')
async def predict(req: Req):      # on the event loop: one request at a time
    return {'results': [[{k: (float(v) if k == 'score' else v) for k, v in e.items()} for e in pipe(req.text)]]}
uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')
'''

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def start(cmd:list[str], port:int, log:Path)->subprocess.Popen:
    "Start a server process (its output to `log`, never to a pipe that could fill) and wait until its /health answers."
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, 'w'), text=True)
    for _ in range(1200):
        try:
            if httpx.get(f'http://127.0.0.1:{port}/health', timeout=1).status_code == 200: return proc
        except httpx.TransportError: pass
        if proc.poll() is not None: raise RuntimeError(f"{cmd[:4]} exited: {Path(log).read_text()[-2000:]}")
        time.sleep(0.1)
    proc.kill(); raise TimeoutError(f"{cmd[:4]} did not answer /health")

async def drive(url:str, sentences:list[str], clients:int, seconds:float, seed:int=0)->dict:
    "`clients` good clients for `seconds` after a warm-up: requests per second, latency, the server's mean batch."
    rng = random.Random(seed)
    latencies, statuses = [], []
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=clients + 4)) as http:
        for s in sentences[:8]: await http.post('/predict', json={'text': s})        # warm-up
        before = (await http.get('/info')).json() if url else None
        end = time.perf_counter() + seconds
        async def good():
            while time.perf_counter() < end:
                t = time.perf_counter()
                r = await http.post('/predict', json={'text': rng.choice(sentences)})
                latencies.append(time.perf_counter() - t); statuses.append(r.status_code)
        t0 = time.perf_counter()
        await asyncio.gather(*(good() for _ in range(clients)))
        wall = time.perf_counter() - t0
        r = await http.get('/info')
        info = r.json() if r.status_code == 200 else None       # the pipeline server has no /info
    q = statistics.quantiles(latencies, n=100)
    batches = (info['batches']['inputs'] - before['batches']['inputs']) / max(info['batches']['count'] - before['batches']['count'], 1) \
              if info and isinstance(before, dict) and 'batches' in before else 1.0
    return dict(requests=len(latencies), rps=len(latencies) / wall, p50_ms=1000 * statistics.median(latencies), p99_ms=1000 * q[98],
                server_errors=sum(s >= 500 for s in statuses), not_ok=sum(s != 200 for s in statuses), mean_batch=batches)

async def mixed(url:str, sentences:list[str], clients:int, malformed:int, seed:int=0)->dict:
    "Good clients and two clients of malformed requests at once, until `malformed` bad requests are answered: the status of every answer."
    rng, done = random.Random(seed), asyncio.Event()
    good, bad = collections.Counter(), dict(sent=0, **{'4xx': 0, '5xx': 0, 'other': 0})
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=clients + 4)) as http:
        async def client():
            while not done.is_set():
                r = await http.post('/predict', json={'text': rng.choice(sentences)}); good[r.status_code] += 1
        async def evil(k:int):
            while bad['sent'] < malformed:
                i = bad['sent']; bad['sent'] += 1
                r = await http.post('/predict', **MALFORMED[(i + k) % len(MALFORMED)][1])
                bad['4xx' if 400 <= r.status_code < 500 else '5xx' if r.status_code >= 500 else 'other'] += 1
        async def evils():
            await asyncio.gather(evil(0), evil(1)); done.set()
        await asyncio.gather(*(client() for _ in range(clients)), evils())
    return dict(**bad, good_requests=sum(good.values()), good_not_ok=sum(n for s, n in good.items() if s != 200))

def in_process(run:Path, sentences:list[str], n:int=300)->dict:
    "Median milliseconds for one sentence without HTTP, in this process: ftbook's `Predictor` and the pipeline."
    from transformers import pipeline
    from ftbook.inference import Predictor
    pred = Predictor.from_pretrained(run)
    pipe = pipeline('token-classification', model=str(run), aggregation_strategy='first', device='cpu')
    out = {}
    for name, f in (('predictor', lambda s: pred.predict([s])), ('pipeline', pipe)):
        for s in sentences[:10]: f(s)                  # warm-up
        times = []
        for s in sentences[:n]:
            t = time.perf_counter(); f(s); times.append(time.perf_counter() - t)
        out[name] = 1000 * statistics.median(times)
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--clients', type=int, default=16); ap.add_argument('--seconds', type=float, default=30)
    ap.add_argument('--malformed', type=int, default=1000)
    ap.add_argument('--runs', default='batched,unbatched,pipeline')
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    start_time = time.perf_counter()
    train, _ = default_ner_data(seed=0)
    sentences = [' '.join(s.words) for s in train[:2000]]
    ftbook = str(Path(sys.executable).parent/'ftbook')
    runs, malformed = {}, None
    with tempfile.TemporaryDirectory() as d:
        run = Path(d)/'run'
        set_seed(0)
        TaskModel.from_encoder(None, 'token', LabelSet.from_tags(train)).save_pretrained(run)
        load_tokenizer().save_pretrained(run)
        (Path(d)/'pipeline_app.py').write_text(PIPELINE_APP)
        commands = dict(batched=[ftbook, 'serve', '--model', str(run)], unbatched=[ftbook, 'serve', '--model', str(run), '--max-batch', '1'],
                        pipeline=[sys.executable, str(Path(d)/'pipeline_app.py'), str(run)])
        for name in a.runs.split(','):
            port = free_port()
            cmd = commands[name] + ([str(port)] if name == 'pipeline' else ['--port', str(port), '--log-level', 'warning'])
            proc = start(cmd, port, Path(d)/f'{name}.log')
            try:
                runs[name] = asyncio.run(drive(f'http://127.0.0.1:{port}', sentences, a.clients, a.seconds))
                if name == 'batched' and a.malformed: malformed = asyncio.run(mixed(f'http://127.0.0.1:{port}', sentences, a.clients, a.malformed))
            finally:
                proc.terminate(); proc.wait(60)
            r = runs[name]
            print(f"{name:10s} {r['rps']:7.1f} requests/s  p50 {r['p50_ms']:6.0f} ms  p99 {r['p99_ms']:6.0f} ms  mean batch {r['mean_batch']:5.1f}"
                  f"  5xx {r['server_errors']}  ({r['requests']} requests)", flush=True)
        one = in_process(run, sentences)
        print(f"one sentence in this process, no HTTP: Predictor {one['predictor']:.1f} ms, pipeline {one['pipeline']:.1f} ms (medians)")
    if malformed: print(f"malformed requests during the batched run: {malformed}")
    if a.json: save_results(a.json, command='bench/serve_load.py ' + ' '.join(sys.argv[1:]), clients=a.clients, seconds=a.seconds,
                            words=statistics.mean(len(s.split()) for s in sentences), runs=runs, malformed=malformed, one_sentence_ms=one,
                            total_seconds=time.perf_counter() - start_time)
    if 'batched' in runs and 'pipeline' in runs:
        print(f"\nbatched ftbook serve: {runs['batched']['rps'] / runs['pipeline']['rps']:.2f}x the pipeline server's requests/s"
              + (f", {runs['batched']['rps'] / runs['unbatched']['rps']:.2f}x unbatched" if 'unbatched' in runs else ''))

if __name__ == '__main__': main()
