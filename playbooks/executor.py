"""Runs an approved plan: argv lists only (shell=False), per-step timeouts, capped and redacted output,
preconditions re-checked right before running, verify steps, rollback, and persisted expiry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from playbooks import expiry_binding
from playbooks.actions import ActionContext
from playbooks.approval import Approval, ApprovalError
from playbooks.audit import AuditLog
from playbooks.db import PlaybookDb
from playbooks.evidence import fetch_dicts
from playbooks.guards import child_env
from playbooks.plan import Plan, RenderedStep
from playbooks.proposals import ProposalOutcome, ProposalValidator, set_status
from playbooks.sanitize import cap_bytes

OutputFn = Callable[[str, str], None]  # (step_id, line)


class ExecutionRefused(Exception):
    """Execution did not start: read-only mode, no valid approval, or a precondition no longer holds."""


@dataclass
class StepResult:
    step_id: str
    action: str
    argv: list[str]
    status: str  # ok | failed | timeout | error | cancelled
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    duration_ms: int


@dataclass
class ExecutionResult:
    execution_id: str
    proposal_id: str | None
    plan_hash: str | None
    kind: str  # run | rollback | expiry
    status: str  # succeeded | failed | rolled_back | rollback_failed | cancelled
    steps: list[StepResult] = field(default_factory=list)
    verify: list[StepResult] = field(default_factory=list)
    rollback: list[StepResult] = field(default_factory=list)
    reason: str = ""
    expiry_due: datetime | None = None

    def audit_data(self) -> dict[str, Any]:
        return {"execution_id": self.execution_id, "kind": self.kind, "status": self.status, "reason": self.reason,
                "steps": [asdict(s) for s in self.steps], "verify": [asdict(s) for s in self.verify],
                "rollback": [asdict(s) for s in self.rollback],
                "expiry_due": self.expiry_due.isoformat() if self.expiry_due else None}


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the step and anything it started (it runs in its own session, so its pgid is its pid)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def run_step(step: RenderedStep, cap: int, on_output: OutputFn | None = None,
             cancel: threading.Event | None = None) -> StepResult:
    """One process, argv only, no shell; output streamed line by line and kept up to `cap` bytes."""
    started = time.monotonic()
    out_buf = bytearray()
    err_buf = bytearray()
    try:
        proc = subprocess.Popen(list(step.argv), shell=False, stdin=subprocess.PIPE if step.stdin else
                                subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=child_env(), start_new_session=True)
    except OSError as exc:
        return StepResult(step.id, step.action, list(step.argv), "error", None, "", f"cannot start: {exc}",
                          False, int((time.monotonic() - started) * 1000))

    def pump(stream: Any, buf: bytearray, label: str) -> None:
        for line in iter(stream.readline, b""):
            if len(buf) < cap + 1:
                buf.extend(line[: cap + 1 - len(buf)])
            if on_output is not None:
                try:
                    on_output(step.id, (label + line.decode("utf-8", "replace")).rstrip("\n"))
                except Exception:
                    pass
        stream.close()

    threads = [threading.Thread(target=pump, args=(proc.stdout, out_buf, ""), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err_buf, "! "), daemon=True)]
    for t in threads:
        t.start()
    if step.stdin:
        try:
            assert proc.stdin is not None
            proc.stdin.write(step.stdin)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
    deadline = started + step.timeout_s
    status = "ok"
    while True:
        try:
            proc.wait(timeout=max(0.001, min(0.05, deadline - time.monotonic())))
            break
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                status = "cancelled"
            elif time.monotonic() >= deadline:
                status = "timeout"
            else:
                continue
            _kill_group(proc)
            break
    for t in threads:
        t.join(timeout=2)
    stdout, t1 = cap_bytes(bytes(out_buf), cap)
    stderr, t2 = cap_bytes(bytes(err_buf), cap)
    code = proc.returncode
    if status == "ok" and code != 0:
        status = "failed"
    return StepResult(step.id, step.action, list(step.argv), status, code if status != "timeout" else None,
                      stdout, stderr, t1 or t2, int((time.monotonic() - started) * 1000))


class Executor:
    def __init__(self, validator: ProposalValidator, db: PlaybookDb, audit: AuditLog) -> None:
        self.validator = validator
        self.config = validator.config
        self.db = db
        self.audit = audit
        self._spent_approvals: set[str] = set()
        self._spent_lock = threading.Lock()

    def _spend_approval(self, approval: Approval) -> str | None:
        """Use an approval up: None the first time, else why not. An approval authorises one attempt (a
        refused one included); running the plan again needs a new decision. Checked in memory, and against
        executions started in the audit log, so a second session on the same store cannot replay it either."""
        with self._spent_lock:
            if approval.approval_id in self._spent_approvals:
                return f"approval {approval.approval_id} was already used; approvals are single-use, approve again"
            cur = self.db.cursor()
            try:
                used = cur.execute("SELECT count(*) FROM audit_log WHERE kind = 'execution_started' AND "
                                   "json_extract_string(record, '$.data.approval_id') = ?",
                                   [approval.approval_id]).fetchone()
            finally:
                cur.close()
            if used and used[0]:
                return f"approval {approval.approval_id} was already used; approvals are single-use, approve again"
            self._spent_approvals.add(approval.approval_id)
            return None

    def recheck(self, outcome: ProposalOutcome, alert_ctx: Any) -> list[str]:
        """Deny-lists and preconditions evaluated now; returns the failures."""
        pb = self.validator.catalog.get(outcome.playbook_id or "")
        if pb is None or outcome.plan is None:
            return ["the playbook is no longer in the catalogue"]
        if pb.version != outcome.plan.playbook_version or pb.file_sha256 != outcome.plan.playbook_sha256:
            return ["the playbook changed since the plan was rendered"]
        ctx = ActionContext(self.config, alert_ctx.alert if alert_ctx else None,
                            alert_ctx.rows(outcome.plan.evidence_ids) if alert_ctx else [], outcome.proposal_id)
        checks = self.validator.check_preconditions(pb, outcome.plan.params, ctx, outcome.source)
        return [f"{c.name}: {c.detail}" for c in checks if not c.ok]

    def run(self, outcome: ProposalOutcome, approval: Approval, alert_ctx: Any = None,
            on_output: OutputFn | None = None, cancel: threading.Event | None = None) -> ExecutionResult:
        """Execute an accepted, approved proposal. Raises ExecutionRefused (after auditing) if it may not run."""
        plan = outcome.plan
        base = {"alert_id": outcome.alert_id, "proposal_id": outcome.proposal_id,
                "playbook_id": outcome.playbook_id, "plan_hash": plan.hash if plan else None}
        actor = str(approval.actor.get("user") or approval.actor.get("id") or "")

        def refuse(reason: str) -> ExecutionRefused:
            self.audit.record("execution_refused", actor_type="system", actor_id="executor",
                              data={"reason": reason, "approval_id": approval.approval_id}, **base)
            return ExecutionRefused(reason)

        if self.config.read_only:
            raise refuse("read-only mode: execution is disabled")
        if not outcome.accepted or plan is None:
            raise refuse("the proposal was not accepted by validation")
        try:
            approval.check(plan)
        except ApprovalError as exc:
            raise refuse(str(exc)) from None
        if spent := self._spend_approval(approval):
            raise refuse(spent)
        failures = self.recheck(outcome, alert_ctx)
        if failures:
            raise refuse("preconditions no longer hold: " + "; ".join(failures))

        result = ExecutionResult(uuid.uuid4().hex[:16], outcome.proposal_id, plan.hash, "run", "succeeded")
        self.audit.record("execution_started", actor_type=approval.actor_type, actor_id=actor,
                          data={"execution_id": result.execution_id, "approval_id": approval.approval_id,
                                "dry_run": plan.dry_run_lines()}, **base)
        self.db.write(lambda con: set_status(con, outcome.proposal_id, "executing"))
        started = datetime.now(UTC)
        must_rollback = False
        for step in plan.steps:
            res = run_step(step, self.config.step_output_cap, on_output, cancel)
            result.steps.append(res)
            if res.status == "ok":
                continue
            if res.status == "cancelled":
                result.status, result.reason = "cancelled", f"cancelled during {step.id}"
                must_rollback = plan.reversible
                break
            if step.on_failure == "continue":
                continue
            result.status, result.reason = "failed", f"step {step.id} {res.status} (exit {res.exit_code})"
            must_rollback = step.on_failure == "rollback"
            break
        if result.status == "succeeded":
            for step in plan.verify:
                res = run_step(step, self.config.step_output_cap, on_output, cancel)
                result.verify.append(res)
                if res.status != "ok":
                    result.status, result.reason = "failed", f"verify {step.id} did not confirm the effect"
                    must_rollback = plan.reversible
                    break
        if must_rollback and plan.rollback:
            result.rollback = [run_step(s, self.config.step_output_cap, on_output) for s in plan.rollback]
            ok = all(r.status == "ok" for r in result.rollback)
            result.status = "rolled_back" if ok else "rollback_failed"
        if result.status == "succeeded" and plan.expiry_s:
            result.expiry_due = datetime.now(UTC) + timedelta(seconds=plan.expiry_s)
        self._finish(result, outcome, plan, approval.actor_type, actor, started)
        return result

    def _finish(self, result: ExecutionResult, outcome: ProposalOutcome | None, plan: Plan,
                actor_type: str, actor: str, started: datetime) -> None:
        audit_data = result.audit_data()
        expiry_id = uuid.uuid4().hex[:16]
        if result.expiry_due is not None:
            # The audit names the expiry and its rollback digest: the scheduler runs only what matches (binding).
            audit_data["expiry"] = expiry_binding.expiry_audit(expiry_id, result.expiry_due, plan.rollback)
        steps_json = json.dumps(audit_data, default=str)

        def write(con: Any) -> None:
            con.execute("INSERT INTO playbook_executions VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [result.execution_id, result.proposal_id, result.plan_hash, result.kind, result.status,
                         started, datetime.now(UTC), actor_type, actor, steps_json])
            if outcome is not None:
                set_status(con, outcome.proposal_id, result.status)
            if result.expiry_due is not None:
                # One pending expiry per (playbook, target): a newer block replaces the older schedule.
                con.execute("UPDATE playbook_expiries SET status = 'superseded', done_at = ? "
                            "WHERE target_key = ? AND status = 'pending'", [datetime.now(UTC), plan.target_key()])
                con.execute("INSERT INTO playbook_expiries (expiry_id, execution_id, proposal_id, playbook_id, "
                            "target_key, due_at, rollback, status, done_at, plan_hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            [expiry_id, result.execution_id, result.proposal_id, plan.playbook_id,
                             plan.target_key(), result.expiry_due,
                             json.dumps([s.to_json() for s in plan.rollback]), "pending", None, plan.hash])
        self.db.write(write)
        kind = {"run": "executed", "rollback": "rolled_back", "expiry": "expired_rollback"}[result.kind]
        self.audit.record(kind, actor_type=actor_type, actor_id=actor, alert_id=plan.alert_id,
                          proposal_id=result.proposal_id, playbook_id=plan.playbook_id, plan_hash=result.plan_hash,
                          data=audit_data)

    def rollback(self, outcome: ProposalOutcome, actor: dict[str, Any], reason: str = "analyst request",
                 on_output: OutputFn | None = None) -> ExecutionResult:
        """Run the plan's rollback steps now (an analyst's undo); cancels any pending expiry for it."""
        plan = outcome.plan
        if plan is None or not plan.rollback:
            raise ExecutionRefused("this plan has no rollback steps")
        if self.config.read_only:
            raise ExecutionRefused("read-only mode: execution is disabled")
        return self._rollback_steps(plan, plan.rollback, outcome.proposal_id, "rollback", "human",
                                    str(actor.get("user") or ""), reason, on_output)

    def _rollback_steps(self, plan: Plan, steps: list[RenderedStep], proposal_id: str | None, kind: str,
                        actor_type: str, actor: str, reason: str, on_output: OutputFn | None,
                        plan_hash: str | None = None) -> ExecutionResult:
        result = ExecutionResult(uuid.uuid4().hex[:16], proposal_id, plan_hash or plan.hash, kind, "succeeded",
                                 reason=reason)
        started = datetime.now(UTC)
        for step in steps:
            res = run_step(step, self.config.step_output_cap, on_output)
            result.rollback.append(res)
        if any(r.status != "ok" for r in result.rollback):
            result.status = "rollback_failed"
        self.db.write(lambda con: con.execute(
            "UPDATE playbook_expiries SET status = 'cancelled', done_at = ? WHERE target_key = ? "
            "AND status = 'pending'", [datetime.now(UTC), plan.target_key()]) if kind == "rollback" else None)
        self._finish(result, None, plan, actor_type, actor, started)
        if proposal_id:
            self.db.write(lambda con: set_status(con, proposal_id, "reverted" if result.status == "succeeded"
                                                 else "rollback_failed"))
        return result


class ExpiryScheduler:
    """Runs persisted rollbacks when they fall due. Pending expiries are restored from the store at start,
    so a block still lifts itself after a restart.

    Each due expiry is handled on its own: one that fails (a damaged row, a store error) is audited as
    `expiry_failed`, counted in `status()`, stays pending and is tried again with back-off, while the others
    behind it still run."""

    BACKOFF_S = (60.0, 300.0, 900.0, 3600.0)  # wait before the 2nd, 3rd, 4th, and every later try

    def __init__(self, executor: Executor, poll_s: float = 1.0) -> None:
        self.executor = executor
        self.db = executor.db
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry: dict[str, tuple[int, datetime]] = {}  # expiry_id -> (failed attempts, not before)
        self.failures = 0
        self.last_error: str | None = None

    def pending(self) -> list[dict[str, Any]]:
        cur = self.db.cursor()
        try:
            return fetch_dicts(cur, "SELECT expiry_id, execution_id, proposal_id, playbook_id, target_key, due_at, "
                                    "rollback, plan_hash FROM playbook_expiries WHERE status = 'pending' "
                                    "ORDER BY due_at")
        finally:
            cur.close()

    def run_due(self, now: datetime | None = None) -> list[ExecutionResult]:
        """Run every expiry due at `now`; returns the results (also audited as system actions)."""
        now = now or datetime.now(UTC)
        done = []
        for item in self.pending():
            if item["due_at"] > now:
                continue
            if self.executor.config.read_only:
                break  # expiries wait until execution is enabled again; they are not lost
            key = str(item.get("expiry_id"))
            attempts, not_before = self._retry.get(key, (0, now))
            if now < not_before:
                continue
            try:
                result = self._run_one(item)
            except Exception as exc:
                self._failed(item, attempts + 1, now, exc)
                continue
            self._retry.pop(key, None)
            if result is not None:
                done.append(result)
        return done

    def _run_one(self, item: dict[str, Any]) -> ExecutionResult | None:
        if self._refused(item):
            return None
        steps = [RenderedStep.from_json(s) for s in json.loads(item["rollback"])]
        stub = Plan(item["playbook_id"], 0, "", "", {}, item["target_key"].split(":", 1)[1].split(","), None,
                    [], [], rollback=steps)
        # The audit links the expiry to the original plan (its hash) and execution.
        result = self.executor._rollback_steps(stub, steps, item["proposal_id"], "expiry", "system", "expiry",
                                               expiry_binding.expiry_reason(item), None,
                                               plan_hash=item.get("plan_hash"))
        status = "done" if result.status == "succeeded" else "failed"
        self._mark(item["expiry_id"], status)
        return result

    def _failed(self, item: dict[str, Any], attempt: int, now: datetime, exc: Exception) -> None:
        delay = self.BACKOFF_S[min(attempt, len(self.BACKOFF_S)) - 1]
        key = str(item.get("expiry_id"))
        self._retry[key] = (attempt, now + timedelta(seconds=delay))
        self.failures += 1
        error = f"{type(exc).__name__}: {exc}"[:500]
        self.last_error = f"expiry {key[:64]} (attempt {attempt}, next try in {delay:.0f} s): {error}"
        try:
            # The row's values may be planted: recorded as capped data, never used to choose what runs.
            self.executor.audit.record("expiry_failed", actor_type="system", actor_id="expiry-scheduler",
                                       data={"expiry_id": key[:64], "execution_id": str(item.get("execution_id"))[:64],
                                             "plan_hash": str(item.get("plan_hash"))[:64], "attempt": attempt,
                                             "retry_in_s": delay, "error": error})
        except Exception as audit_exc:  # the store itself may be what failed: still counted and shown
            self.last_error += f" (not audited: {type(audit_exc).__name__}: {audit_exc})"

    def status(self) -> dict[str, Any]:
        """Expiry failures for the status bar and `vigil doctor`: how many attempts failed, how many expiries
        wait for a retry, and the last error."""
        return {"failures": self.failures, "retrying": len(self._retry), "last_error": self.last_error}

    def _refused(self, item: dict[str, Any]) -> bool:
        """Refuse (audit, mark 'refused') an expiry that no approved plan scheduled; see playbooks.expiry_binding."""
        cur = self.db.cursor()
        try:
            reason = expiry_binding.refusal(cur, item)
        finally:
            cur.close()
        if reason is None:
            return False
        # The row's own values may be planted: recorded as data, capped, never used to pick what runs.
        self.executor.audit.record("expiry_refused", actor_type="system", actor_id="expiry-scheduler",
                                   data={"reason": reason, "expiry_id": str(item.get("expiry_id"))[:64],
                                         "execution_id": str(item.get("execution_id"))[:64],
                                         "plan_hash": str(item.get("plan_hash"))[:64],
                                         "target_key": str(item.get("target_key"))[:200]})
        self._mark(item["expiry_id"], "refused")
        return True

    def _mark(self, expiry_id: str, status: str) -> None:
        def write(con: Any) -> None:
            con.execute("UPDATE playbook_expiries SET status = ?, done_at = ? WHERE expiry_id = ?",
                        [status, datetime.now(UTC), expiry_id])

        self.db.write(write)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="playbook-expiry", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception as exc:  # the pending list itself could not be read: counted, shown, retried
                self.failures += 1
                self.last_error = f"reading pending expiries failed: {type(exc).__name__}: {exc}"[:500]
            self._wake.wait(self.poll_s)
            self._wake.clear()
