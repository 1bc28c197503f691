"""The guard between a human answer and any destruction: re-read the answer, refuse unless it holds.

A purge runs only when every check passes (``check_answer``), in this order:

1. Airflow does not run with every user as admin (simple auth manager ``all_admins``): then any
   visitor could answer as anyone, so no answer proves a person;
2. a human answered: a response was received from a named user. A timed-out approval has no
   response and the approval task has **no default answer**, so a timeout never approves;
3. the answer is ``Approve`` (a rejection purges nothing);
4. the answerer is one of the configured approvers (``retention.yaml`` ``approvals.approvers``);
5. the answerer is not the requester (four eyes: GB/T 35273-2020 11.x, separation of duties);
6. the plan has not changed since it was put to the approver: its hash now equals the hash in
   the approval request.

Each refusal is a ``PurgeRefused`` with a fixed ``code`` and no value; nothing is destroyed.
Passing writes the ``PurgeApprovalDocument`` that ``execute`` requires (and checks again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from custody.documents import PurgeApprovalDocument, PurgePlanDocument

APPROVE = "Approve"


class PurgeRefused(Exception):
    """A purge is refused; ``code`` names the check that failed (``REFUSALS``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"purge refused ({code}): {message}")
        self.code = code


REFUSALS = {
    "all_admins": "Airflow runs with every user as admin; an answer cannot prove who gave it",
    "no_answer": "no human answered the approval (timed out or not answered)",
    "rejected": "the approver rejected the plan",
    "not_an_approver": "the answer came from a user who is not a configured approver",
    "requester_answered": "the requester answered their own request",
    "plan_changed": "the plan is not the one put to the approver (hash differs)",
    "no_approval": "no approval that passed the guard is recorded for this plan",
}


@dataclass(frozen=True)
class HumanAnswer:
    """What Airflow recorded for the approval task (HITL detail), re-read by the guard.

    ``response_received``: a human responded; ``chosen_options``; ``user_id`` / ``user_name``:
    who responded (Airflow's ``responded_by_user``); ``responded_at`` (ISO time).
    """

    response_received: bool
    chosen_options: tuple[str, ...]
    user_id: str | None
    user_name: str | None
    responded_at: str | None


def _refuse(code: str) -> PurgeRefused:
    return PurgeRefused(code, REFUSALS[code])


def check_answer(plan: PurgePlanDocument, *, requested_hash: str, answer: HumanAnswer | None,
                 approvers: list[str], requester: str, all_admins: bool,
                 now: datetime | None = None) -> PurgeApprovalDocument:
    """Apply the module's checks; return the approval document to record, or raise ``PurgeRefused``.

    ``requested_hash``: the plan hash that was shown in the approval request; ``requester``: the
    user who asked for the purge (the DAG run's triggering user or the plan's requester).
    """
    if all_admins:
        raise _refuse("all_admins")
    if answer is None or not answer.response_received or not answer.user_id:
        raise _refuse("no_answer")
    if list(answer.chosen_options) != [APPROVE]:
        raise _refuse("rejected")
    if answer.user_id not in approvers:
        raise _refuse("not_an_approver")
    if answer.user_id in (requester, plan.requester) or (answer.user_name and answer.user_name in (requester,
                                                                                                    plan.requester)):
        raise _refuse("requester_answered")
    if plan.plan_hash() != requested_hash:
        raise _refuse("plan_changed")
    return PurgeApprovalDocument(
        plan_id=plan.plan_id, plan_sha256=requested_hash, requester=requester, approver=answer.user_id,
        approver_name=answer.user_name or "", approvers=list(approvers), answered_at=answer.responded_at or "",
        checked_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"))


def check_recorded(plan: PurgePlanDocument, approval: PurgeApprovalDocument | None, approvers: list[str]) -> None:
    """Execute's own check of the recorded approval: present, for this plan and hash, by an
    approver other than the requester. Raises ``PurgeRefused``."""
    if approval is None or approval.plan_id != plan.plan_id:
        raise _refuse("no_approval")
    if approval.plan_sha256 != plan.plan_hash():
        raise _refuse("plan_changed")
    if approval.approver not in approvers:
        raise _refuse("not_an_approver")
    if approval.approver in (approval.requester, plan.requester):
        raise _refuse("requester_answered")
