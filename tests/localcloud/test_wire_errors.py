"""Errors the offline cloud answers itself reach botocore as the service's own, in every protocol."""

from __future__ import annotations

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser

from localcloud import wire_errors
from localcloud.faults import KINDS, render, wire_error


def _parsed_error(service: str, response: tuple[int, dict[str, str], bytes]) -> dict[str, str]:
    status, headers, body = response
    model = wire_errors.service_model(service)
    parser = create_parser(model.resolved_protocol)
    parsed = parser.parse({"status_code": status, "headers": HeadersDict(headers), "body": body}, None)
    return dict(parsed["Error"])


# One service per protocol the product speaks: json, query, rest-xml, rest-json, and CloudWatch and
# SQS, JSON services whose clients report the query code (awsQueryCompatible).
@pytest.mark.parametrize("service", ["sagemaker", "sns", "s3", "lambda", "cloudwatch", "sqs", "stepfunctions"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_injected_fault_parses_into_the_services_error_code(service: str, kind: str) -> None:
    expected = wire_error(service, kind)  # type: ignore[arg-type]

    error = _parsed_error(service, render(service, expected, "AnyOperation"))

    assert error["Code"] == expected.code
    assert "injected fault on" in error["Message"]


def test_a_message_with_markup_survives_an_xml_protocol() -> None:
    error = _parsed_error("sns", wire_errors.error_response("sns", "ValidationError", "Value '<a&b>' is bad"))

    assert (error["Code"], error["Message"]) == ("ValidationError", "Value '<a&b>' is bad")


def test_a_query_compatible_service_reports_the_query_code() -> None:
    status, headers, _ = wire_errors.error_response("sqs", "AWS.SimpleQueueService.NonExistentQueue", "gone")

    assert status == 400
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert _parsed_error("sqs", (status, headers, _))["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
