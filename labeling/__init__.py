"""Labeling tools: one transcription convention, enforced wherever transcripts are written or read.

The convention is a versioned YAML spec (:func:`load_spec`); from it come the :class:`Linter`, the
:class:`Canonicaliser`, the scoring :class:`Normalizer` and the annotator guidelines. The Label Studio
operations (project, import, lint, export, webhook) and the agreement report build on them.
This package never imports ``protos``.
"""

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
from labeling._ls_ops import export_manifest, import_clips, init_project, lint_project
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
]
