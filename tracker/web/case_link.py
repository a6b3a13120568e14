"""Turn a signed case link into the stored case it names, or a 404/410."""

from __future__ import annotations

from starlette.requests import Request

from tracker.errors import NotFound
from tracker.signing import CaseLink, LinkGone
from tracker.storage.base import CaseHead, StoredCase
from tracker.web.state import state_of


def read_link(request: Request, token: str | None = None) -> CaseLink:
    """The link of the request's path, or the given token."""
    signer = state_of(request).signer
    return signer.read_case_link(request.path_params["token"] if token is None else token)


def check_version(link: CaseLink, found: CaseHead | StoredCase | None) -> None:
    if found is None:
        raise NotFound("No such case link.")
    if link.link_version != found.link_version:
        raise LinkGone(link, "been replaced by a newer link")


async def open_case_link(request: Request, token: str | None = None) -> tuple[StoredCase, CaseLink]:
    store = state_of(request).store
    link = read_link(request, token)
    stored = await store.get_case(link.tenant, link.source, link.case_id)
    check_version(link, stored)
    assert stored is not None
    return stored, link


async def open_case_head(request: Request, token: str | None = None) -> tuple[CaseHead, CaseLink]:
    """The cheap form, for answering 304 (or opening a stream) before any case data is read."""
    store = state_of(request).store
    link = read_link(request, token)
    head = await store.get_case_head(link.tenant, link.source, link.case_id)
    check_version(link, head)
    assert head is not None
    return head, link
