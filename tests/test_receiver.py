"""The alert receiver's troubles, as Apprise meets them: the fault campaign's failing receiver."""

import socket
import threading

import pytest

from fixtures.receiver import AlertReceiver
from monitor._apprise import apprise


@pytest.fixture
def receiver():
    with AlertReceiver() as receiver:
        yield receiver


def send(receiver, title: str, timeout: float = 1) -> bool:
    instance = apprise.Apprise()
    instance.add(f"{receiver.url}?rto={timeout}&cto={timeout}")
    return bool(instance.notify(title=title, body="body"))


def test_500s_then_delivered(receiver):
    receiver.fail_next(2)
    assert [send(receiver, "a"), send(receiver, "a"), send(receiver, "a")] == [False, False, True]
    assert [item["title"] for item in receiver.received] == ["a"]
    assert receiver.troubles["http_500"] == 2


def test_a_stall_longer_than_the_senders_timeout_is_a_failure_and_nothing_taken(receiver):
    receiver.stall_next(1, seconds=1.5)
    assert send(receiver, "slow", timeout=0.5) is False
    assert receiver.received == [] and receiver.troubles["stalled"] == 1
    assert send(receiver, "next") is True


def test_refused_until_accepted_on_the_same_port(receiver):
    url = receiver.url
    receiver.refuse()
    host, port = url.removeprefix("json://").split("/")[0].split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=1)
    assert send(receiver, "refused") is False
    receiver.accept()
    assert receiver.url == url and send(receiver, "back") is True
    assert [item["title"] for item in receiver.received] == ["back"]


def test_a_held_notification_is_taken_but_not_answered_until_released(receiver):
    result = []
    sender = threading.Thread(target=lambda: result.append(send(receiver, "held", timeout=10)))
    receiver.hold()
    sender.start()
    receiver.wait_for(1)
    assert receiver.in_flight == 1 and result == []
    receiver.release()
    sender.join(timeout=10)
    assert result == [True] and receiver.in_flight == 0
