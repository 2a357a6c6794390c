"""A class on one server: N simulated students against `streamlit run dashboard/Home.py`.

    python -m bench.load --students 10 30 60

For each class size it starts its own server on localhost with a temporary store, and:

1. times one training run alone (the solo speed) and a newly opened Train page on the idle server;
2. requests one different run per student (ResNet-20, all 20,000 Shapes-10 training images, 1 epoch; seeds
   0..N-1; long enough that the first run's speed is measured while the class watches, not while it connects)
   through ``core.runs.jobs`` with the student's own requester id, exactly as the Train page's Start button
   does, and asks for the first run once more from another student (one job, never two);
3. connects every student: a websocket client that speaks Streamlit's own protocol (BackMsg /
   ForwardMsg protobufs from ``streamlit.proto``) the way a browser tab does, opening the Train page
   on its own run (``?run=<id>``) and rerunning each fragment whenever the server asks for it
   (``auto_rerun``). One asyncio process drives every student, so the load generator stays light;
4. while they watch: the server process's CPU over ``--window`` seconds with nothing else opened (workers
   excluded: they are separate processes), then the render time of a few newly opened pages, the polling
   intervals the server gave the students' fragments, and the queue places their pages show;
5. the students go on watching until the first run has finished: its training speed against the solo run's,
   and how often each config was trained (worker log).

Every wait has a time limit (a page: RENDER_TIMEOUT_S, a run: RUN_TIMEOUT_S); a class size that cannot be
measured is reported with why, and its server, workers and temporary store are removed whatever happens
(Ctrl-C and SIGTERM included).
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
import signal
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
# A Train page run over all 20,000 training images (about 30 s alone on 2 cores with bf16), probes every step.
RUN = dict(depth=20, shortcut="A", dataset="builtin", subset=20000, test_subset=1000, epochs=1, probe_every=1)
RENDER_TIMEOUT_S = 240  # a page that has not rendered by then is counted as not rendered
RUN_TIMEOUT_S = 1800  # a run that has not finished by then ends the measurement of its class size
CLOSE_TIMEOUT_S = 30  # a student's connection that has not closed by then is left behind
LOADED_RENDERS = 5  # newly opened pages timed while the class watches
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
        self.paces: dict[str, float] = {}  # each fragment's last polling interval, as the server asked
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

    def _pace(self, fragment_id: str, interval: float | None) -> None:
        """As the browser does: one timer per fragment, replaced when its interval changes, dropped on a stop."""
        if interval is not None and fragment_id in self.timers and self.paces.get(fragment_id) == interval:
            return
        if fragment_id in self.timers:
            self.timers.pop(fragment_id).cancel()
        if interval is not None:
            self.paces[fragment_id] = interval
            self.timers[fragment_id] = asyncio.create_task(self._every(interval, fragment_id))

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
            elif kind == "auto_rerun":
                self._pace(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
            elif kind == "stop_auto_rerun":
                for fragment_id in msg.stop_auto_rerun.fragment_ids:
                    self._pace(fragment_id, None)
            elif kind == "new_session" and not msg.metadata.run.fragment_ids:
                for fragment_id in list(self.timers):  # a full run: the fragments it draws ask again
                    self._pace(fragment_id, None)
            elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                if self.first_render_s is None:
                    self.first_render_s = time.perf_counter() - start
                self.finished.set()


async def render_time(url: str, page: str, query: str = "", timeout: float = 300) -> float | None:
    """Seconds from opening a fresh page (a new session) until its script has finished once; None if it has not
    within ``timeout`` seconds (or its connection failed)."""
    student, stop = Student(url, page, query), asyncio.Event()
    task = asyncio.create_task(student.run(stop))
    try:
        await asyncio.wait_for(student.finished.wait(), timeout)
    except TimeoutError:
        pass
    finally:
        stop.set()
        await asyncio.wait([task], timeout=CLOSE_TIMEOUT_S)
    return student.first_render_s


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


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
                self.stop()
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


async def wait_done(store, run_id: str, timeout: float = RUN_TIMEOUT_S) -> bool:
    """Wait until the run is neither queued nor training; False if it still is after ``timeout`` seconds."""
    from core.runs import lifecycle

    deadline = time.time() + timeout
    while time.time() < deadline:
        record = store.get(run_id)
        if record is not None and not lifecycle.is_live(record):
            return True
        await asyncio.sleep(0.5)  # Ctrl-C stops the measurement here too
    return False


async def baselines(server: Server, store, backend, window_s: float, log) -> dict:
    """On the idle server: a warm-up page, the solo run, the idle page render and the idle server's CPU."""
    await render_time(server.ws, "Train", timeout=RENDER_TIMEOUT_S)
    solo_cfg = RunConfig(**RUN, seed=10_000)
    backend.submit(store, solo_cfg, "bench-solo")  # also builds the data set's cache for the runs below
    if not await wait_done(store, solo_cfg.run_id):
        raise TimeoutError(f"the solo run did not finish in {RUN_TIMEOUT_S} s")
    solo = store.get(solo_cfg.run_id)
    await asyncio.sleep(3)  # the worker's last writes settle
    idle_renders = [await render_time(server.ws, "Train", timeout=RENDER_TIMEOUT_S) for _ in range(5)]
    cpu0, t0 = server.cpu(), time.perf_counter()
    await asyncio.sleep(window_s / 3)
    idle_cpu = (server.cpu() - cpu0) / (time.perf_counter() - t0)
    log(f"solo {solo.seconds:.1f} s, idle render {median(idle_renders)} s, idle server CPU {idle_cpu:.1%}")
    return dict(solo_s=solo.seconds, idle_render=median(idle_renders), idle_cpu=idle_cpu)


