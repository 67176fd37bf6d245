"""Databases: MySQL/MariaDB, PostgreSQL/PgBouncer, SQL Server (ERRORLOG and Windows events), MongoDB, CouchDB.
Real lines from the CrowdSec hub test cases (MIT, crowdsecurity/hub; case named at each use) and the shapes these
servers document; a property test plants addresses in every name the client chooses."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse, parse_all, parsed_lines


def test_every_address_the_hub_parsers_assert_for_database_lines_is_found() -> None:
    checked = 0
    for case, line_no, asserted, ev in parsed_lines("database"):
        if asserted.get("source_ip") is None:
            continue
        checked += 1
        assert ev.get("src_ip") == asserted["source_ip"], (case, line_no, ev)
    assert checked >= 100


def test_mysql_and_mariadb_error_log_shapes() -> None:
    # CrowdSec hub test cases mysql-logs and mariadb-logs (MIT, crowdsecurity/hub): MySQL 5.7, 8 ([MY-…] [Server]),
    # the general log's Connect record, MariaDB's padded hour and the old YYMMDD stamp.
    evs = parse_all(case_text("mysql-logs") + case_text("mariadb-logs"))
    assert all(e["action"] == "login_failed" and e["service"] == "mysql" for e in evs)
    assert [e["src_ip"] for e in evs][:4] == ["27.155.87.54", "27.155.87.54", "42.42.42.42", "192.168.121.1"]
    assert [e["fields"]["using_password"] for e in evs[:2]] == [True, False]
    assert str(evs[6]["ts"]) == "2022-05-01 11:38:05+00:00" and str(evs[7]["ts"]) == "2022-11-28 14:49:17+00:00"
    j = parse("Nov 09 05:13:11 db mariadbd[1234]: 2021-11-09  5:13:11 8 [Warning] Access denied for user "
              "'x'@'203.0.113.13' (using password: YES)")
    assert (j["format"], j["service"], j["action"], j["src_ip"]) == ("rfc3164", "mariadb", "login_failed",
                                                                      "203.0.113.13")


def test_postgresql_prefixes() -> None:
    # CrowdSec hub test cases pgsql-logs (two prefixes), pgsql-user-enum and supabase-docker-pgsql-logs (address
    # first); then the pgBadger key=value prefix and Debian's default prefix with log_connections.
    evs = parse_all(case_text("pgsql-logs"))
    assert {(e["action"], e["src_ip"], e["user"]) for e in evs} == {("login_failed", "1.2.3.4", "i_dont_exist")}
    assert [e["src_ip"] for e in parse_all(case_text("supabase-docker-pgsql-logs"))] == [
        "152.58.17.218", "152.58.19.114", "65.2.129.7"]
    evs = parse_all([
        "2021-09-28 09:22:21 UTC [150]: [1-1] user=x,db=y,app=psql,client=203.0.113.7 FATAL:  password "
        "authentication failed for user \"x\"",
        "2021-09-28 09:22:18.536 UTC [147] LOG:  connection received: host=203.0.113.5 port=50000",
        "2021-09-28 09:22:18.540 UTC [147] postgres@postgres FATAL:  password authentication failed for user "
        "\"postgres\"",
        "2021-09-28 09:22:18.540 UTC [147] postgres@postgres DETAIL:  Connection matched pg_hba.conf line 99: "
        "\"host all all 0.0.0.0/0 md5\"",
        "2021-09-28 09:22:19.536 UTC [148] FATAL:  no pg_hba.conf entry for host \"203.0.113.6\", user \"admin\", "
        "database \"admin\", no encryption",
        "2021-09-28 09:22:23.100 UTC [152] LOG:  invalid length of startup packet",
    ])
    assert [(e.get("action"), e.get("src_ip")) for e in evs] == [
        ("login_failed", "203.0.113.7"), ("connect", "203.0.113.5"), ("login_failed", "203.0.113.5"),
        (None, None), ("login_failed", "203.0.113.6"), ("db_protocol_error", None)]
    assert evs[2]["fields"]["address_from"] == "connection received"


def test_postgresql_csvlog_and_jsonlog_columns() -> None:
    evs = parse_all([
        '2021-09-28 09:22:18.536 UTC,"postgres","postgres",147,"203.0.113.5:50000",6153a5aa.93,1,"authentication",'
        '2021-09-28 09:22:18 UTC,3/1,0,FATAL,28P01,"password authentication failed for user ""postgres""",'
        '"Connection matched pg_hba.conf line 99",,,,,,,,"","client backend",,0',
        # The user name is the client's text; in csvlog it sits in its own quoted column.
        '2021-09-28 09:22:18.536 UTC,"9.9.9.9","postgres",148,"[2001:db8::7]:50001",6153a5aa.94,1,"authentication",'
        '2021-09-28 09:22:18 UTC,3/1,0,FATAL,28P01,"password authentication failed for user ""9.9.9.9""",,,,,,,,,'
        '"","client backend",,0',
        '{"timestamp":"2022-10-03 12:35:53.321 UTC","user":"bob","dbname":"app","pid":151,"remote_host":"203.0.113.6",'
        '"remote_port":40400,"error_severity":"FATAL","state_code":"28P01","message":"password authentication failed '
        'for user \\"bob\\"","backend_type":"client backend"}',
    ])
    assert [(e["format"], e["action"], e["src_ip"], e["src_port"], e["user"]) for e in evs] == [
        ("postgresql-csv", "login_failed", "203.0.113.5", 50000, "postgres"),
        ("postgresql-csv", "login_failed", "2001:db8::7", 50001, "9.9.9.9"),
        ("postgresql-json", "login_failed", "203.0.113.6", 40400, "bob")]
    assert str(evs[0]["ts"]) == "2021-09-28 09:22:18.536000+00:00"


