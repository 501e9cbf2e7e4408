"""Host tools: credentials, hub emulator, emulated and virtual boards, flash and deploy."""
