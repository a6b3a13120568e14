"""Turn a signed case link into the stored case it names, or a 404/410."""

from __future__ import annotations

from starlette.requests import Request

from tracker.errors import NotFound
from tracker.signing import CaseLink, LinkGone, Signer
from tracker.storage.base import Store, StoredCase


async def open_case_link(request: Request) -> tuple[StoredCase, CaseLink]:
    signer: Signer = request.app.state.signer
    store: Store = request.app.state.store
    link = signer.read_case_link(request.path_params["token"])
    stored = await store.get_case(link.tenant, link.source, link.case_id)
    if stored is None:
        raise NotFound("No such case link.")
    if link.link_version != stored.link_version:
        raise LinkGone(link, "been replaced by a newer link")
    return stored, link
