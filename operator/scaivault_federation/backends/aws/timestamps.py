"""Timestamps of AWS answers read without the local time zone.

botocore turns every timestamp of an answer (a listing page of 100 secrets
carries several each) into a datetime in the local time zone through
dateutil's ``tzlocal``, which costs more CPU than the rest of the parsing. The
JSON protocols send epoch seconds; here those become UTC datetimes (the same
instants) at a fraction of the cost, and anything else goes to botocore's own
parser.
"""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.session
from botocore.utils import parse_timestamp


def utc_timestamp(value: str | float) -> datetime:
    """An answer's timestamp: epoch seconds as UTC, other spellings as botocore reads them."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed: datetime = parse_timestamp(value)
    return parsed


def utc_timestamps(session: botocore.session.Session) -> botocore.session.Session:
    """``session``, its clients' answers parsed with :func:`utc_timestamp`."""
    factory = session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=utc_timestamp)
    return session
