"""Kubernetes API server audit records (`{"kind":"Event","apiVersion":"audit.k8s.io/v1",…}`, one JSON object
per line as the log backend writes them).

Actions (category `kubernetes`), taken from the record that completes a request (stage ResponseComplete, or
ResponseStarted for the long-running exec/attach streams; RequestReceived only repeats them):
k8s_pod_exec (a shell or command run in a running container: create on pods/exec or pods/attach that the server
accepted), k8s_privileged_pod (a pod created with a privileged container), k8s_host_pod (a pod created sharing the
node's network, PID or IPC namespace or mounting a hostPath volume), k8s_anonymous_access (a request the server
allowed for system:anonymous / system:unauthenticated, health probes aside), k8s_forbidden (a request the
authorizer refused; fields.service_account when the caller is a service account), login_failed (401:
credentials the API server rejected; category authentication).

Address: `sourceIPs` lists X-Forwarded-For and X-Real-Ip values first (the client's own headers) and the
connection's remote address last, so only the last entry is read.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from store.parsers.services.normalised import iso_time, mark

K8S = "kubernetes"
_HOST_FLAGS = ("hostNetwork", "hostPID", "hostIPC")
# Probes a load balancer or kubelet sends anonymously by design.
_HEALTH = ("/healthz", "/livez", "/readyz")


def _pod_spec(obj: Any) -> dict[str, Any] | None:
    """The pod spec of a Pod or of a workload's pod template."""
    if not isinstance(obj, dict):
        return None
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    tmpl = spec.get("template")
    if isinstance(tmpl, dict) and isinstance(tmpl.get("spec"), dict):
        return tmpl["spec"]
    job = spec.get("jobTemplate")  # CronJob: jobTemplate.spec.template.spec
    if isinstance(job, dict):
        return _pod_spec(job)
    return spec


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in ("containers", "initContainers", "ephemeralContainers"):
        items = spec.get(key)
        if isinstance(items, list):
            out.extend(c for c in items if isinstance(c, dict))
    return out


class KubernetesAuditParser:
    """audit.k8s.io Event records."""

    name = "k8saudit"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text or text[0] != "{" or '"audit.k8s.io/' not in text[:400]:
            return None
        try:
            rec = json.loads(text)
        except ValueError:
            return None
        if not isinstance(rec, dict) or rec.get("kind") != "Event" or \
                not str(rec.get("apiVersion", "")).startswith("audit.k8s.io/"):
            return None
        user: dict[str, Any] = rec["user"] if isinstance(rec.get("user"), dict) else {}
        name = str(user.get("username") or "")[:256] or None
        ips = rec.get("sourceIPs")
        ip = ips[-1] if isinstance(ips, list) and ips and isinstance(ips[-1], str) else None
        obj: dict[str, Any] = rec["objectRef"] if isinstance(rec.get("objectRef"), dict) else {}
        status: dict[str, Any] = rec["responseStatus"] if isinstance(rec.get("responseStatus"), dict) else {}
        code = status.get("code") if isinstance(status.get("code"), int) else None
        verb, resource, sub = str(rec.get("verb", "")), str(obj.get("resource", "")), str(obj.get("subresource", ""))
        stage = rec.get("stage")
        ts = rec.get("stageTimestamp") or rec.get("requestReceivedTimestamp")
        ev: dict[str, Any] = {"format": "k8s-audit", "app": "kube-apiserver", "service": "kubernetes",
                              "ts": iso_time(ts, received_at) if isinstance(ts, str) else None,
                              "message": f"{verb} {rec.get('requestURI', '')}"[:2000]}
        extra: dict[str, Any] = {"verb": verb, "resource": resource or None, "subresource": sub or None,
                                 "namespace": obj.get("namespace"), "object": obj.get("name"), "status": code,
                                 "user_agent": str(rec.get("userAgent") or "")[:300] or None, "stage": stage,
                                 "audit_id": rec.get("auditID")}
        final = stage in ("ResponseComplete", "Panic", None) or (stage == "ResponseStarted" and sub in ("exec",
                                                                                                        "attach"))
        ok = code is not None and code < 400
        action: str | None = None
        category = K8S
        if not final:
            pass
        elif code == 401:
            action, category = "login_failed", "authentication"
        elif code == 403:
            action = "k8s_forbidden"
            if name and name.startswith("system:serviceaccount:"):
                extra["service_account"] = name
        elif ok and resource == "pods" and sub in ("exec", "attach") and verb in ("create", "get"):
            action = "k8s_pod_exec"
        elif ok and verb == "create" and not sub:
            spec = _pod_spec(rec.get("requestObject"))
            if spec is not None:
                if any(isinstance(c.get("securityContext"), dict) and c["securityContext"].get("privileged") is True
                       for c in _containers(spec)):
                    action = "k8s_privileged_pod"
                elif any(spec.get(f) is True for f in _HOST_FLAGS) or any(
                        isinstance(v, dict) and "hostPath" in v for v in spec.get("volumes") or []):
                    action = "k8s_host_pod"
        groups: list[Any] = user["groups"] if isinstance(user.get("groups"), list) else []
        anonymous = name == "system:anonymous" or "system:unauthenticated" in groups
        uri = str(rec.get("requestURI", ""))
        if action is None and final and ok and anonymous and not uri.startswith(_HEALTH) and \
                resource not in ("healthz", "livez", "readyz"):
            action = "k8s_anonymous_access"
        mark(ev, action, category=category, outcome="failure" if code and code >= 400 else None, ip=ip, user=name,
             **extra)
        return ev