def test_postgres_user_and_database_names_never_supply_the_address() -> None:
    evs = parse_all([
        # No %h in the prefix: the user name is the only address-looking text.
        "2021-09-28 09:22:20.536 UTC [149] 9.9.9.9@postgres FATAL:  password authentication failed for user "
        "\"9.9.9.9\"",
        "2021-09-28 09:22:20.536 UTC [149] x 9.9.9.9@postgres FATAL:  password authentication failed for user "
        "\"x 9.9.9.9\"",
        # A second client= planted in a database name: two candidates, no address.
        "2021-09-28 09:22:22 UTC [151]: [1-1] user=x,db=y,client=9.9.9.9,app=psql,client=203.0.113.8 FATAL:  "
        "password authentication failed for user \"x\"",
        # A key=value pair planted in a database name of a positional prefix.
        "2021-09-28 09:22:18.536 UTC [147] 203.0.113.42 @,client=192.0.2.10 FATAL:  password authentication "
        "failed for user \"\"",
    ])
    assert [e.get("src_ip") for e in evs] == [None, None, None, None]
    assert all(e["action"] == "login_failed" for e in evs)


def test_sql_server_errorlog_and_event_18456() -> None:
    # CrowdSec hub test case mssql-text-logs (MIT, crowdsecurity/hub); the XML is Windows' rendering of the same
    # event from the Application log (Provider MSSQLSERVER, EventID 18456, Data: user, reason, client).
    evs = [e for e in parse_all(case_text("mssql-text-logs")) if e.get("action")]
    assert len(evs) == 7 and {e["src_ip"] for e in evs} == {"172.17.0.3"}
    assert [e["user"] for e in evs[-2:]] == ["SA", "ROOT"] and evs[-1]["fields"]["invalid_user"] is True
    xml = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='MSSQL$SQL1'/>"
           "<EventID Qualifiers='49152'>18456</EventID><TimeCreated SystemTime='2022-12-20T12:36:54.1700000Z'/>"
           "<Channel>Application</Channel><Computer>sql1</Computer></System><EventData><Data>s&apos;a</Data>"
           "<Data> Reason: Password did not match that for the login provided.</Data>"
           "<Data> [CLIENT: 203.0.113.12]</Data><Binary>1848</Binary></EventData></Event>")
    ev = parse(xml)
    assert (ev["format"], ev["action"], ev["src_ip"], ev["user"], ev["host"]) == (
        "wineventlog", "login_failed", "203.0.113.12", "s'a", "sql1")


