"""``copass-router google ...``: the one-time deploy of an agent identity, from the shell."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="copass-router google",
        description="Vertex AI Agent Engine tools for copass-router.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser(
        "deploy",
        help="deploy an ADK agent carrying the copass_dispatch proxy; prints its resource name",
        description="Deploy once per agent identity; then run it with reasoning_engine_id.",
    )
    deploy.add_argument("display_name", help="the agent identity, e.g. support-agent")
    deploy.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT"))
    deploy.add_argument(
        "--location", default=os.environ.get("GOOGLE_CLOUD_LOCATION", "us-central1")
    )
    prompt = deploy.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--system-prompt", help="the agent's instruction")
    prompt.add_argument("--system-prompt-file", help="read the instruction from this file")
    deploy.add_argument(
        "--router-url",
        default=os.environ.get("COPASS_ROUTER_DISPATCH_URL"),
        help="the router's dispatch endpoint (default: $COPASS_ROUTER_DISPATCH_URL)",
    )
    deploy.add_argument("--model", default=None, help="Gemini model (default gemini-3.1-pro)")
    deploy.add_argument("--staging-bucket", default=None, help="gs://... to deploy pickled")
    deploy.add_argument(
        "--base-url", default=None, help="API base URL (default $COPASS_ROUTER_GOOGLE_BASE_URL)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``copass-router google``; returns the exit status."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.project:
        print("error: --project is required (or set GOOGLE_CLOUD_PROJECT)", file=sys.stderr)
        return 2
    if not args.router_url:
        print(
            "error: --router-url is required (or set COPASS_ROUTER_DISPATCH_URL)", file=sys.stderr
        )
        return 2
    if args.system_prompt_file:
        with open(args.system_prompt_file, encoding="utf-8") as handle:
            system_prompt = handle.read()
    else:
        system_prompt = args.system_prompt
    from .agent_app import DEFAULT_MODEL
    from .deploy import deploy_adk_agent

    try:
        name = deploy_adk_agent(
            args.display_name,
            args.project,
            system_prompt,
            args.router_url,
            location=args.location,
            model=args.model or DEFAULT_MODEL,
            staging_bucket=args.staging_bucket,
            base_url=args.base_url,
        )
    except Exception as exc:  # a CLI reports, it does not dump a traceback
        print(f"error: deploy failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(name)
    return 0
