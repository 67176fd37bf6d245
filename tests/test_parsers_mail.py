"""Mail servers: postfix, postscreen, dovecot, exim, courier, cyrus, amavis, MailScanner, Exchange, Zimbra, nginx
mail proxy, Mailu. Real lines from the CrowdSec hub test cases (MIT, crowdsecurity/hub; case named at each use) and
the shapes these servers write in their documentation; a property test plants addresses in every field the client
chooses."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_lines, case_text, parse, parse_all, parsed_lines

# -------------------------------------------------------------------------------------------- the hub's own parsers


def test_every_address_the_hub_parsers_assert_for_mail_lines_is_found() -> None:
    # CrowdSec hub test cases postfix-logs, dovecot-logs, exim-logs, exchange-*, zimbra-logs, nginx-mail-logs,
    # amavis-logs, mailscanner-logs, mailu-admin-logs, … (MIT, crowdsecurity/hub). mailcow's fail2ban feed lines
    # ("CRIT: Banning …") are another product's verdict and are not read as mail events.
    checked = 0
    for case, line_no, asserted, ev in parsed_lines("mail"):
        if asserted.get("source_ip") is None or case.startswith("mailcow"):
            continue
        checked += 1
        assert ev.get("src_ip") == asserted["source_ip"], (case, line_no, ev)
    assert checked >= 60


def test_postfix_sasl_reject_relay_helo_and_non_smtp_lines() -> None:
    # CrowdSec hub test case postfix-logs (MIT, crowdsecurity/hub).
    evs = parse_all(case_text("postfix-logs"))
    assert [e["action"] for e in evs] == [
        "login_failed", "smtp_blocklisted", "smtp_helo_rejected", "smtp_relay_denied", "smtp_relay_denied",
        "smtp_non_smtp_command", "smtp_non_smtp_command"]
    assert {e["src_ip"] for e in evs} == {"192.168.1.1"}
    assert evs[0]["fields"]["protocol"] == "smtp" and evs[0]["category"] == "authentication"
    assert evs[5]["fields"]["command"] == "GET / HTTP/1.1"


def test_postfix_honeypot_user_names_come_from_sasl_username() -> None:
    # CrowdSec hub test case postfix-honeypot-users (MIT, crowdsecurity/hub).
    evs = parse_all(case_text("postfix-honeypot-users"))
    assert [e["user"] for e in evs][:3] == ["postmaster@example.org", "admin@example.org", "test@example.org"]
    assert all(e["action"] == "login_failed" for e in evs)


def test_postfix_session_shapes() -> None:
    evs = parse_all([
        "Jan 10 10:00:01 mx postfix/smtpd[123]: lost connection after AUTH from unknown[203.0.113.6]",
        "Jan 10 10:00:02 mx postfix/smtpd[123]: disconnect from unknown[203.0.113.6] ehlo=1 auth=0/1 quit=1 "
        "commands=2/3",
        "Jan 10 10:00:03 mx postfix/smtpd[123]: timeout after AUTH from unknown[203.0.113.18]",
        "Jan 10 10:00:04 mx postfix/smtpd[123]: lost connection after DATA (0 bytes) from unknown[203.0.113.24]",
        "Jan 10 10:00:05 mx postfix/smtpd[123]: 4AB12C3D4: client=mail.example.com[203.0.113.14], "
        "sasl_method=PLAIN, sasl_username=alice@example.org",
        "Jan 10 10:00:06 mx postfix/smtpd[123]: warning: unknown[203.0.113.20]: SASL LOGIN authentication failed: "
        "Connection lost to authentication server",
        "Jan 10 10:00:07 mx postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 550 5.1.1 "
        "<bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table; from=<a@b> "
        "to=<bob@example.org> proto=ESMTP helo=<x>",
        "Jan 10 10:00:08 mx postfix/smtpd[123]: warning: unknown[2001:db8::5]: SASL LOGIN authentication failed: "
        "authentication failure",
    ])
    assert [(e["action"], e.get("src_ip")) for e in evs] == [
        ("smtp_lost_after_auth", "203.0.113.6"), ("smtp_auth_disconnect", "203.0.113.6"),
        ("smtp_lost_after_auth", "203.0.113.18"), ("smtp_lost_connection", "203.0.113.24"),
        ("login", "203.0.113.14"), ("smtp_auth_server_error", "203.0.113.20"),
        ("smtp_unknown_recipient", "203.0.113.9"), ("login_failed", "2001:db8::5")]
    assert evs[1]["fields"]["auth_failed"] == 1
    assert evs[4]["user"] == "alice@example.org" and evs[4]["outcome"] == "success"


def test_postscreen_events() -> None:
    # CrowdSec hub test case postscreen-logs (MIT, crowdsecurity/hub) plus postscreen's other verdicts.
    evs = parse_all(case_text("postscreen-logs") + [
        "Jan 10 10:00:06 mx postfix/postscreen[123]: NOQUEUE: reject: RCPT from [203.0.113.10]:40000: 550 5.7.1 "
        "Service unavailable; client [203.0.113.10] blocked using zen.spamhaus.org; from=<a@b>, to=<c@d>, "
        "proto=ESMTP, helo=<x>",
        "Jan 10 10:00:07 mx postfix/postscreen[123]: DNSBL rank 6 for [203.0.113.11]:40000",
        "Jan 10 10:00:09 mx postfix/postscreen[123]: COMMAND PIPELINING from [203.0.113.13]:40000 after EHLO: "
        "QUIT\\r\\n",
    ])
    assert [(e["action"], e["src_ip"], e["src_port"]) for e in evs] == [
        ("smtp_pregreet", "177.154.236.182", 41323), ("smtp_pregreet", "172.16.1.1", 62873),
        ("smtp_blocklisted", "203.0.113.10", 40000), ("smtp_dnsbl", "203.0.113.11", 40000),
        ("smtp_pipelining", "203.0.113.13", 40000)]


def test_dovecot_login_process_and_auth_backend_lines() -> None:
    # CrowdSec hub test case dovecot-logs (MIT, crowdsecurity/hub).
    evs = parse_all(case_text("dovecot-logs"))
    actions = [e.get("action") for e in evs]
    assert actions.count("login_failed") == 13 and actions.count("login") == 1
    unknown = [e for e in evs if (e.get("fields") or {}).get("invalid_user")]
    assert {e["user"] for e in unknown} == {"toto", "contact", "testing@example.com", "karen@co.uk"}
    login = evs[actions.index("login")]
    assert login["user"] == "test@yourdomain.net" and login["fields"]["protocol"] == "pop3"
    # Dovecot 2.4 wording and an IPv6 client.
    ev = parse("Jan 10 10:00:00 mx dovecot: imap-login: Login aborted: Connection closed (auth failed, 3 attempts "
               "in 12 secs) (auth_failed): user=<x@y>, method=PLAIN, rip=2001:db8::9, lip=10.0.0.1, TLS, "
               "session=<abc>")
    assert (ev["action"], ev["src_ip"], ev["user"], ev["fields"]["attempts"]) == (
        "login_failed", "2001:db8::9", "x@y", 3)


def test_exim_authenticator_rejects_and_arrivals() -> None:
    # CrowdSec hub test case exim-logs (MIT, crowdsecurity/hub).
    evs = parse_all(case_text("exim-logs"))
    assert [e["action"] for e in evs] == [
        "login_failed", "login_failed", "login_failed", "smtp_blocklisted", "smtp_unknown_recipient",
        "smtp_ratelimited", "smtp_sender_verify_failed", "smtp_sender_verify_failed", "smtp_auth_required",
        "login_failed", "login_failed", "login_failed"]
    assert [e["user"] for e in evs[:3]] == ["abuse@test.com", "dave", "info@test.com"]
    evs = parse_all([
        "2024-01-10 10:00:00 H=(User) [203.0.113.5]:51234 I=[10.0.0.1]:25 F=<a@b> rejected RCPT <c@d>: relay not "
        "permitted",
        "2024-01-10 10:00:02 SMTP protocol synchronization error (input sent without waiting for greeting): "
        "rejected connection from H=[203.0.113.7]:40000 input=\"GET / HTTP/1.1\"",
        "2024-01-10 10:00:06 1rXxXx-000AbC-1x <= alice@example.org H=(laptop) [203.0.113.11]:50000 P=esmtpsa "
        "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_plain:alice@example.org S=1234 id=abc@x",
        "2024-01-10 10:00:07 1rXxXx-000AbC-1x => bob@remote.example R=dnslookup T=remote_smtp "
        "H=mx.remote.example [198.51.100.1] X=TLS1.3 C=\"250 OK\"",
    ])
    assert [(e["action"], e.get("src_ip")) for e in evs] == [
        ("smtp_relay_denied", "203.0.113.5"), ("smtp_pregreet", "203.0.113.7"), ("login", "203.0.113.11"),
        ("smtp_delivery", None)]  # a delivery's H= is the server we sent to


def test_exchange_protocol_logs() -> None:
    # CrowdSec hub test cases exchange-imap-bf, exchange-pop-bf, exchange-smtp-bf (MIT, crowdsecurity/hub).
    for case, proto in (("exchange-imap-bf", "imap"), ("exchange-pop-bf", "pop3"), ("exchange-smtp-bf", "smtp")):
        evs = parse_all(case_text(case))
        assert {(e["format"], e["action"], e["src_ip"], e["fields"]["protocol"]) for e in evs} == {
            ("exchange", "login_failed", "192.168.9.212", proto)}


def test_zimbra_and_nginx_mail_and_content_filters() -> None:
    # CrowdSec hub test cases zimbra-bf, nginx-mail-bf, amavis-blocked, mailscanner-logs, mailscanner-highscore-spam.
    z = parse_all(case_text("zimbra-bf"))
    assert {(e["action"], e["src_ip"]) for e in z} == {("login_failed", "192.168.7.15")}
    assert sum(bool(e["fields"].get("invalid_user")) for e in z) == 6
    n = parse_all(case_text("nginx-mail-bf"))
    assert [e["user"] for e in n[:2]] == ["linkinpark@example.com", "spanish@example.com"]
    assert n[0]["fields"]["protocol"] == "smtp" and n[0]["service"] == "nginx-mail"
    a = parse(case_lines("amavis-blocked")[0].decode())
    assert (a["action"], a["src_ip"], a["fields"]["content_category"]) == ("mail_malware", "192.168.0.1", "INFECTED")
    ms = parse_all(case_text("mailscanner-highscore-spam"))
    assert [(e["action"], e["fields"]["spam_score"]) for e in ms] == [("mail_spam", 25.5), ("mail_spam", 35.2)]


def test_mailu_limiter_in_its_own_log_and_in_syslog() -> None:
    # CrowdSec hub test case mailu-admin-logs (MIT, crowdsecurity/hub), and the same record through journald.
    own = parse_all(case_text("mailu-admin-logs"))
    assert [e["src_ip"] for e in own][:2] == ["46.148.40.7", "46.148.40.95"]
    assert {e["action"] for e in own} == {"auth_rate_limited"}
    ev = parse("Mar 28 03:09:25 mail mailu-admin[12]: [2023-03-28 03:09:25,112] WARNING in limiter: Authentication "
               "attempt from 46.148.40.7 has been rate-limited.")
    assert (ev["action"], ev["src_ip"]) == ("auth_rate_limited", "46.148.40.7")
    # Another Flask application's record in the same envelope is not claimed.
    other = parse("[2023-03-28 03:09:25,112] WARNING in views: Login from 46.148.40.7 failed")
    assert other.get("action") is None and other.get("src_ip") is None


def test_amavis_never_blames_an_address_read_from_the_message_headers() -> None:
    # No XFORWARD: amavis saw only the MTA on loopback; the second address is its guess from Received headers.
    ev = parse("Jan 10 10:00:00 mx amavis[123]: (12345-01) Blocked INFECTED (Eicar-Signature) "
               "{DiscardedInbound,Quarantined}, LOCAL [127.0.0.1]:40000 [192.0.2.10] <a@b> -> <c@d>, Hits: -, "
               "size: 1, 10 ms")
    assert ev["action"] == "mail_malware" and ev.get("src_ip") is None
    assert ev["fields"]["origin_ip"] == "192.0.2.10"


def test_courier_and_cyrus() -> None:
    evs = parse_all([
        "Jan 10 10:00:00 mx imapd: LOGIN FAILED, user=admin, ip=[::ffff:203.0.113.5]",
        "Jan 10 10:00:01 mx pop3d-ssl: LOGIN FAILED, method=PLAIN, user=x@y, ip=[::ffff:203.0.113.6]",
        "Jan 10 10:00:02 mx courieresmtpd: error,relay=::ffff:203.0.113.7,msg=\"535 Authentication failed.\","
        "cmd: AUTH PLAIN",
        "Jan 10 10:00:03 mx cyrus/imap[123]: badlogin: [203.0.113.8] plaintext admin SASL(-13): authentication "
        "failure: checkpass failed",
    ])
    assert [(e["action"], e["src_ip"], e.get("user")) for e in evs] == [
        ("login_failed", "203.0.113.5", "admin"), ("login_failed", "203.0.113.6", "x@y"),
        ("login_failed", "203.0.113.7", None), ("login_failed", "203.0.113.8", "admin")]


# -------------------------------------------------------------------------------------------- hostile text
VICTIM = "192.0.2.10"
HOSTILE = [f" from {VICTIM} port 22", f"rhost={VICTIM}", f"client=[{VICTIM}]", f"[{VICTIM}]", f" [{VICTIM}]:25",
           f"unknown[{VICTIM}]", f", rip={VICTIM}, lip=10.0.0.1", f"{VICTIM}", '"', "'", ">, ", "<", ")", "(",
           f"({VICTIM})", f" H=[{VICTIM}]:1", f", client: {VICTIM}, server: 0.0.0.0:25", f";oip={VICTIM};",
           f", ip=[{VICTIM}]", f"{VICTIM},", f"Message 1 from {VICTIM} (", "\\", ": ", ", ", "; from=<",
           f"SASL LOGIN authentication failed: x, sasl_username={VICTIM}"]
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=6)), max_size=6).map("".join)
hostname = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=20) | st.just(VICTIM)

TEMPLATES = [
    "May 11 04:02:33 host1 postfix/smtpd[1]: warning: {h}[203.0.113.42]: SASL LOGIN authentication failed: "
    "authentication failure, sasl_username={u}",
    "May 11 04:02:37 host1 postfix/smtpd[1]: NOQUEUE: reject: RCPT from {h}[203.0.113.42]: 454 4.7.1 <{u}>: Relay "
    "access denied; from=<{u}> to=<{u}> proto=ESMTP helo=<{u}>",
    "May 11 04:02:37 host1 postfix/submission/smtpd[1]: warning: non-SMTP command from {h}[203.0.113.42]: {u}",
    "Oct 25 04:24:59 test postfix/postscreen[1]: PREGREET 16 after 2.6 from [203.0.113.42]:41323: {u}",
    "Jan 15 08:00:00 server dovecot: imap-login: Disconnected (auth failed, 1 attempts): user=<{u}>, method=PLAIN, "
    "rip=203.0.113.42, lip=10.0.0.1, TLS, session=<abc001>",
    "Sep 8 07:16:29 canyon dovecot: auth-worker(24058): pam({u},203.0.113.42,<youpi>): pam_authenticate() failed: "
    "Authentication failure (password mismatch?)",
    "2022-06-29 16:04:08 dovecot_login authenticator failed for {h} ({u}) [203.0.113.42]:51451: 535 Incorrect "
    "authentication data (set_id={u})",
    "2022-06-29 15:33:46 H={h} ({u}) [203.0.113.42]:53343 F=<{u}> rejected RCPT <{u}>: relay not permitted",
    "Jan 10 10:00:00 mx imapd: LOGIN FAILED, user={u}, ip=[::ffff:203.0.113.42]",
    "Feb 23 04:55:57 mrelmx42 amavis[1]: (4051607-09) Blocked INFECTED ({u}) {{DiscardedInbound}}, "
    "[203.0.113.42]:1434 [203.0.113.42] <{u}> -> <{u}>, Hits: -, size: 1, 104 ms",
    "Jul 30 08:02:15 efa MailScanner[1]: Message 5ctN6m5yKmz5sU7 from 203.0.113.42 ({u}) to {h} is spam "
    "(blacklisted)",
    "2021-03-03 19:52:08,616 INFO  [qtp1-137:https://test.fr:7071/service/admin/soap/AuthRequest] "
    "[name={u};oip=203.0.113.42;port=52016;ua={u};soapId=9fd8101;] SoapEngine - handler exception: "
    "authentication failed for [{u}], invalid password",
    "2022/04/06 13:44:43 [info] 8#8: *29109 client login failed: \"Authentication credentials invalid\" while in "
    "http auth state, client: 203.0.113.42, server: 0.0.0.0:11143, login: \"{u}\"",
    "2022-07-20T21:28:50.530Z,000000000000000E,2,192.168.9.241:143,203.0.113.42:35070,\"{u}\",168,31,31,"
    "authenticate,PLAIN,\"R=\"\"2 NO AUTHENTICATE failed.\"\";Msg=\"\"AuthFailed:LogonDenied,User: {q}\"\"\",",
]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEMPLATES), hostile, hostname)
def test_client_chosen_text_never_names_the_address(template: str, text: str, host: str) -> None:
    line = template.format(u=text, h=host, q=text.replace('"', '""'))
    ev = parse(line)
    assert ev.get("src_ip") in (None, "203.0.113.42"), (line, ev)


def test_the_hostile_templates_name_the_client_when_the_text_is_plain() -> None:
    # The property above is only meaningful if every template does name its client when nothing is planted.
    for template in TEMPLATES:
        ev = parse(template.format(u="alice", h="mail.example", q="alice"))
        assert ev.get("src_ip") == "203.0.113.42", template
