"""A temporary SQS subscription to the notification topic, removed again however the CLI exits."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from types import TracebackType
from typing import Any

from conveyor_cli.target import Target
from conveyor_cli.views import Notification

# SQS's floor; a tap that outlives its CLI (killed with SIGKILL) loses nothing worth keeping after it.
_RETENTION_SECONDS = 60 * 60


def parse(envelope_text: str) -> Notification | None:
    """A notification from SNS's envelope (raw delivery off); None for SNS's own control messages."""
    envelope: dict[str, Any] = json.loads(envelope_text)
    if envelope.get("Type", "Notification") != "Notification":
        return None
    message = str(envelope.get("Message", ""))
    try:
        body = json.loads(message)
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        body = {"reason": message}
    attributes = {k: str(v.get("Value", "")) for k, v in (envelope.get("MessageAttributes") or {}).items()}
    return Notification(
        subject=str(envelope.get("Subject") or ""),
        event=str(body.get("event") or attributes.get("event", "")),
        severity=str(body.get("severity") or attributes.get("severity", "")),
        model=body.get("model") or attributes.get("model"),
        execution=body.get("execution"),
        reason=str(body.get("reason") or ""),
        metrics=body.get("metrics") or {},
        details=body.get("details") or {},
        console_link=body.get("console_link"),
        published_at=envelope.get("Timestamp"),
        message_id=envelope.get("MessageId"),
    )


def from_run(document: dict[str, Any], ended_at: dt.datetime | str | None) -> Notification | None:
    """The notification a state machine run published, rebuilt from its final state data.

    The run publishes ``$.message`` (the formatter's Subject, Message and MessageAttributes), or its
    ``$.outcome`` unformatted when the formatter failed; None when it ended before either existed.
    """
    message = document.get("message")
    stopped = ended_at.isoformat() if isinstance(ended_at, dt.datetime) else ended_at
    if isinstance(message, dict) and "Message" in message:
        attributes = {
            str(k): {"Value": v.get("StringValue", "")}
            for k, v in (message.get("MessageAttributes") or {}).items()
            if isinstance(v, dict)
        }
        envelope = {
            "Type": "Notification",
            "Subject": message.get("Subject"),
            "Message": message["Message"],
            "MessageAttributes": attributes,
            "Timestamp": stopped,
        }
        return parse(json.dumps(envelope))
    outcome = document.get("outcome")
    if isinstance(outcome, dict) and outcome.get("event"):
        return parse(json.dumps({"Type": "Notification", "Message": json.dumps(outcome), "Timestamp": stopped}))
    return None


class NotificationTap:
    """``with NotificationTap(target) as tap: tap.receive(...)``: a queue subscribed for the block's duration."""

    def __init__(self, target: Target) -> None:
        self.topic_arn = target.outputs.notification_topic_arn
        self.queue_name = f"conveyor-tail-{uuid.uuid4().hex[:12]}"
        self._sqs = target.client("sqs")
        self._sns = target.client("sns")
        self.queue_url: str | None = None
        self.subscription_arn: str | None = None
        # What close() could not delete, so the caller can tell the user what to remove by hand.
        self.leftovers: list[str] = []

    def __enter__(self) -> NotificationTap:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _open(self) -> None:
        self.queue_url = str(
            self._sqs.create_queue(
                QueueName=self.queue_name, Attributes={"MessageRetentionPeriod": str(_RETENTION_SECONDS)}
            )["QueueUrl"]
        )
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "NotificationTopicDelivers",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.topic_arn}},
                }
            ],
        }
        self._sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
        self.subscription_arn = str(
            self._sns.subscribe(
                TopicArn=self.topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                # The envelope carries the Subject, which people read; raw delivery would drop it.
                Attributes={"RawMessageDelivery": "false"},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        )

    def receive(self, wait_seconds: int) -> list[Notification]:
        assert self.queue_url is not None, "use NotificationTap as a context manager"
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=max(0, min(20, wait_seconds))
        ).get("Messages", [])
        found: list[Notification] = []
        for message in messages:
            envelope = json.loads(message["Body"])
            if envelope.get("Type") == "SubscriptionConfirmation":
                # Only a cross-account subscription needs it; confirming keeps the tap working there too.
                self._sns.confirm_subscription(TopicArn=self.topic_arn, Token=envelope["Token"])
            else:
                notification = parse(message["Body"])
                if notification is not None:
                    found.append(notification)
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(found, key=lambda n: n.published_at or "")

    def close(self) -> None:
        # Each step on its own: a failed unsubscribe must not leave the queue behind, or the reverse.
        if self.subscription_arn and self.subscription_arn.startswith("arn:"):
            try:
                self._sns.unsubscribe(SubscriptionArn=self.subscription_arn)
            except Exception:
                self.leftovers.append(f"subscription {self.subscription_arn}")
            self.subscription_arn = None
        if self.queue_url:
            try:
                self._sqs.delete_queue(QueueUrl=self.queue_url)
            except Exception:
                self.leftovers.append(f"queue {self.queue_url}")
            self.queue_url = None
