"""Operational-technology (ICS) knowledge shared by the parsers and the asset inventory: what each industrial
protocol's function codes mean, and which ports and Zeek services are industrial."""
