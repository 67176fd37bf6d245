"""Playbooks: catalogue, LLM chat, proposals, approval, executor and audit. Never imports Textual."""
