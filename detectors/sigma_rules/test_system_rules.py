"""System rules: crashes, OOM killer, panics and never-seen templates. Crash lines are in the shape the Linux
kernel and systemd write them (loghub has none of these), each kept to one line."""

from __future__ import annotations

from detectors.sigma_rules.conftest import run_rules

OOM = ("Jun 14 15:16:01 combo kernel: Out of memory: Killed process 2412 (java) total-vm:8123456kB, "
       "anon-rss:4012345kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9000kB oom_score_adj:0")
SEGV = ("Jun 14 15:16:02 combo kernel: nginx[3121]: segfault at 0 ip 000055d1c2b0a1b4 sp 00007ffd5c6f8a40 "
        "error 4 in nginx[55d1c2a00000+120000]")
PANIC = "Jun 14 15:16:03 combo kernel: Kernel panic - not syncing: Fatal exception in interrupt"
SYSTEMD = "Jun 14 15:16:04 combo systemd[1]: sshd.service: Main process exited, code=dumped, status=11/SEGV"
NORMAL = "Jun 14 15:16:05 combo crond(pam_unix)[2915]: session closed for user root"


def test_each_crash_kind_fires_with_its_severity_on_the_host():
    hits = run_rules([OOM, SEGV, PANIC, SYSTEMD, NORMAL])
    got = {(h.rule_id, h.severity, h.entity) for h in hits if h.rule_id.startswith("sys.")}
    assert got == {
        ("sys.oom_killer", "high", "host=combo"),
        ("sys.segfault", "medium", "host=combo"),
        ("sys.kernel_panic", "critical", "host=combo"),
        ("sys.service_crash", "medium", "host=combo"),
    }


def test_new_template_fires_only_after_warmup_and_once_per_template():
    from detectors.replay import parsed_batches
    from detectors.scorer import Scorer, ScorerConfig
    from detectors.templates import TemplateMiner

    scorer = Scorer(ScorerConfig(novelty_warmup_events=3))
    miner = TemplateMiner()
    warm = [NORMAL.replace("2915", str(3000 + i)) for i in range(5)]
    first = [u for b in parsed_batches(warm, miner=miner) for u in scorer.process(b)]
    assert not [u for u in first if u.rule_id == "sys.new_template"]
    later = [u for b in parsed_batches([OOM, OOM.replace("2412", "2413"), NORMAL], first_id=6, miner=miner)
             for u in scorer.process(b)]
    novel = [u for u in later if u.rule_id == "sys.new_template"]
    assert len(novel) == 1 and novel[0].severity == "low" and novel[0].entity == "host=combo"
