"""Groups: requests of one kind submitted together, and the records of a group's generations."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

from slowcheck import _json
from slowcheck.mock.app.body import read_json
from slowcheck.mock.app.parts import Surface
from slowcheck.mock.errors import ApiError, excerpt, json_answer
from slowcheck.mock.ids import new_id
from slowcheck.mock.records import Group, Kind

__all__ = ["Groups"]


class Groups(Surface):
    async def submit(self, request: Request, kind: Kind) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.submissions, "submissions")
        body, _ = await read_json(request, self.settings.max_body_bytes)
        requests = self.checks.group(kind, body)
        headers |= self.limits.check(self.limits.generations, tenant, "generations", len(requests))
        group_id = new_id()
        members = [self.engine.new_generation(new_id(), tenant, kind, item) for item in requests]
        for member in members:
            member.group_id = group_id
        self.credit.hold(tenant, members)
        webhook_ids = [m.webhook_id for m in members if m.webhook_id]
        group = Group(
            group_id, tenant, kind, [m.id for m in members], members[0].created, webhook_ids[0] if webhook_ids else None
        )
        await self.engine.submit(members, group=group)
        for item in requests:
            self.engine.stats.submitted(tenant, hashlib.sha256(_json.dumps(item)).hexdigest())
        return json_answer({"groupId": group_id, "groupSize": len(members)}, headers=headers)

    async def generations(self, request: Request) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.polls, "polls")
        group_id = request.path_params["group_id"]
        group = self.engine.group(group_id)
        if group is None or group.tenant != tenant:
            raise ApiError(404, f"No group found with id {excerpt(group_id)}.", param="groupId", code="not_found")
        self.engine.stats.count(tenant, "group_polls")
        found = [self.engine.generation(m) for m in group.member_ids]
        generations = [g.to_json() for g in found if g is not None]
        return json_answer({"generations": generations}, headers=headers)
