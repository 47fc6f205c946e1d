"""`dlcourse serve`: a run's model over HTTP, with a demo page at `/`.

`POST /predict` answers with exactly the records of `dlcourse predict --json`: one
Predictor (dlcourse.prediction) prepares inputs for both. The model is loaded once with
Keras's safe mode and called through one traced function; nothing from the run directory
runs. Bad requests get a 4xx JSON body `{"error": "..."}` that names the problem.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations, and
# names imported inside create_app must be objects there, not strings.
import asyncio
import base64
import binascii
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from dlcourse import extras
from dlcourse.errors import DlcourseError, RunError
from dlcourse.prediction import Predictor
from dlcourse.reports import expected_against_measured
from dlcourse.data.dataset import first_repeated
from dlcourse.rundir import RunDir, read_run_text

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Limits:
    """What one request may carry, and how many connections are served at once: each
    may be buffering a body, so together they bound the server's memory (30 uploads of
    8 MB at once doubled it, unbounded)."""

    body_bytes: int = 8 << 20
    inputs: int = 64
    connections: int = 64
    # A request must arrive whole within this: 64 connections that sent nothing, or part
    # of their headers, held every slot, and the server answered 503 for as long as they
    # stayed open. 8 MB at 1 Mbit/s takes 64 s.
    receive_seconds: float = 120.0


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def create_app(run_dir: str | Path, limits: Limits = Limits(), *, compiled: bool = True):
    """The FastAPI application serving `run_dir`'s model. `compiled` False calls
    `model.predict` for each request instead (benchmarks/serve.py's peer)."""
    extras.require("serve", "`dlcourse serve`")
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
    from fastapi_offline import FastAPIOffline
    from starlette.exceptions import HTTPException

    predictor = Predictor(run_dir, compiled=compiled)
    if predictor.family.is_text and predictor.config.data.dataset != "raw_text":
        predictor.word_index()  # a server takes texts: said at its start, not per request
    info = run_info(predictor)
    page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    # FastAPI's own /docs and /redoc load their scripts from a CDN, and were blank pages on
    # a machine without internet (a classroom's, CI's); these serve them from the package.
    app = FastAPIOffline(title=f"dlcourse: {info['config']}", version="1",
                         description="Predictions of one dlcourse run's model.")

    @app.exception_handler(BadRequest)
    async def bad_request(_request, error: BadRequest):
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(HTTPException)
    async def http_error(_request, error: HTTPException):
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, error: RequestValidationError):
        return JSONResponse({"error": f"Invalid request: {error.errors()}"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_request, error: Exception):  # a bug: no traceback to the client
        return JSONResponse({"error": f"the server failed on this request ({type(error).__name__})"},
                            status_code=500)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def demo_page():
        return page

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    # HEAD as well: `curl -I` and uptime monitors got 405 from the page and /health. Apart
    # from GET's routes, and not in the schema: one route of both gave them one
    # operation id, which FastAPI warned of and client generators refuse.
    app.add_api_route("/", demo_page, methods=["HEAD"], response_class=HTMLResponse,
                      include_in_schema=False)
    app.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)

    @app.get("/info")
    def run_information() -> dict:
        return info

    @app.get("/report", response_class=HTMLResponse)
    def report():
        """The run's report.html, as training wrote it (its figures are inside it)."""
        try:  # read as every run file is: a regular file, within a size bound
            return HTMLResponse(read_run_text(predictor.run.report_path))
        except RunError:
            raise BadRequest(404, "This run has no readable report.html.") from None

    # As many requests predicted at once as there are cores, the others waiting: Starlette's
    # 40 threads would each hold a picture being decoded (a 49-megapixel one takes 0.6 GB).
    working = asyncio.Semaphore(os.cpu_count() or 2)

    @app.post("/predict", openapi_extra={"requestBody": _PREDICT_BODY})
    async def predict(request: Request) -> dict:
        """`{"texts": [...]}` for a text model; `{"images": ["<base64 PNG or JPEG>", ...]}`
        or a multipart upload of image files for an image model."""
        body = await _bounded_body(request, limits.body_bytes)
        kind, inputs = await _inputs(request, body, predictor, limits)
        try:
            async with working:
                if kind == "texts":
                    predictions = await run_in_threadpool(predictor.predict, inputs)
                else:
                    predictions = await run_in_threadpool(predictor.predict_pictures, inputs)
        except DlcourseError as error:
            raise BadRequest(422, str(error)) from None
        return {"predictions": [prediction.as_dict() for prediction in predictions]}

    return app


