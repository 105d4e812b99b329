"""Endpoint data capture on the offline cloud: sampled requests and answers in S3, in SageMaker's format.

Each test gets a fresh in-process cloud (no template) and deploys one endpoint serving a small real
XGBoost model, with the ``DataCaptureConfig`` it is about; it invokes the endpoint and reads the
capture files back from S3 the way Model Monitor would: list the prefix, read JSON Lines.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import re
import tarfile
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np
import pytest
import xgboost
from botocore.exceptions import ClientError

from localcloud import data_capture
from localcloud.cloud import ACCOUNT_ID
from localcloud.runtime import Runtime
from localcloud.sagemaker_engine.xgboost_container import MODEL_FILE_NAME
from tests.localcloud import support

REGION = "us-east-1"
TIME_SCALE = 0.01
MODELS = "capture-models"
CAPTURE = "capture-data"
PREFIX = "monitoring/capture"
ENDPOINT = "scoring"
VARIANT = "primary"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-execution"
ROW = b"0.5,-1.25,0.75,2.0"
BOTH = [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
AS_CSV = {"CsvContentTypes": ["text/csv"]}
KEY = re.compile(
    rf"^{PREFIX}/{ENDPOINT}/{VARIANT}/(?P<hour>\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}})/"
    r"(?P<minute>\d{2})-(?P<second>\d{2})-(?P<milli>\d{3})-(?P<file>[0-9a-f-]{36})\.jsonl$"
)
INFERENCE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

client = partial(support.client, region=REGION)
wait_until = partial(support.wait_until, timeout=30.0)


@pytest.fixture(scope="module")
def model_tar_gz() -> bytes:
    """The built-in XGBoost container's artefact for a small model on four features."""
    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 4)).astype(np.float32)
    labels = (features[:, 0] - features[:, 2] > 0).astype(np.float32)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(features, label=labels), 4
    )
    model = bytes(booster.save_raw(raw_format="json"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(MODEL_FILE_NAME)
        info.size = len(model)
        archive.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, model_tar_gz: bytes) -> Iterator[Runtime]:
    with support.offline_cloud(
        monkeypatch, REGION, time_scale=TIME_SCALE, settle=lambda runtime: runtime.sagemaker.wait_idle(timeout=30)
    ) as runtime:
        s3 = client("s3")
        for bucket in (MODELS, CAPTURE):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=MODELS, Key="model.tar.gz", Body=model_tar_gz)
        yield runtime


def capture_config(**changes: Any) -> dict[str, Any]:
    """Every request, input and output, CSV kept as text, under ``s3://CAPTURE/PREFIX``; ``changes`` override."""
    config = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{CAPTURE}/{PREFIX}",
        "CaptureOptions": BOTH,
        "CaptureContentTypeHeader": AS_CSV,
    }
    config.update(changes)
    return {key: value for key, value in config.items() if value is not None}


def create_config(name: str, data_capture_config: dict[str, Any], **variant: Any) -> None:
    client("sagemaker").create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": VARIANT, "ModelName": "model", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
            | variant
        ],
        DataCaptureConfig=data_capture_config,
    )


def create_model(role_arn: str = ROLE_ARN) -> None:
    client("sagemaker").create_model(
        ModelName="model",
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": "xgboost:1.7-1", "ModelDataUrl": f"s3://{MODELS}/model.tar.gz"},
    )


def deploy(data_capture_config: dict[str, Any], role_arn: str = ROLE_ARN) -> Callable[..., bytes]:
    """An InService endpoint capturing as ``data_capture_config`` says; returns a function that invokes it."""
    sagemaker = client("sagemaker")
    create_model(role_arn)
    create_config("config", data_capture_config)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="config")
    wait_until(
        lambda: sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] != "Creating",
        what="endpoint InService",
    )
    described = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    runtime = client("sagemaker-runtime")

    def invoke(body: bytes = ROW, **extra: Any) -> bytes:
        answer: bytes = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=body, **extra)[
            "Body"
        ].read()
        return answer

    return invoke


