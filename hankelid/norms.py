# IMPORTANT FOR THE ENGINEER WRITING THIS FILE: read /work/main/HELPERS_README.md NOW (rules: no git
# commits, venv at .venv, only your own files, targeted tests only, STOP by 20:45 UTC). Delete this comment.
"""PLACEHOLDER (being written): system norms."""

from __future__ import annotations


def h2_norm(sys):
    raise NotImplementedError


def hinf_norm(sys):
    raise NotImplementedError