def run_info(predictor: Predictor) -> dict[str, Any]:
    """What /info and the demo page say of the run."""
    run = predictor.run
    metrics = predictor.recorded_metrics()
    return {
        "config": predictor.config.name,
        "run": run.path.name,
        "model": {"layers": [layer.__class__.__name__ for layer in predictor.model.layers],
                  "parameters": int(predictor.model.count_params())},
        "inputs": "texts" if predictor.family.is_text else "images",
        "input_shape": list(predictor.input_shape),
        "task": predictor.config.task,
        "classes": list(predictor.class_names) if predictor.class_names else None,
        "metrics": {key: value for key, value in metrics.items()
                    if key.startswith(("test_", "best_val_")) and isinstance(value, (int, float))},
        "expected_against_measured": expected_against_measured(metrics),
        "report": "/report" if run.report_path.is_file() else None,
    }


_PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "properties": {
            "texts": {"type": "array", "items": {"type": "string"}},
            "images": {"type": "array", "items": {"type": "string", "format": "byte"}},
        }}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "images": {"type": "array", "items": {"type": "string", "format": "binary"}},
        }}},
    },
}


async def _bounded_body(request, largest: int) -> bytes:
    """The body, refused with 413 as soon as it passes `largest` bytes (a Content-Length
    may be missing or false)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > largest:
        raise BadRequest(413, _too_large(int(declared), largest))
    from starlette.requests import ClientDisconnect

    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > largest:
                raise BadRequest(413, _too_large(size, largest))
            chunks.append(chunk)
    except ClientDisconnect:  # gone mid-body: its 70-line traceback filled the server's log
        raise BadRequest(400, "The client closed the connection before its body ended.") from None
    return b"".join(chunks)


def _too_large(size: int, largest: int) -> str:
    return (f"The request body is over {largest:,} bytes (at least {size:,}); send fewer or "
            "smaller inputs per request, or start the server with a larger --max-body-mb.")


async def _inputs(request, body: bytes, predictor: Predictor, limits: Limits):
    """('texts', [str]) or ('images', [(name, bytes)]) from a JSON or multipart body."""
    wanted = "texts" if predictor.family.is_text else "images"
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        if wanted == "texts":
            raise BadRequest(415, 'This model reads texts: send JSON {"texts": ["...", ...]}.')
        items = await _uploaded(request, body, limits)
    elif media in ("application/json", ""):
        items = _json_inputs(body, wanted)
    else:
        raise BadRequest(415, f"Unsupported content type {media!r}: send application/json, "
                         "or multipart/form-data with image files.")
    if not items:
        raise BadRequest(422, f"{wanted!r} is empty: give one or more inputs.")
    if len(items) > limits.inputs:
        raise BadRequest(413, f"{len(items)} inputs in one request; at most {limits.inputs} "
                         "(--max-inputs). Split them over several requests.")
    return wanted, items


def _json_inputs(body: bytes, wanted: str) -> list:
    example = '{"texts": ["a review", ...]}' if wanted == "texts" else \
        '{"images": ["<base64 PNG or JPEG>", ...]}'
    try:
        data = json.loads(body, object_pairs_hook=_one_value_a_key)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError too
        raise BadRequest(400, f"The body is not JSON ({error}); send {example}.") from None
    if not isinstance(data, dict) or set(data) != {wanted}:
        given = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise BadRequest(422, f"Expected exactly the field {wanted!r} for this model, got "
                         f"{given}; send {example}.")
    items = data[wanted]
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise BadRequest(422, f"{wanted!r} must be a list of strings; send {example}.")
    if wanted == "texts":
        return items
    return [(f"images[{position}]", _decoded(item, position)) for position, item in enumerate(items)]


def _one_value_a_key(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are distinct: of two "texts", one was dropped unseen.
    Found in one pass: the body is a stranger's, and the event loop waits on it."""
    if (twice := first_repeated([key for key, _ in pairs])) is not None:
        raise BadRequest(400, f"The body names the key {twice!r} twice in one object; "
                         "send each field once.")
    return dict(pairs)


