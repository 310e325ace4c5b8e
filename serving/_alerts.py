"""Drift alerts: a warning log line per drifted feature and an optional webhook POST."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from raylake.serving._drift import Thresholds
    from raylake.serving._monitor import DriftReport

log = logging.getLogger("raylake.monitoring")

WEBHOOK_TIMEOUT_S = 10.0


def payload(report: DriftReport) -> dict[str, Any]:
    """The JSON a webhook receives: which endpoint, which features, how far, where to look."""
    return {
        "event": "raylake.drift",
        "endpoint": report.endpoint,
        "report_id": report.report_id,
        "ts": report.ts.isoformat(),
        "window": report.window,
        "model_name": report.model_name,
        "model_version": report.model_version,
        "baseline": report.baseline,
        "drifted": [
            {
                "feature": r.feature,
                "kind": r.kind,
                "is_prediction": r.is_prediction,
                "psi": r.psi,
                "ks_stat": r.ks_stat,
                "ks_pvalue": r.ks_pvalue,
            }
            for r in report.features
            if r.drifted
        ],
        "html_path": str(report.html_path) if report.html_path else None,
    }


def alert(report: DriftReport, thresholds: Thresholds, webhook: str | None) -> str | None:
    """Log each drifted feature; POST to ``webhook`` if any drifted.

    Returns None when nothing needed sending or it was delivered, else why delivery failed:
    the report is stored either way, so a dead webhook must not fail it.
    """
    drifted = [r for r in report.features if r.drifted]
    for r in drifted:
        ks = "" if r.ks_pvalue is None else f", KS p-value {r.ks_pvalue:.3g}"
        log.warning(
            "drift on endpoint %s: %s %s PSI %.3f%s (thresholds: PSI >= %s, KS p < %s)",
            report.endpoint,
            "output" if r.is_prediction else "feature",
            r.feature,
            r.psi,
            ks,
            thresholds.psi,
            thresholds.ks_pvalue,
        )
    if not drifted or not webhook:
        return None
    try:
        response = httpx.post(webhook, json=payload(report), timeout=WEBHOOK_TIMEOUT_S)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("drift webhook %s failed: %s", webhook, exc)
        return f"{type(exc).__name__}: {exc}"
    return None