def captured(bucket: str = CAPTURE) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every capture file under the prefix, in key order, with its records."""
    s3 = client("s3")
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", []))
    files = []
    for key in keys:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert text.endswith("\n"), "JSON Lines: every record ends its line"
        files.append((key, [json.loads(line) for line in text.splitlines()]))
    return files


def records() -> list[dict[str, Any]]:
    return [record for _, lines in captured() for record in lines]


# --- what is captured ----------------------------------------------------------------------------


def test_every_request_is_captured_at_100_percent_in_sagemakers_format(aws: Runtime) -> None:
    invoke = deploy(capture_config())
    aws.clock.advance(3 * 86400)  # capture reads the cloud's clock, not the wall clock
    simulated = dt.datetime.fromtimestamp(aws.clock.now(), dt.UTC)

    answers = [invoke(ROW) for _ in range(3)]

    files = captured()
    assert len(files) == 3, "one object per captured request"
    for (key, [record]), answer in zip(files, answers, strict=True):
        assert record == {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": ROW.decode(),
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": "text/csv; charset=utf-8",
                    "mode": "OUTPUT",
                    "data": answer.decode(),
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": record["eventMetadata"]["eventId"],
                "inferenceTime": record["eventMetadata"]["inferenceTime"],
            },
            "eventVersion": "0",
        }
        metadata = record["eventMetadata"]
        assert list(metadata) == ["eventId", "inferenceTime"]
        assert str(uuid.UUID(metadata["eventId"])) == metadata["eventId"]
        assert INFERENCE_TIME.match(metadata["inferenceTime"])
        inferred = dt.datetime.strptime(metadata["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        assert abs(inferred - simulated) < dt.timedelta(minutes=5)
        layout = KEY.match(key)
        assert layout, key
        assert layout["hour"] == inferred.strftime("%Y/%m/%d/%H")
        assert layout["minute"] == inferred.strftime("%M")
        assert layout["second"] == inferred.strftime("%S")
    assert len({record["eventMetadata"]["eventId"] for record in records()}) == 3


def test_nothing_is_captured_at_0_percent(aws: Runtime) -> None:
    invoke = deploy(capture_config(InitialSamplingPercentage=0))

    for _ in range(20):
        invoke()

    assert captured() == []


def test_nothing_is_captured_when_capture_is_disabled(aws: Runtime) -> None:
    invoke = deploy(capture_config(EnableCapture=False))

    invoke()

    assert captured() == []


def test_a_sampling_percentage_captures_about_that_share_of_requests(aws: Runtime) -> None:
    invoke = deploy(capture_config(InitialSamplingPercentage=25))

    for _ in range(120):
        invoke()

    # Binomial(120, 0.25): mean 30, standard deviation 4.7; the draw is seeded, so the count is fixed.
    assert 15 <= len(captured()) <= 45


@pytest.mark.parametrize(
    ("mode", "part", "absent"),
    [("Input", "endpointInput", "endpointOutput"), ("Output", "endpointOutput", "endpointInput")],
)
def test_capture_options_pick_the_parts_recorded(aws: Runtime, mode: str, part: str, absent: str) -> None:
    invoke = deploy(capture_config(CaptureOptions=[{"CaptureMode": mode}]))

    invoke()

    [record] = records()
    assert list(record["captureData"]) == [part]
    assert absent not in record["captureData"]


def test_input_and_output_mode_records_both(aws: Runtime) -> None:
    invoke = deploy(capture_config(CaptureOptions=[{"CaptureMode": "InputAndOutput"}]))

    invoke()

    [record] = records()
    assert list(record["captureData"]) == ["endpointInput", "endpointOutput"]


def test_the_callers_inference_id_is_recorded(aws: Runtime) -> None:
    invoke = deploy(capture_config())

    invoke(InferenceId="order-42")
    invoke()

    first, second = records()
    assert list(first["eventMetadata"]) == ["eventId", "inferenceId", "inferenceTime"]
    assert first["eventMetadata"]["inferenceId"] == "order-42"
    assert "inferenceId" not in second["eventMetadata"]


# --- encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "encoding"),
    [
        (AS_CSV, "CSV"),
        ({"JsonContentTypes": ["text/csv"]}, "JSON"),
        (None, "BASE64"),
        ({"JsonContentTypes": ["application/json"]}, "BASE64"),
    ],
)
def test_capture_content_type_headers_decide_the_encoding(
    aws: Runtime, headers: dict[str, Any] | None, encoding: str
) -> None:
    invoke = deploy(capture_config(CaptureContentTypeHeader=headers))

    answer = invoke()

    [record] = records()
    sent, answered = record["captureData"]["endpointInput"], record["captureData"]["endpointOutput"]
    assert (sent["encoding"], answered["encoding"]) == (encoding, encoding)
    if encoding == "BASE64":
        assert base64.b64decode(sent["data"]) == ROW
        assert base64.b64decode(answered["data"]) == answer
    else:
        assert (sent["data"], answered["data"]) == (ROW.decode(), answer.decode())


def test_a_json_request_is_recorded_as_json_text() -> None:
    # The offline model answers CSV only, so a JSON request is formatted here directly.
    body = b'{"instances": [[0.5, -1.25]]}'
    exchange = data_capture.Exchange(ENDPOINT, VARIANT, body, "application/json", b"\x00\xff", "application/x-npy")
    config = capture_config(CaptureContentTypeHeader={"JsonContentTypes": ["application/json"]})
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)

    record = data_capture.record(config, exchange, "event", when)

    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "application/json",
        "mode": "INPUT",
        "data": body.decode(),
        "encoding": "JSON",
    }
    assert record["captureData"]["endpointOutput"]["encoding"] == "BASE64"
    assert record["eventMetadata"] == {"eventId": "event", "inferenceTime": "2024-05-06T07:08:09Z"}
    assert (
        data_capture.object_key("p/", ENDPOINT, VARIANT, when, "f")
        == f"p/{ENDPOINT}/{VARIANT}/2024/05/06/07/08-09-123-f.jsonl"
    )


# --- where and how it is written ------------------------------------------------------------------


def test_a_kms_key_encrypts_the_capture_files_with_sse_kms(aws: Runtime) -> None:
    key = client("kms").create_key()["KeyMetadata"]["Arn"]
    invoke = deploy(capture_config(KmsKeyId=key))

    invoke()

    [(object_key, _)] = captured()
    head = client("s3").head_object(Bucket=CAPTURE, Key=object_key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key


def test_capture_to_a_missing_bucket_is_dropped_without_failing_the_request(
    aws: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    invoke = deploy(capture_config(DestinationS3Uri="s3://no-such-bucket/capture"))

    with caplog.at_level(logging.WARNING, logger="localcloud.data_capture"):
        answer = invoke()

    assert 0.0 <= float(answer.decode()) <= 1.0, "the prediction is served all the same"
    assert any("dropped" in message and "no-such-bucket" in message for message in caplog.messages), caplog.messages


def test_capture_is_written_as_the_models_execution_role(aws: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam = client("iam")
    role_arn = iam.create_role(RoleName="reads-models-only", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    grants = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{MODELS}/*"}
    iam.put_role_policy(
        RoleName="reads-models-only",
        PolicyName="models",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grants]}),
    )
    invoke = deploy(capture_config(), role_arn=role_arn)

    with caplog.at_level(logging.WARNING, logger="localcloud.data_capture"):
        invoke()

    assert captured() == [], "the role may not write the capture, so SageMaker drops it"
    assert any("s3:PutObject" in message for message in caplog.messages), caplog.messages
    refused = aws.iam.stats()
    assert refused.refused >= 1


def test_a_request_the_model_rejects_is_not_captured(aws: Runtime) -> None:
    invoke = deploy(capture_config())

    with pytest.raises(ClientError) as caught:
        invoke(b"not,a,number,row")

    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert captured() == []


def test_an_update_captures_by_the_config_that_serves(aws: Runtime) -> None:
    invoke = deploy(capture_config())
    create_config("no-capture", capture_config(EnableCapture=False))
    sagemaker = client("sagemaker")

    sagemaker.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="no-capture")
    wait_until(
        lambda: (
            sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == "no-capture"
            and sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"
        ),
        what="update to no-capture",
    )
    invoke()

    assert captured() == []


# --- CreateEndpointConfig ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"InitialSamplingPercentage": 101},
            "'dataCaptureConfig.initialSamplingPercentage' failed to satisfy constraint",
        ),
        (
            {"DestinationS3Uri": "ftp://bucket/capture"},
            "'dataCaptureConfig.destinationS3Uri' failed to satisfy constraint",
        ),
        ({"DestinationS3Uri": f"s3://{CAPTURE}/" + "a" * 510}, "Member must have length less than or equal to 512"),
        (
            {"CaptureOptions": [{"CaptureMode": "Both"}]},
            "Member must satisfy enum value set: [Input, Output, InputAndOutput]",
        ),
        (
            {"CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"] * 11}},
            "Member must have length less than or equal to 10",
        ),
        (
            {"CaptureContentTypeHeader": {"JsonContentTypes": ["json"]}},
            "'dataCaptureConfig.captureContentTypeHeader.jsonContentTypes'",
        ),
    ],
)
def test_an_invalid_data_capture_config_is_refused(aws: Runtime, changes: dict[str, Any], message: str) -> None:
    create_model()

    with pytest.raises(ClientError) as caught:
        create_config("invalid", capture_config(**changes))

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert message in caught.value.response["Error"]["Message"]


def test_data_capture_on_a_serverless_variant_is_refused(aws: Runtime) -> None:
    create_model()
    serverless = {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}

    with pytest.raises(ClientError) as caught:
        client("sagemaker").create_endpoint_config(
            EndpointConfigName="serverless",
            ProductionVariants=[{"VariantName": VARIANT, "ModelName": "model", **serverless}],
            DataCaptureConfig=capture_config(),
        )

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "serverless" in caught.value.response["Error"]["Message"]