def _decoded(item: str, position: int) -> bytes:
    if item.startswith("data:") and "," in item:  # a data URL, as a canvas gives it
        item = item.split(",", 1)[1]
    # base64 as tools write it: wrapped in lines (base64 -w 60), without its = padding, or
    # URL-safe (- and _); anything else is refused, not skipped as b64decode would.
    item = re.sub(r"\s+", "", item).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(item + "=" * (-len(item) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(422, f"images[{position}] is not base64: encode each picture's "
                         "PNG or JPEG bytes as base64.") from None


async def _uploaded(request, body: bytes, limits: Limits) -> list[tuple[str, bytes]]:
    from starlette.requests import Request

    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=limits.inputs,
                                                         max_fields=limits.inputs)
    except Exception as error:  # python-multipart's and Starlette's parse errors
        if "Too many files" in str(error):
            # As for a JSON body of too many inputs: the limit, not the body, is the reason.
            raise BadRequest(413, f"More than {limits.inputs} files in one request; at most "
                             f"{limits.inputs} (--max-inputs). Split them over several "
                             "requests.") from None
        if "Too many fields" in str(error):  # form fields beside the files: "files" misled
            raise BadRequest(413, f"More than {limits.inputs} form fields in one request; "
                             "upload the pictures as files, with no other fields.") from None
        raise BadRequest(400, f"Can't read the multipart body ({error}).") from None
    files = [value for _, value in form.multi_items() if hasattr(value, "read")]
    if not files:
        raise BadRequest(422, "The multipart body has no file: upload image files.")
    return [(upload.filename or f"file {position}", await upload.read())
            for position, upload in enumerate(files)]


def serve(run_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8000,
          limits: Limits = Limits(), say=print) -> None:
    """Serve until Ctrl-C."""
    extras.require("serve", "`dlcourse serve`")  # before uvicorn's import: one paragraph
    import uvicorn

    RunDir(run_dir).require()
    _check_free(host, port)
    app = create_app(run_dir, limits)
    if host not in LOOPBACK:
        say(f"Listening on {host}, not only this machine's loopback: anyone who can reach "
            "this machine can use the model.")
    say(f"Serving {run_dir} at http://{_url_host(host)}:{port}/ (API docs at /docs). "
        "Ctrl-C stops.")
    logging.getLogger("uvicorn.error").addFilter(_REFUSALS_COUNTED)  # once a process
    # No startup or shutdown hooks: with the lifespan protocol on, a second Ctrl-C (uvicorn
    # then quits at once) printed a CancelledError traceback from it.
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off",
                http=_receiving_within(limits.receive_seconds),
                # uvicorn counts the connection it is deciding on: N let N - 1 in, and
                # --max-connections 1 answered every request 503.
                limit_concurrency=limits.connections + 1)


# What uvicorn logs for each connection past --max-connections.
REFUSED_CONNECTION = "Exceeded concurrency limit."


class RepeatsCounted(logging.Filter):
    """`message` logged once a while, with how often it came between: uvicorn logs its
    refusal of each connection past the limit, 248 lines from one burst of requests."""

    def __init__(self, message: str, seconds: float = 10.0):
        super().__init__()
        self.message, self.seconds = message, seconds
        self.last, self.hidden = -math.inf, 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != self.message:
            return True
        now = time.monotonic()
        if now - self.last < self.seconds:
            self.hidden += 1
            return False
        if self.hidden:
            record.msg, record.args = (f"{self.message} ({self.hidden:,} more since the last "
                                       "such line)"), ()
        self.last, self.hidden = now, 0
        return True


# One filter however often a process serves: addFilter takes an object once, where a new
# one each time stacked up on the logger.
_REFUSALS_COUNTED = RepeatsCounted(REFUSED_CONNECTION)


def _receiving_within(seconds: float):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request hasn't arrived whole
    (headers and body) `seconds` after its first byte, or after the connection opened.
    uvicorn has no such deadline: its keep-alive timer starts after a response, and any
    byte stops it. Once a request has arrived, answering it takes what it takes."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class ReceivingWithin(H11Protocol):
        _deadline = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # a request begins: the first, or the next on a kept-alive one
            super().data_received(data)
            if self.cycle is not None and not self.cycle.more_body:  # arrived whole
                self._disarm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return ReceivingWithin


def _check_free(host: str, port: int) -> None:
    """The address can be listened on, checked before the model loads and "Serving ... at"
    is printed: a port another server holds was told only after that line, naming a URL
    where the other server answers."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError as error:  # no address of that name: the port is not to blame
        raise RunError(f"Can't serve at {host}:{port}: --host {host} names no address of this "
                       f"machine ({error.strerror or error}). Give an address such as "
                       "127.0.0.1, or 0.0.0.0 to let other machines in.") from None
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as error:
        raise RunError(f"Can't serve at {host}:{port} ({error.strerror or error}): another "
                       "program may hold that port. Choose another with --port.") from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
