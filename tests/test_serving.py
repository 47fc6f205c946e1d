"""dlcourse serve: a real server process on a loopback port, called over HTTP."""

import base64
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlcourse.prediction import predict_run

from helpers import Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image_server(trained):
    server = Server(trained["mnist"], "--max-body-mb", "0.05", "--max-inputs", "3")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def text_server(trained):
    server = Server(trained["imdb_lstm"])
    yield server
    server.stop()


def png_bytes(seed: int) -> bytes:
    pixels = np.zeros((28, 28), np.uint8)
    rng = np.random.default_rng(seed)
    pixels[6:22, 10 + seed % 5:14 + seed % 5] = rng.integers(150, 255, (16, 4))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def same_records(served: list[dict], local: list[dict]) -> None:
    """The records of `dlcourse predict --json`: the same fields and labels, and the same
    probabilities but for float rounding (the server calls the model through a traced
    function, predict through model.predict)."""
    assert [sorted(r) for r in served] == [sorted(r) for r in local]
    for mine, theirs in zip(served, local):
        probabilities = mine.pop("probabilities"), theirs.pop("probabilities")
        assert list(probabilities[0]) == list(probabilities[1])
        np.testing.assert_allclose(list(probabilities[0].values()),
                                   list(probabilities[1].values()), atol=1e-6)
        assert mine.pop("probability") == pytest.approx(theirs.pop("probability"), abs=1e-6)
        assert mine == theirs


def test_images_as_base64_and_as_uploads_give_predicts_records(image_server, trained, tmp_path):
    pictures = [png_bytes(0), png_bytes(1)]
    for number, data in enumerate(pictures):
        (tmp_path / f"images[{number}]").write_bytes(data)
    local = [p.as_dict() for p in predict_run(trained["mnist"],
                                              [str(tmp_path / f"images[{n}]") for n in range(2)])]
    for record in local:
        record["input"] = Path(record["input"]).name
    status, answer = image_server.post(
        {"images": [base64.b64encode(data).decode() for data in pictures]})
    assert status == 200
    same_records(answer["predictions"], [dict(record) for record in local])
    # base64 as tools write it: in lines (base64 -w 60), without padding, URL-safe. Each
    # was "not base64".
    text = base64.b64encode(pictures[0]).decode()
    wrapped = "\n".join(text[at:at + 60] for at in range(0, len(text), 60))
    safe = base64.urlsafe_b64encode(pictures[1]).decode().rstrip("=")
    status, answer = image_server.post({"images": [wrapped, safe]})
    assert status == 200, answer
    same_records(answer["predictions"], [dict(record) for record in local])

    boundary = "dlcourse-test-boundary"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="images"; '
        f'filename="images[{n}]"\r\nContent-Type: image/png\r\n\r\n'.encode() + data + b"\r\n"
        for n, data in enumerate(pictures)) + f"--{boundary}--\r\n".encode()
    status, answer = image_server.call("POST", "/predict", parts,
                                       f"multipart/form-data; boundary={boundary}")
    assert status == 200
    same_records(answer["predictions"], local)
    # More files than --max-inputs (3): 413 as for a JSON body of as many, not a 400.
    many = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="images"; '
        f'filename="{n}.png"\r\nContent-Type: image/png\r\n\r\n'.encode() + pictures[0]
        + b"\r\n" for n in range(4)) + f"--{boundary}--\r\n".encode()
    status, answer = image_server.call("POST", "/predict", many,
                                       f"multipart/form-data; boundary={boundary}")
    assert status == 413 and "at most 3 (--max-inputs)" in answer["error"], answer
    # More plain fields than that, beside one file: they were called files too.
    fields = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="note{n}"'
                      f'\r\n\r\nx\r\n'.encode() for n in range(4)) + parts
    status, answer = image_server.call("POST", "/predict", fields,
                                       f"multipart/form-data; boundary={boundary}")
    assert status == 413 and "More than 3 form fields" in answer["error"], answer


def test_a_canvas_data_url_is_read(image_server):
    url = "data:image/png;base64," + base64.b64encode(png_bytes(2)).decode()
    status, answer = image_server.post({"images": [url]})
    assert status == 200 and len(answer["predictions"][0]["probabilities"]) == 10


def test_texts_give_predicts_records_with_the_unknown_words(text_server, trained):
    texts = ["the film and a plot", "zzyzx the qwerty zzyzx a"]
    status, answer = text_server.post({"texts": texts})
    assert status == 200
    local = [p.as_dict() for p in predict_run(trained["imdb_lstm"], texts)]
    same_records(answer["predictions"], local)
    # Each unknown word once, in order; the tiny word index knows "the", "and" and "a".
    assert answer["predictions"][1]["unknown_words"] == ["zzyzx", "qwerty"]
    assert answer["predictions"][0]["unknown_words"] == ["film", "plot"]


