"""The bad-input corpus: every way a dataset drop can be wrong, with the reason code it must get.

Each case is data only: the objects to upload (key, bytes, content type), how the event reaches the
ingest function, where the drop is stopped (``ingest`` before any run, or ``preprocess`` inside
the run) and the machine-readable ``reason`` written to ``quarantine/.../reason.json`` and carried
by the ``data.quarantined`` notification.

The contract is SageMaker's built-in XGBoost CSV: no header, the label first, numeric features.
XGBoost's CSV reader (dmlc-core) ends lines at ``\\n`` or ``\\r`` and skips a UTF-8 byte-order mark,
so CRLF files and a leading BOM are *valid* (see ``VALID_INPUTS``); an empty field or ``nan`` in a
feature is a missing value and valid too.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from localcloud.datasets import breast_cancer_csv

Stage = Literal["ingest", "preprocess"]
# upload: S3 emits the event as usual. direct: the key lies outside the rule's prefix, so the
# recorded event shape is handed to the ingest function as a misrouted or replayed event would be.
# deleted: ingest is off while the object lands and is deleted; the event is then put on the bus.
# queued-then-deleted: the drop is admitted behind a running run and deleted while it waits.
Delivery = Literal["upload", "direct", "deleted", "queued-then-deleted"]
# default: the template's defaults. small-limit: MaxDatasetBytes=SMALL_LIMIT_BYTES. processing: drops
# over PROCESSING_THRESHOLD_BYTES go to a SageMaker Processing job on two instances.
CloudKind = Literal["default", "small-limit", "processing"]
PROCESSING_THRESHOLD_BYTES = 4096

SMALL_LIMIT_BYTES = 4096


@dataclass(frozen=True)
class Upload:
    key: str
    body: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class BadInput:
    id: str
    reason: str
    stage: Stage
    uploads: tuple[Upload, ...]
    delivery: Delivery = "upload"
    cloud: CloudKind = "default"
    # The inputs that must be copied to quarantine/; by default the data of a preprocess-stage drop,
    # or the object whose arrival was refused at ingest.
    quarantined: tuple[str, ...] | None = None
    note: str = ""

    @property
    def trigger(self) -> Upload:
        """The upload whose Object Created event starts (or is refused) the drop: the last one."""
        return self.uploads[-1]

    @property
    def copied_keys(self) -> tuple[str, ...]:
        if self.quarantined is not None:
            return self.quarantined
        if self.stage == "ingest":
            return (self.trigger.key,)
        return tuple(u.key for u in self.uploads if u.key.endswith((".csv", ".csv.gz")))


@dataclass(frozen=True)
class ValidInput:
    """An edge case that is valid and must run to training."""

    id: str
    uploads: tuple[Upload, ...]
    rows: int
    note: str = ""
    ignored: tuple[str, ...] = field(default=())


@cache
def good(rows: int = 120) -> bytes:
    """Real rows in the contract (breast cancer: binary label first, 30 features)."""
    return breast_cancer_csv(rows=rows)


def good_lines(rows: int = 120) -> list[bytes]:
    return good(rows).splitlines(keepends=True)


def _replace_line(rows: int, index: int, line: bytes) -> bytes:
    lines = good_lines(rows)
    lines[index] = line
    return b"".join(lines)


def _manifest(parts: list[str]) -> bytes:
    return json.dumps({"parts": parts}).encode()


def _xlsx_like() -> bytes:
    # The local-file header of a ZIP archive, which is what an .xlsx workbook is.
    return b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"\x00" * 200


def _parquet_like() -> bytes:
    return b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00\x12\x00\x00" + b"\x00" * 200 + b"PAR1"


def _single(case: str, body: bytes, suffix: str = ".csv", content_type: str | None = None) -> tuple[Upload, ...]:
    return (Upload(f"incoming/{case}{suffix}", body, content_type),)


_HUGE_LINE = b"1," + b"0.5," * (800 * 1024) + b"0.5"  # ~3.2 MB with no newline at all
_TRUNCATED_GZIP = gzip.compress(good(), mtime=0)[:-40]

BAD_INPUTS: tuple[BadInput, ...] = (
    # ---------------------------------------------------------------- refused at ingest: the key
    BadInput("zero-byte-object", "empty-object", "ingest", _single("zero-byte-object", b"")),
    # Spaces, accents, any script and shell punctuation are keys people type: they train
    # (tests/e2e/test_keys_people_type.py). Refused are characters that hide or change what a name shows.
    BadInput("key-with-tab", "key-control-characters", "ingest", (Upload("incoming/my\tdata.csv", good()),)),
    BadInput(
        "key-with-terminal-escape",
        "key-control-characters",
        "ingest",
        (Upload("incoming/\u009b2Jreport.csv", good()),),
        # The 8-bit form (C1 CSI): the 7-bit ESC cannot appear in S3's XML listings without
        # EncodingType=url, which moto does not implement.
        note="a terminal escape (CSI 2J) that would clear the screen of whoever lists the bucket",
    ),
    BadInput(
        "key-with-rtl-override",
        "key-control-characters",
        "ingest",
        (Upload("incoming/report\u202evsc.exe.csv", good()),),
        note="a right-to-left override that makes a name read differently from what it is",
    ),
    BadInput(
        "key-with-byte-order-mark", "key-control-characters", "ingest", (Upload("incoming/\ufeffdata.csv", good()),)
    ),
    BadInput("key-with-dot-dot", "unsafe-key-path", "ingest", (Upload("incoming/../escape.csv", good()),)),
    BadInput("key-with-dot-segment", "unsafe-key-path", "ingest", (Upload("incoming/./here.csv", good()),)),
    BadInput("key-with-empty-segment", "unsafe-key-path", "ingest", (Upload("incoming/a//part-0.csv", good()),)),
    BadInput(
        "key-very-long",
        "key-too-long",
        "ingest",
        (Upload("incoming/" + "x" * 900 + ".csv", good()),),
        note="legal in S3 (<= 1024 bytes), too long to reuse under quarantine/ without passing S3's limit",
    ),
    BadInput(
        "key-outside-incoming",
        "key-outside-prefix",
        "ingest",
        (Upload("uploads/stray.csv", good()),),
        delivery="direct",
        note="the rule only matches incoming/, so the event is handed to the function as a misrouted one",
    ),
    BadInput(
        "top-level-non-csv-file",
        "unsupported-file-type",
        "ingest",
        (Upload("incoming/unsupported-file.parquet", _parquet_like()),),
    ),
    # ---------------------------------------------------------------- refused at ingest: the drop
    BadInput(
        "marker-without-data",
        "marker-without-data",
        "ingest",
        (
            Upload("incoming/marker-without-data/readme.txt", b"parts follow tomorrow\n"),
            Upload("incoming/marker-without-data/_SUCCESS", b""),
        ),
    ),
    BadInput(
        "manifest-naming-missing-parts",
        "manifest-parts-missing",
        "ingest",
        (
            Upload("incoming/manifest-missing/part-0.csv", good(60)),
            Upload("incoming/manifest-missing/manifest.json", _manifest(["part-0.csv", "part-1.csv", "part-2.csv"])),
        ),
    ),
    BadInput(
        "manifest-not-json",
        "bad-manifest",
        "ingest",
        (
            Upload("incoming/manifest-not-json/part-0.csv", good(60)),
            Upload("incoming/manifest-not-json/manifest.json", b"parts: [part-0.csv]\n"),
        ),
    ),
    BadInput(
        "manifest-part-escaping-its-folder",
        "bad-manifest",
        "ingest",
        (
            Upload("incoming/manifest-escape/part-0.csv", good(60)),
            Upload("incoming/manifest-escape/manifest.json", _manifest(["part-0.csv", "../../secrets/part.csv"])),
        ),
    ),
    # ---------------------------------------------------------------- quarantined by Preprocess
    BadInput(
        "object-deleted-before-ingest",
        "object-missing",
        "preprocess",
        _single("object-deleted-before-ingest", good()),
        delivery="deleted",
        quarantined=(),
        note="the uploader withdrew it before its event was handled: ingest admits from the event alone (two AWS "
        "calls), Preprocess finds it gone; reason.json only, the deleted data is not copied back into existence",
    ),
    BadInput(
        "object-deleted-while-queued",
        "object-missing",
        "preprocess",
        _single("object-deleted-while-queued", good()),
        delivery="queued-then-deleted",
        quarantined=(),
        note="admitted behind a running run, deleted before its own run started",
    ),
    BadInput("blank-lines-only", "empty-dataset", "preprocess", _single("blank-lines-only", b"\n \n\r\n\n")),
    BadInput("header-only", "header-row", "preprocess", _single("header-only", b"label,f1,f2,f3\n")),
    BadInput(
        "header-where-none-is-expected",
        "header-row",
        "preprocess",
        _single("header-and-data", b"diagnosis," + b",".join(b"f%d" % i for i in range(30)) + b"\n" + good()),
    ),
    BadInput(
        "ragged-row",
        "ragged-row",
        "preprocess",
        _single("ragged-row", _replace_line(120, 57, b"1,0.5,0.25\n")),
    ),
    BadInput(
        "row-with-an-extra-column",
        "ragged-row",
        "preprocess",
        _single("extra-column", _replace_line(120, 3, good_lines()[3].rstrip(b"\n") + b",9.9\n")),
    ),
    BadInput("label-only-no-features", "too-few-columns", "preprocess", _single("label-only", b"1\n0\n" * 30)),
    BadInput(
        "non-numeric-feature",
        "non-numeric-feature",
        "preprocess",
        _single("non-numeric-feature", _replace_line(120, 10, b"1,malignant" + b",0.5" * 29 + b"\n")),
    ),
    BadInput(
        "nan-label",
        "bad-label",
        "preprocess",
        _single("nan-label", _replace_line(120, 20, b"nan" + good_lines()[20][1:])),
    ),
    BadInput(
        "inf-label",
        "bad-label",
        "preprocess",
        _single("inf-label", _replace_line(120, 20, b"inf" + good_lines()[20][1:])),
    ),
    BadInput(
        "inf-feature",
        "infinite-feature",
        "preprocess",
        _single("inf-feature", _replace_line(120, 30, b"0,inf" + b",0.5" * 29 + b"\n")),
    ),
    BadInput(
        "missing-label",
        "missing-label",
        "preprocess",
        _single("missing-label", _replace_line(120, 40, b"" + good_lines()[40][1:])),
    ),
    BadInput(
        "single-class",
        "single-class",
        "preprocess",
        _single("single-class", b"".join(b"1" + line[1:] for line in good_lines())),
    ),
    BadInput(
        "binary-label-out-of-range",
        "bad-class-labels",
        "preprocess",
        _single("label-two", b"".join((b"2" if i % 2 else b"0") + line[1:] for i, line in enumerate(good_lines()))),
    ),
    BadInput(
        "duplicated-rows-only",
        "duplicate-rows",
        "preprocess",
        _single("duplicated-rows-only", good_lines()[0] * 40 + good_lines()[1] * 40),
    ),
    BadInput("one-row", "too-few-rows", "preprocess", _single("one-row", good_lines()[0])),
    BadInput("huge-single-line", "line-too-long", "preprocess", _single("huge-single-line", _HUGE_LINE)),
    BadInput(
        "gzip-bomb-single-line",
        "line-too-long",
        "preprocess",
        _single("gzip-bomb", gzip.compress(b"1," + b"0," * (25 * 1024 * 1024) + b"0\n", mtime=0), ".csv.gz"),
        note="50 MB of one line in ~50 KB of gzip: inflated in bounded pieces and refused",
    ),
    BadInput(
        "not-utf8",
        "not-utf8",
        "preprocess",
        _single("latin-1", _replace_line(120, 5, "1,caf\u00e9,0.5\n".encode("latin-1"))),
    ),
    BadInput(
        "utf16-with-bom",
        "not-utf8",
        "preprocess",
        _single("utf16", good(40).decode().encode("utf-16")),
        note="Excel's 'Unicode text': a UTF-16 BOM, which is not the UTF-8 BOM XGBoost skips",
    ),
    BadInput(
        "gzip-data-without-gz-suffix",
        "gzip-without-suffix",
        "preprocess",
        _single("gzip-without-suffix", gzip.compress(good(), mtime=0)),
    ),
    BadInput("gz-suffix-but-plain-text", "bad-gzip", "preprocess", _single("plain-as-gz", good(), ".csv.gz")),
    BadInput("truncated-gzip", "bad-gzip", "preprocess", _single("truncated", _TRUNCATED_GZIP, ".csv.gz")),
    BadInput(
        "wrong-content-type",
        "wrong-content-type",
        "preprocess",
        _single("declared-json", good(), content_type="application/json"),
        note="valid rows, but the upload declares JSON",
    ),
    BadInput(
        "non-utf8-charset-declared",
        "wrong-content-type",
        "preprocess",
        _single("declared-latin-1", good(), content_type="text/csv; charset=windows-1252"),
    ),
    BadInput("parquet-named-csv", "not-csv", "preprocess", _single("parquet-named-csv", _parquet_like())),
    BadInput("xlsx-named-csv", "not-csv", "preprocess", _single("xlsx-named-csv", _xlsx_like())),
    BadInput(
        "folder-drop-with-one-bad-part",
        "ragged-row",
        "preprocess",
        (
            Upload("incoming/bad-part/part-0000.csv", good(60)),
            Upload("incoming/bad-part/part-0001.csv", b"1,0.5,0.25\n" * 30),
            Upload("incoming/bad-part/_SUCCESS", b""),
        ),
        quarantined=("incoming/bad-part/part-0000.csv", "incoming/bad-part/part-0001.csv"),
    ),
    # ---------------------------------------------------------------- through a Processing job
    BadInput(
        "processing-bad-label-in-one-shard",
        "bad-label",
        "preprocess",
        (
            Upload("incoming/large-bad/part-0000.csv", good(60)),
            Upload("incoming/large-bad/part-0001.csv", _replace_line(60, 7, b"benign" + b",1" * 30 + b"\n")),
            Upload("incoming/large-bad/part-0002.csv", good(60)),
            Upload("incoming/large-bad/_SUCCESS", b""),
        ),
        cloud="processing",
        note="read by the instance that got part-0001; the merge reports that file's reason and line",
    ),
    BadInput(
        "processing-ragged-across-shards",
        "ragged-row",
        "preprocess",
        (
            Upload("incoming/large-ragged/part-0000.csv", good(60)),
            Upload("incoming/large-ragged/part-0001.csv", b"1,0.5,0.25\n" * 60),
            Upload("incoming/large-ragged/_SUCCESS", b""),
        ),
        cloud="processing",
        note="each instance sees consistent rows; only the merge sees two column counts",
    ),
    BadInput(
        "processing-header-in-first-part",
        "header-row",
        "preprocess",
        (
            Upload(
                "incoming/large-header/part-0000.csv",
                b"label," + b",".join(b"f%d" % n for n in range(30)) + b"\n" + good(60),
            ),
            Upload("incoming/large-header/part-0001.csv", good(60)),
            Upload("incoming/large-header/_SUCCESS", b""),
        ),
        cloud="processing",
    ),
    BadInput(
        "processing-truncated-gzip-part",
        "bad-gzip",
        "preprocess",
        (
            Upload("incoming/large-gzip/part-0000.csv", good(60)),
            Upload("incoming/large-gzip/part-0001.csv.gz", gzip.compress(good(60))[:-20]),
            Upload("incoming/large-gzip/_SUCCESS", b""),
        ),
        cloud="processing",
    ),
    # ---------------------------------------------------------------- beyond the Lambda path's limit
    BadInput(
        "object-over-max-dataset-bytes",
        "object-too-large",
        "ingest",
        _single("too-large", good(120)),
        cloud="small-limit",
        note="over every limit: refused at ingest, the reason names MaxDatasetBytes",
    ),
    BadInput(
        "folder-over-max-dataset-bytes",
        "dataset-too-large",
        "ingest",
        (
            Upload("incoming/too-large-folder/part-0.csv", good(15)),
            Upload("incoming/too-large-folder/part-1.csv", good(15)),
            Upload("incoming/too-large-folder/part-2.csv", good(15)),
            Upload("incoming/too-large-folder/_SUCCESS", b""),
        ),
        cloud="small-limit",
        note="every part is under the limit, together they are not",
    ),
    BadInput(
        "manifest-over-max-dataset-bytes",
        "dataset-too-large",
        "ingest",
        (
            Upload("incoming/too-large-manifest/a.csv", good(15)),
            Upload("incoming/too-large-manifest/b.csv", good(15)),
            Upload("incoming/too-large-manifest/manifest.json", _manifest(["a.csv", "b.csv"])),
        ),
        cloud="small-limit",
    ),
)


def _crlf(body: bytes) -> bytes:
    return body.replace(b"\n", b"\r\n")


def _with_missing_features(rows: int = 120) -> bytes:
    lines = good_lines(rows)
    for index in range(0, rows, 3):
        cells = lines[index].rstrip(b"\n").split(b",")
        cells[2] = b""
        cells[5] = b"nan"
        lines[index] = b",".join(cells) + b"\n"
    return b"".join(lines)


@cache
def _large(target_bytes: int = 3 * 1024 * 1024) -> bytes:
    body = breast_cancer_csv()
    return body * (target_bytes // len(body) + 1)


def _parts(folder: str, count: int) -> tuple[Upload, ...]:
    lines = good_lines(569)
    per_part = len(lines) // count + 1
    return tuple(
        Upload(f"incoming/{folder}/part-{i:04d}.csv", b"".join(lines[i * per_part : (i + 1) * per_part]))
        for i in range(count)
        if lines[i * per_part : (i + 1) * per_part]
    )


# The first valid run deploys (nothing is in production yet); small data keeps that one quick.
VALID_INPUTS: tuple[ValidInput, ...] = (
    ValidInput("crlf-line-endings", (Upload("incoming/crlf.csv", _crlf(good(200))),), rows=200),
    ValidInput("large-file", (Upload("incoming/large-file.csv", _large()),), rows=len(_large().splitlines())),
    ValidInput(
        "folder-of-many-parts-with-success",
        (
            *_parts("many-parts", 48),
            Upload("incoming/many-parts/readme.txt", b"not data, ignored\n"),
            Upload("incoming/many-parts/nested/part-9999.csv", b"garbage that must not be read\n"),
            Upload("incoming/many-parts/_SUCCESS", b""),
        ),
        rows=569,
        ignored=("incoming/many-parts/readme.txt", "incoming/many-parts/nested/part-9999.csv"),
    ),
    ValidInput(
        "manifest-drop",
        (
            Upload("incoming/manifest-drop/b.csv", b"".join(good_lines(569)[300:])),
            Upload("incoming/manifest-drop/a.csv", b"".join(good_lines(569)[:300])),
            Upload("incoming/manifest-drop/stale.csv", b"label,not,listed\n"),
            Upload("incoming/manifest-drop/manifest.json", _manifest(["a.csv", "b.csv"])),
        ),
        rows=569,
        ignored=("incoming/manifest-drop/stale.csv",),
        note="exactly the listed parts are read: an unlisted bad part is ignored",
    ),
    ValidInput("utf8-bom-at-start", (Upload("incoming/bom.csv", b"\xef\xbb\xbf" + good(200)),), rows=200),
    ValidInput(
        "bom-and-crlf-as-excel-writes",
        (Upload("incoming/excel.csv", b"\xef\xbb\xbf" + _crlf(good(200)), "application/vnd.ms-excel"),),
        rows=200,
    ),
    ValidInput("empty-and-nan-features", (Upload("incoming/missing-values.csv", _with_missing_features()),), rows=120),
    ValidInput(
        "gzip-with-gzip-content-type",
        (Upload("incoming/gzipped.csv.gz", gzip.compress(good(200), mtime=0), "application/gzip"),),
        rows=200,
    ),
)
