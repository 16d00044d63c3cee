"""The Batch API's surface, OpenAI's shape: files (upload, read, content, delete) and batches (create, read,
list, cancel). The work is ``slowcheck.mock.batches``'s; this reads requests and writes answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from slowcheck.mock.app.body import read_json
from slowcheck.mock.app.generations import poll_after_ms
from slowcheck.mock.app.parts import Surface
from slowcheck.mock.errors import ApiError, json_answer

__all__ = ["BatchApi"]


class BatchApi(Surface):
    # -- files ------------------------------------------------------------------------------------

    async def upload_file(self, request: Request) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.submissions, "submissions")
        headers |= self.limits.check(self.limits.uploads, tenant, "uploads")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
            raise ApiError(400, "Upload a file as multipart/form-data (fields 'file' and 'purpose').",
                           code="invalid_content_type")  # fmt: skip
        try:
            async with request.form(max_files=1) as form:
                upload, purpose = self.checks.upload_form(form)
                filename = upload.filename or "upload.jsonl"
                stored = await self.batches.upload(tenant, filename, purpose, _chunks(upload))
        except HTTPException as exc:  # Starlette's refusal of a malformed form
            raise ApiError(400, f"The form cannot be read: {exc.detail}", code="invalid_form") from None
        return json_answer(stored.to_json(), headers=headers)

    async def file(self, request: Request) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.polls, "polls")
        stored = self.batches.file(tenant, request.path_params["id"])
        if request.method == "DELETE":
            await self.batches.delete(tenant, stored.id)
            return json_answer({"id": stored.id, "object": "file", "deleted": True}, headers=headers)
        return json_answer(stored.to_json(), headers=headers)

    async def file_content(self, request: Request) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.polls, "polls")
        stored = self.batches.file(tenant, request.path_params["id"])
        return FileResponse(self.batches.path(stored), media_type="application/octet-stream", headers=headers)

    # -- batches ----------------------------------------------------------------------------------

    async def root(self, request: Request) -> Response:
        return await (self.create(request) if request.method == "POST" else self.listing(request))

    async def create(self, request: Request) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.submissions, "submissions")
        self.credit.require_some(tenant)
        body, _ = await read_json(request, self.settings.max_body_bytes)
        batch = await self.batches.create(tenant, self.checks.batch_create(body))
        return json_answer(batch.to_json(), headers=headers)

    async def batch(self, request: Request) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.polls, "polls")
        batch = self.batches.get(tenant, request.path_params["id"])
        hint = self.batches.next_change_in(batch) if self.settings.poll_after_hint else None
        if hint is not None:  # the mock's own hint, as on generations: real APIs send none
            headers["openai-poll-after-ms"] = poll_after_ms(hint)
        return json_answer(batch.to_json(), headers=headers)

    async def cancel(self, request: Request) -> Response:
        # A control call, not new work: limited as reads are, not as submissions.
        tenant, headers = self.admission.admit(request, self.limits.polls, "polls")
        batch = await self.batches.cancel(tenant, request.path_params["id"])
        return json_answer(batch.to_json(), headers=headers)

    async def listing(self, request: Request) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.polls, "polls")
        limit = self.checks.list_limit(request.query_params.get("limit"))
        listing = self.batches.listing(tenant, request.query_params.get("after"), limit)
        return json_answer(listing, headers=headers)


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1024 * 1024):
        yield chunk