@pytest.mark.parametrize("body, status, says", [
    ({"pictures": ["x"]}, 422, "exactly the field 'images'"),
    ({"images": "abc"}, 422, "list of strings"),
    ({"images": []}, 422, "is empty"),
    ({"images": ["not base64!"]}, 422, "not base64"),
    ({"images": [base64.b64encode(b"GIF89a no picture").decode()]}, 422,
     "not an image this model can take"),
    ({"images": [base64.b64encode(png_bytes(0)).decode()] * 4}, 413, "at most 3"),
    ({"images": ["A" * 60_000]}, 413, "over 52,428 bytes"),
    ({"texts": ["a review"]}, 422, "exactly the field 'images'"),
])
def test_a_bad_image_request_gets_a_4xx_that_names_it(image_server, body, status, says):
    got, answer = image_server.post(body)
    assert got == status and says in answer["error"], answer
    assert "Traceback" not in answer["error"]


def test_a_body_that_is_not_json_or_of_another_type_is_named(image_server):
    status, answer = image_server.call("POST", "/predict", b"{not json")
    assert status == 400 and "not JSON" in answer["error"]
    status, answer = image_server.call("POST", "/predict", b"[" * 5000 + b"]" * 5000)
    assert status == 400 and "not JSON" in answer["error"]
    # Of two "images", one was dropped unseen.
    status, answer = image_server.call("POST", "/predict", b'{"images": [], "images": ["x"]}')
    assert status == 400 and "names the key 'images' twice" in answer["error"]
    status, answer = image_server.call("POST", "/predict", b"x=1", "text/plain")
    assert status == 415 and "text/plain" in answer["error"]
    status, answer = image_server.call("POST", "/predict", b"--x--\r\n",
                                       "multipart/form-data; boundary=x")
    assert status in (400, 422) and "error" in answer


@pytest.mark.parametrize("body, says", [
    ({"texts": ["   "]}, "empty text"),
    # 64 of these in 8 MB bodies took a bag-of-bigrams server from 0.7 GB to 2.5 GB.
    ({"texts": ["good " * 300_000]}, "Input 1 is 1,500,000 characters long, more than"),
    ({"texts": ["good", 3]}, "list of strings"),
    ({"images": ["abc"]}, "exactly the field 'texts'"),
    ({"texts": ["good", "a lone \ud800 half"]}, "Input 2 ('a lone \\ud800 half') holds \\ud800"),
])
def test_a_bad_text_request_gets_a_4xx_that_names_it(text_server, body, says):
    status, answer = text_server.post(body)
    assert status == 422 and says in answer["error"], answer


def test_health_info_docs_page_and_report(image_server):
    assert image_server.call("GET", "/health") == (200, {"status": "ok"})
    # `curl -I` and uptime monitors ask with HEAD: it was 405.
    import urllib.request

    for path in ("/health", "/"):
        head = urllib.request.Request(image_server.url + path, method="HEAD")
        with urllib.request.urlopen(head, timeout=60) as response:
            assert response.status == 200
    status, schema = image_server.call("GET", "/openapi.json")
    operations = [operation["operationId"] for item in schema["paths"].values()
                  for operation in item.values()]
    assert len(operations) == len(set(operations)) and "head" not in schema["paths"]["/health"]
    status, info = image_server.call("GET", "/info")
    assert status == 200 and info["config"] == "mnist_cnn" and info["inputs"] == "images"
    assert info["classes"] == [str(digit) for digit in range(10)]
    assert info["model"]["layers"][0] == "Conv2D" and info["model"]["parameters"] > 0
    assert "test_accuracy" in info["metrics"]
    status, schema = image_server.call("GET", "/openapi.json")
    assert status == 200 and "/predict" in schema["paths"]
    status, docs = image_server.call("GET", "/docs")
    assert status == 200 and "swagger" in docs.lower()
    status, page = image_server.call("GET", "/")
    assert status == 200 and "<canvas" in page
    status, report = image_server.call("GET", "/report")
    assert status == 200 and "<html" in report.lower()
    status, answer = image_server.call("GET", "/report/../model.keras")
    assert status == 404 and "error" in answer


def test_other_machines_are_let_in_only_when_asked_and_ctrl_c_stops_it(trained):
    server = Server(trained["mnist"], host="0.0.0.0")
    code, out, err = server.stop()
    assert "not only this machine's loopback" in out
    assert code == 0 and "Traceback" not in err, err
    assert err.rstrip().endswith(f"Stopped serving {trained['mnist']}."), err  # no word before


