"""Fallback parser: anchored leading timestamps of common application-log shapes (loghub lines)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.parsers import ParserChain
from store.parsers.plain import PlainParser
from tests.conftest import DATASETS

FIXTURES = Path(__file__).parent / "fixtures" / "lines"
RA = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def fixture_lines(name: str) -> list[bytes]:
    data = (FIXTURES / name).read_bytes()
    return [ln for ln in data.split(b"\n") if ln and not ln.startswith(b"# ")]


def parse(line: str | bytes) -> dict:
    return ParserChain().parse(line.encode() if isinstance(line, str) else line, RA)


def test_loghub_application_lines() -> None:
    hdfs, bgl_alert, bgl, tbird, hadoop, spark, mac = (parse(b) for b in fixture_lines("loghub_misc.log"))
    assert all(not e["raw"].endswith("\r") for e in (hdfs, bgl, tbird))

    assert hdfs["format"] == "plain"
    assert hdfs["ts"] == datetime(2008, 11, 9, 20, 36, 15, tzinfo=UTC)
    assert (hdfs["pid"], hdfs["severity"], hdfs["app"]) == (148, 6, "dfs.DataNode$PacketResponder")
    assert hdfs["message"] == "PacketResponder 1 for block blk_38865049064139660 terminating"

    assert bgl_alert["format"] == "bgl" and bgl_alert["fields"]["label"] == "KERNDTLB"
    assert (bgl_alert["severity"], bgl_alert["app"]) == (2, "KERNEL")  # FATAL
    assert bgl["fields"]["label"] == "-" and bgl["host"] == "R02-M1-N0-C:J12-U11"
    assert bgl["ts"] == datetime(2005, 6, 3, 15, 42, 50, 675872, tzinfo=UTC)
    assert bgl["message"] == "instruction cache parity error corrected"

    # Thunderbird: the record's epoch gives the year; the syslog part gives host/app/pid and PAM meaning.
    assert tbird["format"] == "thunderbird"
    assert tbird["ts"] == datetime(2005, 11, 9, 20, 1, 1, tzinfo=UTC)
    assert (tbird["host"], tbird["app"], tbird["pid"]) == ("dn228/dn228", "crond(pam_unix)", 2915)
    assert (tbird["fields"]["action"], tbird["user"]) == ("session_closed", "root")

    assert hadoop["ts"] == datetime(2015, 10, 18, 18, 1, 47, 978000, tzinfo=UTC)
    assert (hadoop["severity"], hadoop["fields"]["thread"]) == (6, "main")
    assert hadoop["app"] == "org.apache.hadoop.mapreduce.v2.app.MRAppMaster"

    assert spark["ts"] == datetime(2017, 6, 9, 20, 10, 40, tzinfo=UTC)
    assert spark["app"] == "executor.CoarseGrainedExecutorBackend"

    # macOS tag with a space.
    assert (mac["format"], mac["app"], mac["pid"]) == ("rfc3164", "Microsoft Word", 14463)


def test_apache_and_nginx_error_logs() -> None:
    notice, error = (parse(b) for b in fixture_lines("loghub_apache_error.log"))
    assert notice["format"] == "apache-error"
    assert notice["ts"] == datetime(2005, 12, 4, 4, 47, 44, tzinfo=UTC)
    assert (notice["severity"], error["severity"]) == (5, 3)
    assert error["message"] == "mod_jk child workerEnv in error state 6"

    lines = fixture_lines("wazuh_ruleset_logs.log")
    nginx = parse(next(b for b in lines if b.startswith(b"2015/01/08")))
    assert (nginx["format"], nginx["severity"], nginx["app"]) == ("nginx-error", 3, "nginx")
    core = parse(next(b for b in lines if b"[core:error]" in b))
    assert (core["src_ip"], core["src_port"], core["pid"]) == ("99.47.227.95", 34567, 20101)
    assert core["ts"] == datetime(2014, 9, 30, 11, 30, 13, 262255, tzinfo=UTC)
    assert core["message"].startswith("AH00037: Symbolic link not allowed")


def test_iso_with_offset_and_plain_mmm_with_year() -> None:
    ev = parse("2026-11-21 07:48:02.123+02:00 ERROR [worker-3] billing.Charge: card declined")
    assert ev["ts"] == datetime(2026, 11, 21, 5, 48, 2, 123000, tzinfo=UTC)
    assert (ev["severity"], ev["app"], ev["message"]) == (3, "billing.Charge", "card declined")
    y = parse("Nov 21 2024 05:48:02 something happened")
    assert y["ts"] == datetime(2024, 11, 21, 5, 48, 2, tzinfo=UTC)


def test_lines_without_a_leading_timestamp_are_not_plain() -> None:
    p = PlainParser()
    for text in ("hello world", "2026-99-99 nonsense", "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 x", ""):
        assert p.parse(text, RA) is None
    ev = parse("hello world")
    assert ev["format"] is None and ev["parse_error"] == "unrecognised format; stored raw"


needs_datasets = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"datasets not found at {DATASETS}")


@needs_datasets
@pytest.mark.parametrize(
    ("system", "fmt"),
    [("HDFS", "plain"), ("BGL", "bgl"), ("Thunderbird", "thunderbird"), ("Hadoop", "plain"), ("Spark", "plain"),
     ("Zookeeper", "plain"), ("Android", "android"), ("Linux", "rfc3164"), ("Mac", "rfc3164"),
     ("Apache", "apache-error"), ("HealthApp", "plain"), ("Proxifier", "plain"), ("Windows", "plain")],
)
def test_every_loghub_line_gets_a_timestamp(system: str, fmt: str) -> None:
    path = DATASETS / "loghub" / system / f"{system}_2k.log"
    if not path.exists():
        pytest.skip(f"{path} missing")
    chain = ParserChain()
    events = [chain.parse(line, RA) for line in path.read_bytes().splitlines()]
    assert len(events) == 2000
    assert Counter(e["format"] for e in events).most_common(1)[0][0] == fmt
    assert sum(1 for e in events if e.get("ts") is None) == 0
    assert not any(e.get("parse_error") for e in events)


@needs_datasets
def test_bgl_alert_labels_survive_in_fields() -> None:
    path = DATASETS / "loghub" / "BGL" / "BGL_2k.log"
    if not path.exists():
        pytest.skip(f"{path} missing")
    chain = ParserChain()
    labels = [chain.parse(line, RA)["fields"]["label"] for line in path.read_bytes().splitlines()]
    assert sum(1 for x in labels if x != "-") == 143  # README: 143 alert lines / 2,000
