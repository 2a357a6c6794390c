"""A class on one server: N simulated students against `streamlit run dashboard/Home.py`.

    python -m bench.load --students 10 20 30

For each class size it starts its own server on localhost with a temporary store, and:

1. times one training run alone (the solo speed) and a newly opened Train page on the idle server;
2. requests one different run per student (ResNet-20, 2,000 Shapes-10 images, 1 epoch; seeds 0..N-1)
   through ``core.runs.jobs`` with the student's own requester id, exactly as the Train page's Start button
   does, and asks for the first run once more from another student (one job, never two);
3. connects every student: a websocket client that speaks Streamlit's own protocol (BackMsg /
   ForwardMsg protobufs from ``streamlit.proto``) the way a browser tab does, opening the Train page
   on its own run (``?run=<id>``) and rerunning each fragment whenever the server asks for it
   (``auto_rerun``). One asyncio process drives every student, so the load generator stays light;
4. while they watch: the server process's CPU (workers excluded: they are separate processes),
   a newly opened page's render time, the first run's training speed, the queue places the
   students' pages show, and how often each config was trained (worker log).

The generator's own CPU share is reported beside the server's. Results go to bench/results/load-*.json.
No test asserts on these numbers: it is a measurement, with its baseline (solo, idle) taken in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from core.engine.config import RunConfig
from core.runs.logs import log_dir

REPO = Path(__file__).resolve().parents[1]  # run as `python -m bench.load` from here: `core` is importable

TICKS = os.sysconf("SC_CLK_TCK")
# The Train page's run for 2,000 images (its probes: every step, as the page records ~60 probes a run).
RUN = dict(depth=20, shortcut="A", dataset="builtin", subset=2000, test_subset=1000, epochs=1, probe_every=1)
RENDER_TIMEOUT_S = 240  # a student page that has not rendered by then is counted as not rendered
QUEUED_TEXT = re.compile(r"queued: (\d+)(st|nd|rd|th)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Student:
    """One browser tab, at the protocol level: opens a page, reruns fragments when told, reads what it is shown."""

    def __init__(self, url: str, page: str, query: str = ""):
        self.url, self.page, self.query = url, page, query
        self.texts: list[str] = []
        self.finished = asyncio.Event()
        self.first_render_s: float | None = None
        self.timers: dict[str, asyncio.Task] = {}
        self.fragment_runs = 0
        self.ws = None
        self.error: str | None = None

    def _rerun(self, fragment_id: str = "") -> bytes:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_name = self.page
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = True
        return msg.SerializeToString()

    async def _every(self, interval: float, fragment_id: str) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.ws.send(self._rerun(fragment_id))
            self.fragment_runs += 1

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._run(stop)
        except (OSError, websockets.WebSocketException) as e:  # counted as a page that did not render
            self.error = f"{type(e).__name__}: {e}"

    async def _run(self, stop: asyncio.Event) -> None:
        start = time.perf_counter()
        async with websockets.connect(self.url, subprotocols=["streamlit"], max_size=None, open_timeout=300) as ws:
            self.ws = ws
            await ws.send(self._rerun())
            reader = asyncio.create_task(self._read(ws, start))
            await stop.wait()
            for task in self.timers.values():
                task.cancel()
            reader.cancel()

    async def _read(self, ws, start: float) -> None:
        async for data in ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                which = element.WhichOneof("type")
                if which in ("alert", "markdown"):
                    self.texts.append(getattr(element, which).body)
                elif which == "progress":
                    self.texts.append(element.progress.text)
            elif kind == "auto_rerun" and msg.auto_rerun.fragment_id not in self.timers:
                self.timers[msg.auto_rerun.fragment_id] = asyncio.create_task(
                    self._every(msg.auto_rerun.interval, msg.auto_rerun.fragment_id)
                )
            elif kind == "stop_auto_rerun" or (kind == "new_session" and not msg.metadata.run.fragment_ids):
                for task in self.timers.values():  # a full run: the fragments it draws ask again
                    task.cancel()
                self.timers.clear()
            elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                if self.first_render_s is None:
                    self.first_render_s = time.perf_counter() - start
                self.finished.set()


async def render_time(url: str, page: str, query: str = "", timeout: float = 300) -> float:
    """Seconds from opening a fresh page (a new session) until its script has finished once."""
    student, stop = Student(url, page, query), asyncio.Event()
    task = asyncio.create_task(student.run(stop))
    try:
        await asyncio.wait_for(student.finished.wait(), timeout)
    finally:
        stop.set()
        await task
    return student.first_render_s


class Server:
    def __init__(self, home: Path, workers: int = 1):
        self.home, self.port = home, free_port()
        env = {
            **os.environ,
            "RESNET_LAB_HOME": str(home),
            "RESNET_LAB_WORKERS": str(workers),
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        }
        self.log = open(home / "streamlit.log", "w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "dashboard/Home.py",
                "--server.port",
                str(self.port),
                "--server.address",
                "localhost",
                "--server.headless",
                "true",
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = f"http://localhost:{self.port}"
        self.ws = f"ws://localhost:{self.port}/_stcore/stream"
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{self.http}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start: {(home / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.5)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


async def wait_done(store, run_id: str, timeout: float = 900) -> None:
    from core.runs import lifecycle

    deadline = time.time() + timeout
    while time.time() < deadline:
        record = store.get(run_id)
        if record is not None and not lifecycle.is_live(record):
            return
        await asyncio.sleep(0.5)  # Ctrl-C stops the measurement here too
    raise TimeoutError(f"run {run_id} did not finish in {timeout} s")


async def measure(n: int, window_s: float, log) -> dict:
    from core.runs import jobs
    from core.runs.backends import LocalWorkers
    from core.runs.store import RunStore

    home = Path(tempfile.mkdtemp(prefix="resnet-lab-load-"))
    server = Server(home)
    store = RunStore(home)
    backend = LocalWorkers(workers=1)
    try:
        # -- baselines on the idle server: a warm-up page, then the solo run and the idle page render.
        await render_time(server.ws, "Train")
        solo_cfg = RunConfig(**RUN, seed=10_000)
        backend.submit(store, solo_cfg, "bench-solo")  # also builds the data set's cache for the runs below
        await wait_done(store, solo_cfg.run_id)
        solo = store.get(solo_cfg.run_id)
        idle_renders = [await render_time(server.ws, "Train") for _ in range(3)]
        cpu0, t0 = server.cpu(), time.perf_counter()
        await asyncio.sleep(window_s / 3)
        idle_cpu = (server.cpu() - cpu0) / (time.perf_counter() - t0)
        log(
            f"[{n}] solo {solo.seconds:.1f} s, idle render {statistics.median(idle_renders):.2f} s, idle "
            f"server CPU {idle_cpu:.1%}"
        )

        # -- N students, N different runs (and the first asked for twice).
        configs = [RunConfig(**RUN, seed=k) for k in range(n)]
        for k, c in enumerate(configs):
            backend.submit(store, c, f"student-{k}")
        backend.submit(store, configs[0], f"student-{n - 1}")
        gen0, wall0 = time.process_time(), time.perf_counter()
        students = [Student(server.ws, "Train", f"run={c.run_id}") for c in configs]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(s.run(stop)) for s in students]
        waits = [asyncio.create_task(s.finished.wait()) for s in students]
        await asyncio.wait(waits, timeout=RENDER_TIMEOUT_S)
        for w in waits:
            w.cancel()
        rendered = sum(s.finished.is_set() for s in students)
        connected_s = time.perf_counter() - wall0
        log(f"[{n}] {rendered} of {n} pages rendered after {connected_s:.1f} s")

        # -- watching: server CPU over a window, newly opened pages, the first run's speed.
        cpu1, g1, t1 = server.cpu(), time.process_time(), time.perf_counter()
        loaded_renders = []
        while time.perf_counter() - t1 < window_s:
            loaded_renders.append(await render_time(server.ws, "Train", f"run={configs[0].run_id}"))
            await asyncio.sleep(max(0.0, min(5.0, window_s - (time.perf_counter() - t1))))
        elapsed = time.perf_counter() - t1
        server_cpu = (server.cpu() - cpu1) / elapsed
        gen_cpu = (time.process_time() - g1) / elapsed
        places = sorted({int(m.group(1)) for s in students for t in s.texts for m in [QUEUED_TEXT.search(t)] if m})
        fragment_runs = sum(s.fragment_runs for s in students)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        gen_total = (time.process_time() - gen0) / (time.perf_counter() - wall0)

        await wait_done(store, configs[0].run_id)
        first = store.get(configs[0].run_id)
        for c in configs[1:]:
            jobs.cancel(store, c.run_id)  # the rest need not train for this measurement
        trained = re.findall(r"training ([0-9a-f]{12})", (log_dir(home) / "worker.log").read_text())
        twice = sorted({r for r in trained if trained.count(r) > 1})
        result = {
            "students": n,
            "cores": os.cpu_count(),
            "run": {**RUN, "recipe": "paper"},
            "solo_training_s": round(solo.seconds, 2),
            "first_run_training_s": round(first.seconds, 2),
            "first_run_speed_vs_solo": round(solo.seconds / first.seconds, 3) if first.seconds else None,
            "idle_render_s": round(statistics.median(idle_renders), 2),
            "loaded_render_s": round(statistics.median(loaded_renders), 2),
            "loaded_renders": len(loaded_renders),
            "render_ratio": round(statistics.median(loaded_renders) / statistics.median(idle_renders), 2),
            "pages_rendered": rendered,
            "pages_rendered_s": round(connected_s, 1),
            "server_cpu_idle": round(idle_cpu, 3),
            "server_cpu_watching": round(server_cpu, 3),
            "server_cpu_per_student": round(max(0.0, server_cpu - idle_cpu) / n, 4),
            "generator_cpu_watching": round(gen_cpu, 3),
            "generator_cpu_overall": round(gen_total, 3),
            "fragment_reruns": fragment_runs,
            "window_s": round(elapsed, 1),
            "queue_places_shown": places,
            "configs_trained_twice": len(twice),
            "first_run_status": str(first.status),
        }
        log(json.dumps(result))
        return result
    finally:
        backend.stop_workers()
        server.stop()
        for pid in store.live_workers():  # workers the server started
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        time.sleep(2)
        shutil.rmtree(home, ignore_errors=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[10], help="class sizes to measure (default 10)")
    parser.add_argument("--window", type=float, default=30, help="seconds of watching measured per class size")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="directory for the JSON report")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"load-cpu-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results = []
    for n in args.students:  # the file is rewritten after each class size, so a long series keeps what it measured
        results.append(asyncio.run(measure(n, args.window, lambda s: print(s, file=sys.stderr, flush=True))))
        report = {
            "machine": os.uname().nodename,
            "cores": os.cpu_count(),
            "load_average": os.getloadavg(),
            "results": results,
        }
        path.write_text(json.dumps(report, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