def test_connections_past_the_limit_are_answered_503_until_one_closes(trained):
    """Each connection may be buffering a body of up to --max-body-mb: 30 uploads of 8 MB
    at once doubled the server's memory, with no bound on how many were taken."""
    import socket
    import time

    server = Server(trained["mnist"], "--max-connections", "2", "--receive-seconds", "2")
    try:
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        for connection in held:  # slow clients'
            connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.5)
        # The third of two. (Two were one: uvicorn counts the connection it decides on.)
        assert server.call("GET", "/health")[0] == 503
        held[0].close()
        time.sleep(0.5)
        assert server.call("GET", "/health") == (200, {"status": "ok"})
        held[1].close()
        # Clients that send nothing, or part of their headers, held the slots for as long
        # as they stayed open: --receive-seconds closes them.
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        idle[1].sendall(b"GET /health HTTP/1.1\r\nHo")
        time.sleep(0.3)
        assert server.call("GET", "/health")[0] == 503
        time.sleep(2.5)
        assert server.call("GET", "/health") == (200, {"status": "ok"})
        for connection in idle:
            connection.close()
        # A client gone mid-body: a 70-line traceback in the server's log, each time.
        partial = socket.create_connection(("127.0.0.1", server.port))
        partial.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                        b"\r\nContent-Length: 1000\r\n\r\n{\"images\": [")
        time.sleep(0.5)
        partial.close()
        time.sleep(0.5)
    except BaseException:
        server.stop()
        raise
    # A second Ctrl-C makes uvicorn quit at once: it printed a CancelledError traceback.
    code, _, err = server.stop(presses=2)
    assert code == 0 and "Traceback" not in err and "ERROR:" not in err, err
    # Two refusals within seconds: one line of uvicorn's, not one a connection.
    assert err.count("Exceeded concurrency limit.") == 1, err


def test_a_message_logged_for_each_refusal_is_one_line_a_while_with_the_count(monkeypatch):
    import logging

    from dlcourse import serving

    clock = [100.0]
    monkeypatch.setattr(serving.time, "monotonic", lambda: clock[0])
    counted = serving.RepeatsCounted(serving.REFUSED_CONNECTION, seconds=10)

    def logged(message):
        record = logging.LogRecord("uvicorn.error", logging.WARNING, "", 0, message, (), None)
        return record.getMessage() if counted.filter(record) else None

    assert logged(serving.REFUSED_CONNECTION) == serving.REFUSED_CONNECTION
    assert [logged(serving.REFUSED_CONNECTION) for _ in range(247)] == [None] * 247
    assert logged("Started server process") == "Started server process"  # others pass
    clock[0] += 10
    assert logged(serving.REFUSED_CONNECTION) == \
        "Exceeded concurrency limit. (247 more since the last such line)"


def test_a_missing_extra_is_named(trained, monkeypatch):
    import importlib.util

    from dlcourse import serving
    from dlcourse.errors import DlcourseError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fastapi" else real(name, *a))
    with pytest.raises(DlcourseError, match=r"fastapi.*Install the extra: pip install .*\[serve\]'"):
        serving.create_app(trained["mnist"])
    # serve imported uvicorn first: without it, a traceback.
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "uvicorn" else real(name, *a))
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # its import fails as if not installed
    with pytest.raises(DlcourseError, match=r"`dlcourse serve` needs uvicorn"):
        serving.serve(trained["mnist"])


def test_a_port_in_use_is_told_before_serving_is_announced(trained):
    """"Serving ... at" was printed, naming the URL where another server answered, then
    uvicorn's error, exit 3."""
    import socket

    from helpers import invoke, one_paragraph

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = invoke("serve", trained["mnist"], "--port", port)
    assert result.exit_code == 2 and one_paragraph(result), result.output
    assert f"Can't serve at 127.0.0.1:{port}" in result.output and "Serving" not in result.output
    # A host of no address was blamed on the port; port 0 was announced as ':0'.
    result = invoke("serve", trained["mnist"], "--host", "999.1.1.1", "--port", port)
    assert result.exit_code == 2 and "--host 999.1.1.1 names no address" in result.output
    result = invoke("serve", trained["mnist"], "--port", 0)
    assert result.exit_code == 2 and "0 is not in the range 1<=x<=65535" in result.output


@pytest.mark.parametrize("option, value, said", [
    ("--max-body-mb", "inf", "'inf' is not a finite number"),  # an OverflowError traceback
    ("--max-body-mb", "nan", "'nan' is not a finite number"),  # a ValueError traceback
    ("--max-body-mb", "1e-9", "not in the range x>=0.001"),  # refused every request
    ("--receive-seconds", "nan", "'nan' is not a finite number"),
    ("--receive-seconds", "1e-9", "not in the range x>=0.1"),
])
def test_a_limit_that_is_no_finite_workable_number_is_a_usage_error(option, value, said,
                                                                     tmp_path):
    from helpers import invoke

    result = invoke("serve", tmp_path, option, value)
    assert result.exit_code == 2 and said in result.output, result.output
    assert "Traceback" not in result.output
