"""End to end in a real browser: JupyterLab on 127.0.0.1 runs a copy of the widgets chapter in Debian's chromium,
driven by Playwright; pressing the experiment panel's Train button trains the tiny model, and the live curve and the
report appear; pressing the generation panel's Generate button writes the fine-tuned tiny decoder's answer. Skipped, with the reason, where chromium or playwright is missing (`.ci/run` installs both)."""
import os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
try: from playwright.sync_api import sync_playwright
except ImportError: sync_playwright = None

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason='no chromium on PATH (apt-get install chromium)'),
              pytest.mark.skipif(sync_playwright is None, reason='playwright is not installed (pip install playwright)')]

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 over a folder holding a copy of the widgets chapter."
    shutil.copy(ROOT/'nbs'/'07_widgets.ipynb', tmp_path/'widgets.ipynb')
    port = free_port()
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(tmp_path/'.jupyter'), 'JUPYTER_RUNTIME_DIR': str(tmp_path/'.runtime')}
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip', '127.0.0.1', f'--port={port}', '--allow-root',
           f'--ServerApp.root_dir={tmp_path}', "--IdentityProvider.token=", '--ServerApp.password=',
           '--ServerApp.disable_check_xsrf=True', '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate']
    log = open(tmp_path/'lab.log', 'w')
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    for _ in range(120):
        try: urllib.request.urlopen(f'{url}/api/status', timeout=1); break
        except Exception: time.sleep(0.5)
    else:
        proc.kill(); pytest.fail('JupyterLab did not start:\n' + (tmp_path/'lab.log').read_text()[-2000:])
    yield url, tmp_path
    proc.terminate(); proc.wait(20)

def test_train_button_in_jupyterlab(lab):
    url, folder = lab
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--no-first-run',
                                    '--disable-background-networking', '--disable-component-update', '--disable-sync'])
        page = browser.new_page(viewport={'width': 1400, 'height': 1000})
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.goto(f'{url}/lab/tree/widgets.ipynb', timeout=60_000)
        page.wait_for_selector('.jp-Notebook', timeout=60_000)
        # the kernel must be connected (the status bar says so) before cells are sent to it
        page.wait_for_function("() => /ipykernel\\) \\| Idle/.test(document.body.innerText)", timeout=120_000)
        started = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"
        for attempt in range(3):   # a first kernel start in a fresh environment can swallow the first request
            page.click('.lm-MenuBar-itemLabel:text-is("Run")')
            page.click('.lm-Menu-itemLabel:text-is("Run All Cells")')
            try: page.wait_for_function(started, timeout=30_000); break
            except Exception:
                if attempt == 2: raise
        try:
            train = page.locator('button.jupyter-button:has-text("Train")')
            train.first.wait_for(timeout=240_000)
            # the chapter's own cells train the panel twice, the second run stopped from its Stop button
            page.wait_for_function("() => document.body.innerText.includes('done: run 2')", timeout=240_000)
            train.first.click()
            # the status line reads 'done: run 3 …' when the background run has finished and the report is written
            page.wait_for_function("() => document.body.innerText.includes('done: run 3')", timeout=180_000)
            assert 'run 3: lr' in page.inner_text('body') and 'strict IOB2' in page.inner_text('body')
            page.locator('.jupyter-widgets-output-area img, .widget-output img').first.wait_for(timeout=30_000)
            # the generation panel: Generate with the fine-tuned tiny decoder writes its answer, token by token with probabilities
            generate = page.locator('button.jupyter-button:has-text("Generate")')
            generate.first.scroll_into_view_if_needed(); generate.first.click()
            page.wait_for_function("() => /fine-tuned: \\d+ tokens, mean probability/.test(document.body.innerText)", timeout=60_000)
            assert page.locator('span[title^="p="]').count() > 0
        except Exception:
            page.screenshot(path=str(folder/'failure.png'))
            print('JupyterLab log:', (folder/'lab.log').read_text()[-3000:], sep='\n')
            raise
        page.screenshot(path=str(folder/'jupyterlab-widgets.png'), full_page=False)
        browser.close()
    assert (folder/'jupyterlab-widgets.png').stat().st_size > 10_000
    assert not errors, errors
