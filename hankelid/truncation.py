# IMPORTANT FOR THE ENGINEER WRITING THIS FILE: read /work/main/HELPERS_README.md NOW (rules: no git
# commits, venv at .venv, only your own files, targeted tests only, STOP by 20:45 UTC). Delete this comment.
"""PLACEHOLDER (being written): balanced truncation."""

from __future__ import annotations


class Reduction:
    pass


def balanced_truncation(sys, order=None, *, tol=None, method="sr", match_dc=False):
    raise NotImplementedError