async def connect(server: Server, configs: list, log) -> tuple[list[Student], list[asyncio.Task], asyncio.Event, dict]:
    """Every student opens the Train page on its own run; how many rendered, and how soon."""
    t0 = time.perf_counter()
    students = [Student(server.ws, "Train", f"run={c.run_id}") for c in configs]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in students]
    waits = [asyncio.create_task(s.finished.wait()) for s in students]
    await asyncio.wait(waits, timeout=RENDER_TIMEOUT_S)
    for w in waits:
        w.cancel()
    rendered = sum(s.finished.is_set() for s in students)
    log(f"{rendered} of {len(students)} pages rendered after {time.perf_counter() - t0:.1f} s")
    return students, tasks, stop, dict(pages_rendered=rendered, pages_rendered_s=round(time.perf_counter() - t0, 1))


async def watching(server: Server, students: list[Student], first_id: str, window_s: float) -> dict:
    """While every student watches: the server's and this generator's CPU over ``window_s`` (nothing else opened),
    then the render time of newly opened pages (on the first run, which trains), one every few seconds."""
    cpu0, g0, t0, f0 = server.cpu(), time.process_time(), time.perf_counter(), sum(s.fragment_runs for s in students)
    await asyncio.sleep(window_s)
    elapsed = time.perf_counter() - t0
    measured = dict(
        window_s=round(elapsed, 1),
        server_cpu=(server.cpu() - cpu0) / elapsed,
        generator_cpu=(time.process_time() - g0) / elapsed,
        fragment_reruns=sum(s.fragment_runs for s in students) - f0,
    )
    renders = []
    for _ in range(LOADED_RENDERS):
        renders.append(await render_time(server.ws, "Train", f"run={first_id}", timeout=RENDER_TIMEOUT_S))
        await asyncio.sleep(3)
    paces = sorted({p for s in students for p in s.paces.values()})
    return dict(measured, loaded_renders=renders, paces=paces)


async def measure(n: int, window_s: float, log) -> dict:
    """One class size on its own server and store, cleaned up whatever happens."""
    from core.runs.backends import LocalWorkers
    from core.runs.store import RunStore

    home = Path(tempfile.mkdtemp(prefix="resnet-lab-load-"))
    server, store, backend = None, None, LocalWorkers(workers=1)
    try:
        server = Server(home)
        store = RunStore(home)
        base = await baselines(server, store, backend, window_s, lambda m: log(f"[{n}] {m}"))
        configs = [RunConfig(**RUN, seed=k) for k in range(n)]  # N students, N runs, the first asked for twice
        for k, c in enumerate(configs):
            backend.submit(store, c, f"student-{k}")
        backend.submit(store, configs[0], f"student-{n - 1}")
        g0, wall0 = time.process_time(), time.perf_counter()
        students, tasks, stop, pages = await connect(server, configs, lambda m: log(f"[{n}] {m}"))
        watched = await watching(server, students, configs[0].run_id, window_s)
        first_done = await wait_done(store, configs[0].run_id)  # the students watch until it ends
        stop.set()
        await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
        generator_overall = (time.process_time() - g0) / (time.perf_counter() - wall0)
        result = report(n, base, pages, watched, store.get(configs[0].run_id) if first_done else None, students)
        result["generator_cpu_overall"] = round(generator_overall, 3)
        result["configs_trained_twice"] = trained_twice(home)
        log(json.dumps(result))
        return result
    finally:
        cleanup(home, server, store, backend)


