"""The local integration API: read-only JSON over the engine's store and a live alert stream (server-sent
events), served by uvicorn on its own thread inside the engine process, behind a bearer token."""
