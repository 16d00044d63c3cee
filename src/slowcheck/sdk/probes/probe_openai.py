"""The SDK matrix's Python probe: runs in an environment with one ``openai`` version and nothing of slowcheck.

It must run unchanged on openai 1.0.0 to the latest, so it uses only what every version has, plus the
standard library. Input: one JSON argument (root, lab, run, model); the key in SLOWCHECK_API_KEY; how the
target is reached in the environment (slowcheck's ``Network.environment``): SSL_CERT_FILE and the proxies,
read by the SDK's httpx itself, and --header's headers and --client-cert's files, given to the SDK as a user
would (``default_headers``, an ``http_client`` of their own).
Output: one JSON object on stdout, check id -> {"status", "detail", "by"?}.
"""

import datetime
import inspect
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

import openai
from openai import OpenAI

CONFIG = json.loads(sys.argv[1])
KEY = os.environ["SLOWCHECK_API_KEY"]
ROOT, LAB, RUN, MODEL = CONFIG["root"], CONFIG["lab"], CONFIG["run"], CONFIG["model"]
BATCH = CONFIG.get("batch")  # the Batch API's root (its own host at inference.net), or None
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
RESULTS = {}
SDK_ERRORS = (TypeError, AttributeError, RuntimeError, ImportError, NotImplementedError)
HEADERS = dict(json.loads(os.environ.get("SLOWCHECK_HEADERS") or "[]"))


def _tls():
    """A context presenting --client-cert, trusting what the SDK's httpx would (SSL_CERT_FILE, else certifi)."""
    if not os.environ.get("SLOWCHECK_CLIENT_CERT"):
        return None
    cafile = os.environ.get("SSL_CERT_FILE")
    if not cafile:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:
            pass
    context = ssl.create_default_context(cafile=cafile)
    context.load_cert_chain(os.environ["SLOWCHECK_CLIENT_CERT"], os.environ.get("SLOWCHECK_CLIENT_KEY"))
    return context


TLS = _tls()


def reach():
    """The target as a user of this SDK reaches it: --header as default_headers, --client-cert through an
    http_client of their own (every openai 1.x takes both)."""
    options = {"default_headers": HEADERS} if HEADERS else {}
    if TLS is not None:
        import httpx

        options["http_client"] = httpx.Client(verify=TLS)
    return options


def client(base=ROOT, **options):
    options.setdefault("max_retries", 0)
    return OpenAI(api_key=KEY, base_url=base + "/v1/slow", timeout=20, **dict(reach(), **options))


def chat(c, **extra):
    return c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=8, **extra)


def record(check, passed, detail, by=None):
    RESULTS[check] = {"status": "passed" if passed else "failed", "detail": detail}
    if by and not passed:
        RESULTS[check]["by"] = by


def check(name):
    def wrap(function):
        try:
            function()
        except openai.APIStatusError as exc:
            record(name, False, "HTTP %s: %s" % (exc.status_code, str(exc)[:240]))
        except SDK_ERRORS as exc:
            record(name, False, "%s in the SDK: %s" % (type(exc).__name__, str(exc)[:240]), by="sdk")
        except Exception as exc:
            record(name, False, "%s: %s" % (type(exc).__name__, str(exc)[:240]))
        return function

    return wrap


def generation(generation_id):
    """The stored record, straight from the API (not through the SDK): what reached the server."""
    headers = dict(HEADERS, Authorization="Bearer " + KEY)
    request = urllib.request.Request(ROOT + "/v1/generation/" + generation_id, headers=headers)
    deadline = time.time() + 15
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10, context=TLS) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.time() > deadline:
                raise
            time.sleep(0.2)


ACK = {}


@check("submit-chat")
def _():
    ack = chat(client())
    ACK["chat"] = ack
    ok = isinstance(ack.id, str) and bool(ack.id) and ack.choices == []
    record("submit-chat", ok, "id %r, choices %r" % (ack.id, ack.choices))


@check("submit-text")
def _():
    ack = client().completions.create(model=MODEL, prompt="Once upon a time", max_tokens=8)
    ok = isinstance(ack.id, str) and bool(ack.id) and ack.choices == []
    record("submit-text", ok, "id %r, choices %r, object %r" % (ack.id, ack.choices, ack.object))


@check("strict-parse")
def _():
    ack = chat(client(_strict_response_validation=True))
    record("strict-parse", isinstance(ack.id, str), "parsed under _strict_response_validation=True")


@check("metadata")
def _():
    metadata = {"webhook_id": "sdk-matrix", "custom_id": RUN}
    create = client().chat.completions.create
    if "metadata" in inspect.signature(create).parameters:
        way, ack = "metadata=", chat(client(), metadata=metadata)
    else:
        way, ack = "extra_body (no metadata= in this version)", chat(client(), extra_body={"metadata": metadata})
    stored = (generation(ack.id).get("request") or {}).get("metadata")
    record("metadata", stored == metadata, "sent with %s; the server stored %r" % (way, stored))


