"""aws_clients: a declared client is made on first use, once, and all of them before a snapshot."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor_core.shared import aws_clients


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    created: list[str] = []

    def fake_client(service: str) -> Any:
        created.append(service)
        return type("Client", (), {"service": service, "ping": lambda self: f"pong from {service}"})()

    monkeypatch.setattr(aws_clients.boto3, "client", fake_client)
    monkeypatch.setattr(aws_clients, "_declared", [])
    return created


def test_a_declared_client_is_made_on_first_use_and_kept(made: list[str]) -> None:
    s3 = aws_clients.client("s3")
    sns = aws_clients.client("sns")
    assert made == []
    assert s3.ping() == "pong from s3"
    assert s3.ping() == "pong from s3"
    assert made == ["s3"]
    assert "not created yet" in repr(sns)


def test_create_all_makes_every_declared_client_once(made: list[str]) -> None:
    s3 = aws_clients.client("s3")
    aws_clients.client("dynamodb")
    s3.ping()
    aws_clients.create_all()
    aws_clients.create_all()
    assert made == ["s3", "dynamodb"]
