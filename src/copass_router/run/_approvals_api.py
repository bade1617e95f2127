"""The approvals part of the Router's API: deciding tool calls that wait for approval."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `from copass_router import Router` stays light
    from copass_router.tools._approvals import ApprovalRequest, Approvals


class ApprovalsAPI:
    """Mixed into :class:`~copass_router.Router`: answer ``ApprovalRequested`` events."""

    approvals: Approvals

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
        """The calls of ``run_id`` waiting for a decision (for a client that reconnects)."""
        return self.approvals.pending(run_id)
