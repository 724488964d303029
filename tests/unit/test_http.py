"""HttpClient against a real local server: timeouts, Retry-After, classification, dry run."""

from __future__ import annotations

import pytest

from cievents.errors import RateLimitedError, RejectedError, TransientError, UnknownTargetError
from cievents.http import HttpClient, RetryPolicy, retry_after_seconds
from cievents.outbox import Outbox
from tests.support.fakehttp import FakeServer, Reply


@pytest.fixture
def server() -> FakeServer:
    fake = FakeServer()

    @fake.route("POST", "/ok")
    def ok(_: object) -> Reply:
        return Reply(201, {"id": 1})

    with fake:
        yield fake


def client(server: FakeServer, sleeps: list[float], **policy: float) -> HttpClient:
    return HttpClient(
        sink="test",
        base_url=server.url,
        policy=RetryPolicy(**policy),  # type: ignore[arg-type]
        sleep=sleeps.append,
        read_timeout=0.5,
    )


def test_success_and_body(server: FakeServer) -> None:
    response = client(server, []).post("/ok", json_body={"a": 1})
    assert response.status_code == 201 and server.requests[0].json() == {"a": 1}


def test_5xx_is_retried_then_succeeds_for_an_idempotent_call(server: FakeServer) -> None:
    sleeps: list[float] = []
    server.queue("POST", "/ok", Reply(502, "bad gateway"))
    assert client(server, sleeps).post("/ok", idempotent=True).status_code == 201
    assert len(server.requests) == 2 and len(sleeps) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_create_is_not_repeated_after_a_5xx_that_may_have_committed(
    server: FakeServer, status: int
) -> None:
    server.queue("POST", "/ok", Reply(status, "broke"))
    with pytest.raises(TransientError) as info:
        client(server, []).post("/ok")
    assert len(server.requests) == 1 and not info.value.unsent


def test_a_create_is_retried_after_a_503_which_commits_nothing(server: FakeServer) -> None:
    server.queue("POST", "/ok", Reply(503, "down"))
    assert client(server, []).post("/ok").status_code == 201
    assert len(server.requests) == 2


def test_a_create_is_retried_when_the_connection_could_not_be_opened() -> None:
    sleeps: list[float] = []
    http = HttpClient(
        sink="test",
        base_url="http://127.0.0.1:9",
        policy=RetryPolicy(retries=2),
        sleep=sleeps.append,
    )
    with pytest.raises(TransientError) as info:
        http.post("/")
    assert info.value.unsent and len(sleeps) == 2


def test_an_unreadable_200_is_an_unknown_outcome(server: FakeServer) -> None:
    server.queue("POST", "/ok", Reply(200, raw=b"<html>proxy</html>"))
    http = client(server, [])
    with pytest.raises(TransientError, match="unreadable") as info:
        http.json(http.post("/ok"), "test")
    assert not info.value.unsent and len(server.requests) == 1


def test_the_policy_is_pluggable(server: FakeServer) -> None:
    class ResetAware(RetryPolicy):
        def wait(self, attempt: int, error: TransientError) -> float | None:
            return 0.125 * attempt

    sleeps: list[float] = []
    server.queue("POST", "/ok", Reply(429, {}, {"Retry-After": "600"}))
    http = HttpClient(sink="test", base_url=server.url, policy=ResetAware(), sleep=sleeps.append)
    assert http.post("/ok").status_code == 201 and sleeps == [0.125]


def test_retry_after_is_honoured_when_short(server: FakeServer) -> None:
    sleeps: list[float] = []
    server.queue("POST", "/ok", Reply(429, {"error": "slow down"}, {"Retry-After": "2"}))
    assert client(server, sleeps).post("/ok").status_code == 201
    assert sleeps == [2.0]


def test_long_retry_after_goes_back_to_pubsub(server: FakeServer) -> None:
    sleeps: list[float] = []
    server.queue("POST", "/ok", Reply(429, {}, {"Retry-After": "120"}))
    with pytest.raises(RateLimitedError) as info:
        client(server, sleeps).post("/ok")
    assert info.value.retry_after == 120.0 and sleeps == []


def test_persistent_5xx_becomes_transient(server: FakeServer) -> None:
    for _ in range(3):
        server.queue("POST", "/ok", Reply(503, "down"))
    with pytest.raises(TransientError) as info:
        client(server, [], retries=2).post("/ok")
    assert info.value.status == 503 and len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, RejectedError), (401, RejectedError), (404, UnknownTargetError), (422, RejectedError)],
)
def test_4xx_is_permanent_and_not_retried(server: FakeServer, status: int, error: type) -> None:
    server.queue("POST", "/ok", Reply(status, {"message": "no"}))
    with pytest.raises(error):
        client(server, []).post("/ok")
    assert len(server.requests) == 1


def test_github_style_rate_limit_403(server: FakeServer) -> None:
    server.queue(
        "POST",
        "/ok",
        Reply(
            403,
            {"message": "API rate limit exceeded"},
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9999999999"},
        ),
    )
    with pytest.raises(RateLimitedError):
        client(server, []).post("/ok")


def test_timeout_is_transient(server: FakeServer) -> None:
    for _ in range(2):
        server.queue("POST", "/ok", Reply(200, {}, delay_s=1.5))
    with pytest.raises(TransientError, match="did not answer: timed out after") as caught:
        client(server, [], retries=1).post("/ok")
    # The wait it reports is the one measured, not the configured "connect+read" timeouts.
    assert "+" not in caught.value.message.rsplit("after", 1)[-1]
    assert caught.value.network == "read_timeout"


def test_a_refused_connection_says_so_and_how_long_it_took() -> None:
    http = HttpClient(sink="test", base_url="http://127.0.0.1:9", policy=RetryPolicy(retries=0))
    with pytest.raises(TransientError, match=r"connection refused after \d+ ms") as caught:
        http.get("/")
    assert caught.value.network == "refused" and caught.value.unsent


def test_connection_refused_is_transient() -> None:
    http = HttpClient(sink="test", base_url="http://127.0.0.1:9", policy=RetryPolicy(retries=0))
    with pytest.raises(TransientError):
        http.get("/")


def test_dry_run_records_instead_of_sending(tmp_path: object, server: FakeServer) -> None:
    outbox = Outbox(str(tmp_path))
    http = HttpClient(
        sink="github", base_url=server.url, outbox=outbox, dry_run_answer=lambda m, u, b: {"id": 99}
    )
    response = http.post("/repos/o/r/statuses/abc", json_body={"state": "success"})
    assert response.json() == {"id": 99} and server.requests == []
    (entry,) = outbox.read("github")
    assert entry["sink"] == "github" and entry["method"] == "POST"
    assert entry["url"].endswith("/repos/o/r/statuses/abc") and entry["body"] == {
        "state": "success"
    }


def test_retry_after_parsing() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert (
        retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470) == 10
    )
    assert (
        retry_after_seconds({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "110"}, now=100)
        == 10
    )
    assert retry_after_seconds({}) is None


def test_a_streamed_success_is_left_unread(server: FakeServer) -> None:
    """A 200 to ``stream=True`` comes back as a stream: the client read none of its body
    (classifying the answer must not load a large download into memory)."""
    body = b"x" * (4 * 1024 * 1024)

    @server.route("GET", "/big")
    def big(req: object) -> Reply:
        return Reply(200, raw=body, headers={"Content-Type": "application/octet-stream"})

    response = HttpClient(sink="t", base_url=server.url).get("/big", stream=True)
    assert response._content_consumed is False  # what requests sets once it read the body
    assert sum(len(c) for c in response.iter_content(64 * 1024)) == len(body)
    response.close()