@check("raw-headers")
def _():
    raw = client().chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, max_tokens=8)
    request_id = raw.headers.get("x-request-id")
    parsed = raw.parse()
    record("raw-headers", bool(parsed.id), "id %r from the raw answer, x-request-id %r" % (parsed.id, request_id))
    if parsed.id and not request_id:  # an OpenAI habit the API's docs never promise
        RESULTS["raw-headers"] = {"status": "deviation", "detail": "no x-request-id (not promised by the docs)"}


@check("get-generation")
def _():
    ack = ACK.get("chat") or chat(client())
    try:
        data = client().get(ROOT + "/v1/generation/" + ack.id, cast_to=object)
    except RuntimeError as exc:
        record("get-generation", False, "client.get(absolute URL) is not usable here: %s" % exc, by="sdk")
        return
    # What the docs promise: a state, the request, and on Success a response whose id is the ack's.
    state = data.get("state") if isinstance(data, dict) else data
    response = (data.get("response") or {}) if isinstance(data, dict) else {}
    ok = isinstance(data, dict) and "state" in data and "request" in data
    ok = ok and (state != "Success" or response.get("id") == ack.id)
    record("get-generation", ok, "client.get(absolute URL, cast_to=object) -> state %r" % (state,))


@check("created-ms")
def _():
    ack = ACK.get("chat") or chat(client())
    created = ack.created
    try:
        datetime.datetime.fromtimestamp(created)
        naive = "datetime.fromtimestamp(created) works"
    except (ValueError, OverflowError, OSError) as exc:
        naive = "datetime.fromtimestamp(created) raises %s: divide by 1000" % type(exc).__name__
    ok = isinstance(created, int) and abs(created / 1000 - time.time()) < 86400
    record("created-ms", ok, "created=%r (%s); %s" % (created, type(created).__name__, naive))


@check("stream-refused")
def _():
    try:
        stream = chat(client(), stream=True)
    except openai.APIStatusError as exc:
        ok = 400 <= exc.status_code < 500
        record("stream-refused", ok, "HTTP %s: the SDK raised %s" % (exc.status_code, type(exc).__name__))
        return
    chunks = list(stream)
    record("stream-refused", False, "accepted: the SDK iterated %d chunks and the id was lost" % len(chunks))


@check("embeddings")
def _():
    question = "What is the capital of France?"
    try:
        ack = client().embeddings.create(model=MODEL, input=question)
    except openai.NotFoundError:
        RESULTS["embeddings"] = {"status": "n/a", "detail": "404: the API has no /v1/slow/embeddings (the path is "
                                 "inferred: the docs say async embeddings exist, not where)"}  # fmt: skip
        return
    except ValueError as exc:  # newer SDKs refuse an embedding list without data, which an async ack is
        raw = client().embeddings.with_raw_response.create(model=MODEL, input=question)
        generation_id = raw.http_response.json().get("id")
        record(
            "embeddings",
            False,
            "the SDK raised %r on the ack; with_raw_response.create(...).http_response"
            ".json()['id'] reads it (%r)" % (str(exc), generation_id),
            by="sdk",
        )
        return
    generation_id = getattr(ack, "id", None)  # not a field of the SDK's model: an extra it keeps
    if not generation_id:
        record("embeddings", False, "the ack parsed as %s without a readable id" % type(ack).__name__)
        return
    stored = generation(generation_id).get("request") or {}
    ok = stored.get("input") == "What is the capital of France?"
    record("embeddings", ok, "id %r; the SDK sent encoding_format %r" % (generation_id, stored.get("encoding_format")))


@check("batch-flow")
def _():
    if not BATCH:
        RESULTS["batch-flow"] = {"status": "n/a", "detail": "no --batch-base-url (the Batch API has its own host)"}
        return
    c = OpenAI(api_key=KEY, base_url=BATCH + "/v1", timeout=20, max_retries=0, **reach())
    wanted = ["%s-%d" % (RUN, i) for i in range(2)]
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 8}
    lines = "".join(
        json.dumps({"custom_id": i, "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n"
        for i in wanted
    )
    uploaded = c.files.create(file=("sdk-matrix.jsonl", lines.encode()), purpose="batch")
    batch = c.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    deadline = time.time() + 30
    while batch.status not in ("completed", "failed", "expired", "cancelled") and time.time() < deadline:
        time.sleep(0.2)
        batch = c.batches.retrieve(batch.id)
    if batch.status != "completed":
        record("batch-flow", False, "the batch was %s after 30 s" % batch.status)
        return
    content = c.files.content(batch.output_file_id)
    text = content.text if isinstance(getattr(content, "text", None), str) else content.read().decode()
    found = sorted(json.loads(line)["custom_id"] for line in text.splitlines() if line.strip())
    record("batch-flow", found == wanted, "files.content returned %s; custom_ids %s" % (type(content).__name__, found))


@check("retry-429")
def _():
    ack = chat(client(LAB + "/" + RUN + "/retry-429", max_retries=2))
    record("retry-429", bool(ack.id), "the call returned id %r" % ack.id)


@check("idempotency")
def _():
    ack = chat(client(LAB + "/" + RUN + "/lost-ack", max_retries=2))
    record("idempotency", bool(ack.id), "the call returned id %r" % ack.id)


print(json.dumps({"version": openai.__version__, "results": RESULTS}))
