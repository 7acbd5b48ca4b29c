"""Why an action was refused. The workflow turns a Rejection into a non-retryable ApplicationError
whose type the API maps to an HTTP status: forbidden 403, conflict 409, invalid 422."""

from typing import Literal

RejectionKind = Literal["forbidden", "conflict", "invalid"]


class Rejection(Exception):
    def __init__(self, kind: RejectionKind, message: str) -> None:
        super().__init__(message)
        self.kind: RejectionKind = kind
        self.message = message


def forbidden(message: str) -> Rejection:
    return Rejection("forbidden", message)


def conflict(message: str) -> Rejection:
    return Rejection("conflict", message)


def invalid(message: str) -> Rejection:
    return Rejection("invalid", message)