def test_mongodb_json_and_text_and_couchdb() -> None:
    # CrowdSec hub test cases mongodb-logs and couchdb-logs (MIT, crowdsecurity/hub).
    m = parse_all(case_text("mongodb-logs"))
    assert [(e["action"], e["src_ip"], e["src_port"], e["user"]) for e in m] == [
        ("login_failed", "127.0.0.1", 4071, "root"), ("login_failed", "::1", 1053, "root")]
    old = parse("2019-01-01T00:00:00.000+0000 I ACCESS   [conn1] SASL SCRAM-SHA-1 authentication failed for root on "
                "admin from client 203.0.113.14:5678 ; AuthenticationFailed: SCRAM authentication failed")
    assert (old["action"], old["src_ip"], old["user"]) == ("login_failed", "203.0.113.14", "root")
    c = parse_all(case_text("couchdb-logs"))
    assert {e["action"] for e in c} == {"db_not_found", "login_failed"}
    assert {e["src_ip"] for e in c} == {"1.2.3.4"} and all(e.get("user") is None for e in c)


def test_couchdb_record_with_spaces_in_a_client_column_names_no_address() -> None:
    ev = parse("[notice] 2024-01-20T13:54:06.579985Z nonode@nohost <0.17607.12> e1fed412f8 evil 9.9.9.9 host "
               "203.0.113.5 undefined GET / 401 ok 1")
    assert ev["format"] == "couchdb" and ev.get("src_ip") is None and ev.get("action") is None


VICTIM = "192.0.2.10"
HOSTILE = [f"'@'{VICTIM}' (using password: YES)", f"@{VICTIM}", f"{VICTIM}", f" {VICTIM} ", f"client={VICTIM}",
           f",client={VICTIM}", f"[CLIENT: {VICTIM}]", f"host=\"{VICTIM}\"", "'", '"', " ", ",", "@", ":",
           f" from client {VICTIM}:1 ; ", f"host: '{VICTIM}' (x)", f"{VICTIM}(5432)"]
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=6)), max_size=6).map("".join)

TEMPLATES = [
    "2020-04-16T05:13:40.861934Z 344 [Note] Access denied for user '{u}'@'203.0.113.42' (using password: YES)",
    "2021-11-09  5:13:11 8 [Warning] Access denied for user '{u}'@'203.0.113.42' (using password: NO)",
    "2021-09-28 09:22:18.536 UTC [147] 203.0.113.42 {u}@{d} FATAL:  password authentication failed for user \"{u}\"",
    "2021-09-28 09:22:19.536 UTC:203.0.113.42(5432):{u}@{d}:[127]:FATAL:  password authentication failed for user "
    "\"{u}\"",
    "65.2.129.7 2023-03-12 11:17:28.425 UTC [53962] {u}@{d} FATAL:  password authentication failed for user \"{u}\"",
    "2021-09-28 09:22:21 UTC [150]: [1-1] user={u},db={d},app={d},client=203.0.113.42 FATAL:  password "
    "authentication failed for user \"{u}\"",
    "2022-12-20 12:36:54.17 Logon       Login failed for user '{u}'. Reason: Password did not match that for the "
    "login provided. [CLIENT: 203.0.113.42]",
    "2019-01-01T00:00:00.000+0000 I ACCESS   [conn1] SASL SCRAM-SHA-1 authentication failed for {u} on admin from "
    "client 203.0.113.42:5678 ; UserNotFound: Could not find user \"{u}\" for db \"{d}\"",
    "2023-11-21 19:42:20 134334 [Warning] Aborted connection 134334 to db: '{d}' user: '{u}' host: '203.0.113.42' "
    "(Got an error reading communication packets)",
]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEMPLATES), hostile, hostile)
def test_client_chosen_names_never_name_the_address(template: str, user: str, db: str) -> None:
    line = template.format(u=user, d=db)
    ev = parse(line)
    assert ev.get("src_ip") in (None, "203.0.113.42", "65.2.129.7"), (line, ev)


def test_the_hostile_templates_name_the_client_when_the_names_are_plain() -> None:
    for template in TEMPLATES:
        assert parse(template.format(u="alice", d="app")).get("src_ip") in ("203.0.113.42", "65.2.129.7"), template
