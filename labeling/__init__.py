"""Labeling tools: one transcription convention, enforced wherever transcripts are written or read.

The convention is a versioned YAML spec (:func:`load_spec`); from it come the :class:`Linter`, the
:class:`Canonicaliser`, the scoring :class:`Normalizer` and the annotator guidelines. The Label Studio
operations (project, import, lint, export, webhook) and the agreement report build on them.
This package never imports ``protos``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asr_service._lazy import lazy_getattr

if TYPE_CHECKING:
    from labeling._agreement import AgreementReport, compute_agreement, error_rate
    from labeling._canonical import Canonicaliser
    from labeling._errors import (
        CanonicalisationError,
        InputError,
        LabelingError,
        LabelStudioAuthError,
        LabelStudioError,
        LabelStudioNotFound,
        LabelStudioUnavailable,
        SpecError,
    )
    from labeling._guidelines import guidelines_html, guidelines_markdown
    from labeling._lint import Linter, Violation
    from labeling._ls_client import LabelStudioConfig, LabelStudioSession
    from labeling._ls_ops import export_manifest, import_clips, init_project, lint_project, review_task
    from labeling._ls_tasks import fetch_tasks
    from labeling._ls_users import Annotator, add_annotator
    from labeling._normalize import Normalizer
    from labeling._report import report_html, report_json, report_markdown
    from labeling._spec import ConventionSpec, load_spec, parse_spec
    from labeling._webhook import WebhookConfig, WebhookReceiver, register_webhook

__all__ = [
    "AgreementReport",
    "Annotator",
    "CanonicalisationError",
    "Canonicaliser",
    "ConventionSpec",
    "InputError",
    "LabelStudioAuthError",
    "LabelStudioConfig",
    "LabelStudioError",
    "LabelStudioNotFound",
    "LabelStudioSession",
    "LabelStudioUnavailable",
    "LabelingError",
    "Linter",
    "Normalizer",
    "SpecError",
    "Violation",
    "WebhookConfig",
    "WebhookReceiver",
    "add_annotator",
    "compute_agreement",
    "error_rate",
    "export_manifest",
    "fetch_tasks",
    "guidelines_html",
    "guidelines_markdown",
    "import_clips",
    "init_project",
    "lint_project",
    "load_spec",
    "parse_spec",
    "register_webhook",
    "report_html",
    "report_json",
    "report_markdown",
    "review_task",
]

# Names load on first use, so that importing one module of the package (or `asr --help`) does not
# load them all.
_HOMES = {
    "AgreementReport": "labeling._agreement",
    "compute_agreement": "labeling._agreement",
    "error_rate": "labeling._agreement",
    "Canonicaliser": "labeling._canonical",
    "CanonicalisationError": "labeling._errors",
    "InputError": "labeling._errors",
    "LabelingError": "labeling._errors",
    "LabelStudioAuthError": "labeling._errors",
    "LabelStudioError": "labeling._errors",
    "LabelStudioNotFound": "labeling._errors",
    "LabelStudioUnavailable": "labeling._errors",
    "SpecError": "labeling._errors",
    "guidelines_html": "labeling._guidelines",
    "guidelines_markdown": "labeling._guidelines",
    "Linter": "labeling._lint",
    "Violation": "labeling._lint",
    "LabelStudioConfig": "labeling._ls_client",
    "LabelStudioSession": "labeling._ls_client",
    "export_manifest": "labeling._ls_ops",
    "import_clips": "labeling._ls_ops",
    "init_project": "labeling._ls_ops",
    "lint_project": "labeling._ls_ops",
    "review_task": "labeling._ls_ops",
    "fetch_tasks": "labeling._ls_tasks",
    "Annotator": "labeling._ls_users",
    "add_annotator": "labeling._ls_users",
    "Normalizer": "labeling._normalize",
    "report_html": "labeling._report",
    "report_json": "labeling._report",
    "report_markdown": "labeling._report",
    "ConventionSpec": "labeling._spec",
    "load_spec": "labeling._spec",
    "parse_spec": "labeling._spec",
    "WebhookConfig": "labeling._webhook",
    "WebhookReceiver": "labeling._webhook",
    "register_webhook": "labeling._webhook",
}


__getattr__ = lazy_getattr(__name__, _HOMES)
