"""PLACEHOLDER (being written): system norms."""

from __future__ import annotations


def h2_norm(sys):
    raise NotImplementedError


def hinf_norm(sys):
    raise NotImplementedError