def report(n: int, base: dict, pages: dict, watched: dict, first, students: list[Student]) -> dict:
    """The numbers of one class size, each beside its baseline."""
    loaded = median(watched["loaded_renders"])
    places = sorted({int(m.group(1)) for s in students for t in s.texts for m in [QUEUED_TEXT.search(t)] if m})
    watching_cpu = max(0.0, watched["server_cpu"] - base["idle_cpu"])
    return {
        "students": n,
        "cores": os.cpu_count(),
        "run": {**RUN, "recipe": "paper"},
        "solo_training_s": round(base["solo_s"], 2),
        "first_run_training_s": round(first.seconds, 2) if first else None,
        "first_run_speed_vs_solo": ratio(base["solo_s"], first.seconds) if first else None,
        "first_run_status": str(first.status) if first else f"not finished in {RUN_TIMEOUT_S} s",
        "idle_render_s": base["idle_render"],
        "loaded_render_s": loaded,
        "loaded_renders": watched["loaded_renders"],
        "loaded_renders_timed_out": sum(r is None for r in watched["loaded_renders"]),
        "render_ratio": ratio(loaded, base["idle_render"]),
        **pages,
        "server_cpu_idle": round(base["idle_cpu"], 3),
        "server_cpu_watching": round(watched["server_cpu"], 3),
        "server_cpu_per_student": round(watching_cpu / n, 4),
        "generator_cpu_watching": round(watched["generator_cpu"], 3),
        "fragment_reruns": watched["fragment_reruns"],
        "fragment_reruns_per_student_per_min": round(60 * watched["fragment_reruns"] / n / watched["window_s"], 2),
        "poll_intervals_s": watched["paces"],
        "window_s": watched["window_s"],
        "queue_places_shown": places,
    }


def trained_twice(home: Path) -> int:
    log = log_dir(home) / "worker.log"
    trained = re.findall(r"training ([0-9a-f]{12})", log.read_text()) if log.exists() else []
    return len({r for r in trained if trained.count(r) > 1})


def cleanup(home: Path, server: Server | None, store, backend) -> None:
    """Stop the workers (this process's and the server's) and the server, and remove the temporary store."""
    from core.runs import jobs

    if store is not None:
        for run_id in [r.run_id for r in store.queue()]:
            jobs.cancel(store, run_id)  # nothing left for a worker to take
    backend.stop_workers(timeout=10)
    if server is not None:
        server.stop()
    if store is not None:
        for pid in store.live_workers():  # workers the server started (their own sessions: they outlive it)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 20
        while store.live_workers() and time.time() < deadline:
            time.sleep(0.5)
        for pid in store.live_workers():
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(home, ignore_errors=True)


def stop_on_sigterm(*_) -> None:
    """A killed measurement stops as on Ctrl-C (asyncio cancels it), so that ``cleanup`` still runs."""
    signal.raise_signal(signal.SIGINT)


def table(path: Path | None = None) -> str:
    """The README's table from a results file (default: the newest ``load-cpu-*.json``)."""
    path = path or sorted((REPO / "bench" / "results").glob("load-cpu-*.json"))[-1]
    lines = [
        f"From `{path.relative_to(REPO).as_posix()}`:",
        "",
        "| students | server CPU watching (per student) | generator CPU | new page: loaded / idle | first run vs solo "
        "| reruns per student a minute | queue places shown | configs trained twice |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in json.loads(path.read_text())["results"]:
        if "error" in r:
            lines.append(f"| {r['students']} | not measured: {r['error']} | | | | | | |")
            continue
        lines.append(
            f"| {r['students']} | {r['server_cpu_watching']:.1%} of a core ({r['server_cpu_per_student']:.2%}) | "
            f"{r['generator_cpu_watching']:.1%} | {r['loaded_render_s']:.2f} s / {r['idle_render_s']:.2f} s = "
            f"{r['render_ratio']:.1f}× | {r['first_run_speed_vs_solo']:.2f} ({r['first_run_training_s']:.1f} s vs "
            f"{r['solo_training_s']:.1f} s) | {r['fragment_reruns_per_student_per_min']:.0f} | "
            f"1st…{ordinal_word(max(r['queue_places_shown'], default=0))} | {r['configs_trained_twice']} |"
        )
    return "\n".join(lines)


def ordinal_word(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[10], help="class sizes to measure (default 10)")
    parser.add_argument("--window", type=float, default=30, help="seconds of watching measured per class size")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="directory for the JSON report")
    parser.add_argument("--table", action="store_true", help="print the README's table from the newest report")
    parser.add_argument("--write", action="store_true", help="with --table: write it into README.md")
    args = parser.parse_args(argv)
    if args.table:
        if args.write:
            from core.cli.readme import README, replace_block

            README.write_text(replace_block(README.read_text(), "load", table()))
        print(table())
        return
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"load-cpu-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results = []
    for n in args.students:  # the file is rewritten after each class size, so a long series keeps what it measured
        try:
            results.append(asyncio.run(measure(n, args.window, lambda s: print(s, file=sys.stderr, flush=True))))
        except (TimeoutError, RuntimeError, OSError) as e:  # this class size could not be measured: say why, go on
            print(f"[{n}] not measured: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            results.append({"students": n, "error": f"{type(e).__name__}: {e}"})
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
