"""The provider kit: what a provider author subclasses (AgentBackend, Turn, HttpChatBackend),
the chat loop and the retry policy.

Private: provider authors import from ``copass_router``. May import the vocabulary, tools
and the plugin host; never the run path, server, client, cli or testing.
"""
