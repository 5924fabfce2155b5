"""The errors of the evaluation tools.

Exception tree::

    AsrError
     └── EvaluationError        bad evaluation input: the CLI reports it and exits with 2
          ├── ManifestError     the manifest file itself cannot be read (a bad *row* is a `RowProblem`)
          ├── SelectionError    a bad date filter or slice key, or an empty selection after filtering
          └── ResultsError      a results.json that is missing, not JSON, or not in the expected schema
"""

from __future__ import annotations

from asr_service.errors import AsrError

__all__ = ["EvaluationError", "ManifestError", "ResultsError", "SelectionError"]


class EvaluationError(AsrError):
    """Bad input to an evaluation, a comparison or a batch run; the message says what and where."""


class ManifestError(EvaluationError):
    """The manifest cannot be read at all (missing, a directory, not UTF-8)."""


class SelectionError(EvaluationError):
    """A bad date window or slice key, or nothing left to evaluate after filtering."""


class ResultsError(EvaluationError):
    """A results.json that cannot be used for a comparison."""
