"""The approvals part of the Router's API: deciding tool calls that wait for approval.

In one process a call waits in this router's :class:`Approvals`. With several workers (a shared
coordinator) it waits on the worker running its run, while a decision may land on any of them
(the hosted endpoint behind a load balancer, a client that reconnected elsewhere): a decision
not waiting here is asked of every worker, and the one whose run waits for it settles it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `from copass_router import Router` stays light
    from copass_router.coordination import Coordinator
    from copass_router.tools._approvals import ApprovalDecision, ApprovalRequest, Approvals

#: How long a worker waits for the others' answers about a decision or a listing (seconds):
#: they answer from memory, so this only bounds a worker that died mid-answer.
ASK_WAIT = 5.0


class ApprovalsAPI:
    """Mixed into :class:`~copass_router.Router`: answer ``ApprovalRequested`` events."""

    approvals: Approvals

    @property
    def coordinator(self) -> Coordinator:  # the Router's (OpenedResources comes first)
        raise NotImplementedError

    def approve(self, run_id: str, call_id: str) -> bool:
        """Let a waiting call run. False: no such call waits here (already decided, timed
        out, or its run ended)."""
        from copass_router.tools._approvals import ApprovalDecision

        return self.approvals.decide(run_id, call_id, ApprovalDecision(True))

    def deny(self, run_id: str, call_id: str, reason: str = "") -> bool:
        """Refuse a waiting call: the model gets an error result (with ``reason``) and the
        run goes on. False: no such call waits here."""
        from copass_router.tools._approvals import ApprovalDecision

        return self.approvals.decide(run_id, call_id, ApprovalDecision(False, reason))

    def pending_approvals(self, run_id: str) -> list[ApprovalRequest]:
        """The calls of ``run_id`` waiting for a decision in this process."""
        return self.approvals.pending(run_id)

    async def decide_approval(self, run_id: str, call_id: str, decision: ApprovalDecision) -> bool:
        """Settle a waiting call on whichever worker runs its run (this one, or another
        sharing the coordinator). False: it waits nowhere (decided, timed out, run ended)."""
        if self.approvals.decide(run_id, call_id, decision):
            return True
        if not self.coordinator.shared:
            return False
        question = {
            "kind": "decide",
            "run_id": run_id,
            "call_id": call_id,
            "approved": decision.approved,
            "reason": decision.reason,
        }
        answers = await self.coordinator.ask_approvals(question, ASK_WAIT)
        return any(answer.get("decided") is True for answer in answers)

    async def waiting_approvals(self, run_id: str) -> list[ApprovalRequest]:
        """The calls of ``run_id`` waiting for a decision, on whichever worker runs it."""
        from copass_router.tools._approvals import ApprovalRequest

        here = self.approvals.pending(run_id)
        if here or not self.coordinator.shared:
            return here
        answers = await self.coordinator.ask_approvals(
            {"kind": "pending", "run_id": run_id}, ASK_WAIT
        )
        return [
            ApprovalRequest(**{**item, "arguments": dict(item.get("arguments") or {})})
            for answer in answers
            for item in answer.get("pending", ())
            if isinstance(item, dict)
        ]

    def _answer_approval(self, question: Mapping[str, Any]) -> dict[str, Any]:
        """This worker's answer to a question another worker asked of all (see the module)."""
        import attrs

        from copass_router.tools._approvals import ApprovalDecision

        run_id = str(question.get("run_id"))
        if question.get("kind") == "decide":
            decision = ApprovalDecision(
                question.get("approved") is True, str(question.get("reason") or "")
            )
            return {
                "decided": self.approvals.decide(run_id, str(question.get("call_id")), decision)
            }
        if question.get("kind") == "pending":
            return {"pending": [attrs.asdict(r) for r in self.approvals.pending(run_id)]}
        return {}
