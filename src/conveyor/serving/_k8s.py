"""``conveyor serve --print-k8s``: a Deployment, Service and HorizontalPodAutoscaler for a model.

The pods run the same command with the same options on 0.0.0.0; the store comes from a Secret
(``CONVEYOR_DB_URL``, ``CONVEYOR_ARTIFACTS``) because a cluster's pods share PostgreSQL and an
object store, not a local folder. Probes use ``/healthz`` and ``/readyz``; Prometheus finds
``/metrics`` through the usual scrape annotations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from conveyor.registry import parse_ref


def manifests(
    refs: Sequence[str],
    *,
    args: Sequence[str],
    port: int,
    image: str,
    replicas: int = 2,
    max_replicas: int = 10,
    secret: str = "conveyor-store",
) -> str:
    name = _dns_name("-".join(parse_ref(r)[0] for r in refs))
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "conveyor"}
    command = ["conveyor", "serve", *refs, "--host", "0.0.0.0", "--port", str(port), *args]
    probe = {"httpGet": {"port": "http"}, "periodSeconds": 5, "timeoutSeconds": 2}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "terminationGracePeriodSeconds": 40,
                    "containers": [
                        {
                            "name": "server",
                            "image": image,
                            "command": command,
                            "ports": [{"name": "http", "containerPort": port}],
                            "envFrom": [{"secretRef": {"name": secret}}],
                            "livenessProbe": _probe(probe, "/healthz", initial=10),
                            "readinessProbe": _probe(probe, "/readyz", initial=2),
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "512Mi"},
                                "limits": {"memory": "2Gi"},
                            },
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    autoscaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": replicas,
            "maxReplicas": max(max_replicas, replicas),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    return yaml.safe_dump_all([deployment, service, autoscaler], sort_keys=False)


def _probe(base: dict[str, object], path: str, *, initial: int) -> dict[str, object]:
    http = dict(base["httpGet"])  # type: ignore[call-overload]
    return {**base, "httpGet": {**http, "path": path}, "initialDelaySeconds": initial}


def _dns_name(text: str) -> str:
    """A Kubernetes object name: lower case letters, digits and '-', at most 63 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return name or "conveyor-model"
